"""The scheduled job functions; each is wrapped by :func:`runtime.scheduled_job`."""
