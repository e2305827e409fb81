"""Business logic, one package per domain; the API routes and the scheduled jobs call into these."""
