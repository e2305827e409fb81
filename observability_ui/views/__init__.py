"""One blueprint per view; ``BLUEPRINTS`` is what the app registers, in navigation order."""

from observability_ui.views import (
    alerts,
    api_index,
    assets,
    code,
    database,
    jobs,
    logs,
    loki_api,
    metrics_explorer,
    overview,
    prometheus_api,
    traces,
)

BLUEPRINTS = [
    assets.bp,
    overview.bp,
    metrics_explorer.bp,
    logs.bp,
    traces.bp,
    database.bp,
    jobs.bp,
    alerts.bp,
    code.bp,
    api_index.bp,
    prometheus_api.bp,
    loki_api.bp,
]
