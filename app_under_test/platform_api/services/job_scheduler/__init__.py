"""Background jobs and the scheduler that runs them inside the API process."""

from platform_api.services.job_scheduler.scheduler import create_scheduler, scheduler_options

__all__ = ["create_scheduler", "scheduler_options"]
