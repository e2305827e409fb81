"""Production entry point: ``gunicorn -c gunicorn.conf.py`` (``wsgi_app`` there names this module's ``app``).

Sets up the process (logging, database schema, background jobs) and exposes the WSGI ``app``.
"""

from __future__ import annotations

from platform_api.api.app import create_app
from platform_api.lib.config import load_settings
from platform_api.lib.database.client import db
from platform_api.lib.database.migrations import migrate
from platform_api.lib.logging import configure_logging
from platform_api.services.job_scheduler import create_scheduler

settings = load_settings()
configure_logging(settings)
db.configure(settings)
migrate(db.engine)
app = create_app(settings)

if settings.scheduler_enabled:
    scheduler = create_scheduler(settings)
    scheduler.start()
