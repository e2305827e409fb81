"""Live mode: the application under test as real processes on 127.0.0.1 (``obsim live``).

The engine on real threads, PostgreSQL and Redis; it never imports the virtual-time engine
(``simulator``).  ``obsim_cli.live_supervisor`` starts and stops its processes; ``server`` is the
application process (WSGI server, connection pool, scheduler), ``fake_services`` the external
services, ``load_driver`` the clients.
``docs/LIVE.md`` describes what runs and how the scenario's timeline is scaled.
"""

#: The Redis database index live mode claims when the service uses Redis (``--redis-url``); here,
#: not in ``redis_instance``, so that the command line names it without importing redis-py.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
