"""gunicorn settings for platform-api: ``gunicorn -c gunicorn.conf.py`` from this folder.

One worker per host, with threads: the worker holds the database pool (``DB_POOL_SIZE``) and runs
the background jobs, so a second worker would double both.  The container's memory limit and the
gateway's upstream timeout are the platform's: ``deploy/compose.yaml`` and ``deploy/gateway.conf``.
"""

wsgi_app = "platform_api.wsgi:app"
bind = "0.0.0.0:8000"
worker_class = "gthread"
workers = 1
threads = 64
# Connections a worker holds open at once; the rest wait in the listen backlog.
worker_connections = 512
backlog = 2048
# On a reload (HUP) the old worker gets this long to finish the requests it accepted; as long as the
# gateway waits for an answer.
graceful_timeout = 30


def post_worker_init(worker):
    """Once a worker has loaded the app, log what it serves with: its threads and database pool,
    the two figures to read pool waits against."""
    import logging

    from platform_api.lib.database.client import db

    logging.getLogger("platform_api").info(
        "service started",
        extra={"db.pool.size": db.engine.pool.size(), "web.threads": worker.cfg.threads},
    )
