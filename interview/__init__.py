"""Running interviews: sessions, the candidate's recorded investigation, hints and submissions."""
