"""The candidate's observability platform and the interviewer's console (Flask, server-rendered)."""
