"""Engine-neutral models of the world the service runs in: external services, load, Redis and
PostgreSQL figures, releases, the telemetry sink.

Both engines (``simulator``, virtual time; ``live``, real threads) build on these; nothing here
imports either engine.
"""
