"""The request path in front of the application: a gateway and a threaded WSGI server.

``Gateway`` is the load balancer / reverse proxy: it starts each trace, and answers
``504 Request timeout`` when the upstream has not responded within ``upstream_timeout_s`` (the
application keeps working on the request regardless, as a real upstream does).  ``WsgiServer`` is
the application host's server with a fixed number of worker threads and a FIFO accept queue; each
request runs the real Flask application through its WSGI callable, with an environ built directly
(cheaper than werkzeug's test client, and what a server does).
"""

from __future__ import annotations

import io
import json
import random
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import format_span_id, format_trace_id
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from simulator.app_worker import Master
from simulator.kernel import Kernel
from world.load import Request
from world.telemetry_sink import SeededIds, TelemetrySink

# Responses the gateway produces itself: (span status, error log message).
_REFUSED = "connect() failed (111: Connection refused) while connecting to upstream"
_TIMED_OUT = "upstream timed out (110: Connection timed out) while reading response header from upstream"
_CLOSED = "upstream prematurely closed connection while reading response header from upstream"
_GATEWAY_BODIES = {502: "Bad Gateway", 504: "Request timeout"}
#: How late the gateway's upstream timer fires: a proxy's event loop runs a due timer on its next
#: turn, a fraction of a millisecond to a few milliseconds after the configured timeout.
_TIMER_SLACK_S = (0.0002, 0.004)
#: How long a refused connect() takes: the app host's kernel answers the SYN with a RST within one
#: round trip on the private network.
_REFUSED_CONNECT_S = (0.00015, 0.0009)
_GATEWAY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Share of a request's modelled CPU spent inside the application's server span (its request hooks
#: and the framework's dispatch); the rest (reading the request, the WSGI environ) comes before.
HANDLER_CPU_SHARE = 0.4


def wsgi_environ(request: Request, host_name: str, port: int, traceparent: str | None) -> dict[str, Any]:
    """The WSGI environ a server on ``host_name``:``port`` hands the app for ``request``, built by
    hand (much cheaper than werkzeug's ``EnvironBuilder``); without ``traceparent`` the app starts a
    trace."""
    body = b"" if request.body is None else json.dumps(request.body).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path,
        "QUERY_STRING": request.query,
        "SERVER_NAME": host_name,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": request.client_addr,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json" if body else "",
        "HTTP_HOST": "api.relaymark.io",
        "HTTP_USER_AGENT": request.user_agent,
        "HTTP_X_API_KEY": request.api_key,
        "HTTP_TRACEPARENT": traceparent,
        "HTTP_X_FORWARDED_FOR": request.client_addr,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if traceparent is None:
        del environ["HTTP_TRACEPARENT"]
    return environ


class ConnectionRefused(Exception):
    """The server's accept backlog is full."""


class WsgiServer:
    """One application host: its worker's threads serve the WSGI app in arrival order.

    Connections beyond ``backlog`` waiting ones are refused, as a full listen queue does (the backlog
    and ``port`` are the deployment's, :mod:`world.deployment`).  Each
    request also spends modelled CPU time (``compute``) in the worker: the Python work of routing,
    serialisation and ORM hydration, which takes no virtual time when the real code runs.  Part of
    it comes before the application starts its span, the rest once the app's own request hooks
    have run (a hook the server appends), inside the span and before the view takes a database
    connection.  The worker process itself (its app, threads and memory, and its restarts) is the
    ``master``'s.
    """

    def __init__(
        self,
        kernel: Kernel,
        master: Master,
        host_name: str,
        port: int,
        backlog: int,
        compute: Callable[[], float],
        registry: CollectorRegistry,
    ):
        self.kernel = kernel
        self.master = master
        self.host_name = host_name
        self.port = port
        self.backlog = backlog
        self.compute = compute
        self.completed = 0
        self.busy_seconds = 0.0
        self._handler_cpu: dict[Any, float] = {}  # request task -> its handler's CPU, until spent
        self._wired: weakref.WeakSet[Any] = weakref.WeakSet()  # apps with the hook
        busy = Gauge(
            "webserver_threads_busy",
            "Worker threads busy serving a request.",
            ["host_name"],
            registry=registry,
        )
        capacity = Gauge(
            "webserver_threads_max",
            "Worker threads the server runs with.",
            ["host_name"],
            registry=registry,
        )
        queued = Gauge(
            "webserver_request_queue_length",
            "Requests accepted but waiting for a worker thread.",
            ["host_name"],
            registry=registry,
        )
        busy.labels(host_name).set_function(lambda: master.worker.threads.in_use)
        capacity.labels(host_name).set(master.threads)
        queued.labels(host_name).set_function(lambda: master.backlog)

    def serve(self, request: Request, traceparent: str, reset: Callable[[], None]) -> tuple[int, bytes]:
        """Serve ``request``; ``reset`` is called instead if the worker dies before answering."""
        if self.master.backlog >= self.backlog:
            raise ConnectionRefused()
        worker = self.master.accept(reset)
        worker.threads.acquire()
        try:
            worker.stall()
            cpu = self.compute()
            self.busy_seconds += cpu
            handler_cpu = cpu * HANDLER_CPU_SHARE
            self.kernel.sleep(cpu - handler_cpu)
            answer = self._call_app(worker.app, request, traceparent, handler_cpu)
            self.master.finish(worker)
            return answer
        finally:
            worker.threads.release()
            self.completed += 1

    def _call_app(
        self, app: Any, request: Request, traceparent: str, handler_cpu: float
    ) -> tuple[int, bytes]:
        environ = wsgi_environ(request, self.host_name, self.port, traceparent)
        status_holder: list[str] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status_holder.append(status)
            return lambda data: None

        if app not in self._wired:
            app.before_request_funcs.setdefault(None, []).append(self._spend_handler_cpu)
            self._wired.add(app)
        me = self.kernel.current_greenlet()
        self._handler_cpu[me] = handler_cpu
        try:
            chunks = app(environ, start_response)
            try:
                payload = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        finally:
            unspent = self._handler_cpu.pop(me, 0.0)
        if unspent:
            self.kernel.sleep(unspent)
        return int(status_holder[-1].split(" ", 1)[0]), payload

    def _spend_handler_cpu(self) -> None:
        """The request's CPU inside the application's span (a ``before_request`` hook)."""
        cpu = self._handler_cpu.pop(self.kernel.current_greenlet(), None)
        if cpu:
            self.kernel.sleep(cpu)


class Gateway:
    """Reverse proxy in front of the application hosts; owns each request's root span."""

    def __init__(
        self,
        kernel: Kernel,
        server: WsgiServer,
        sink: TelemetrySink,
        ids: SeededIds,
        registry: CollectorRegistry,
        network: random.Random,
        upstream_timeout_s: float,
    ) -> None:
        """``network`` draws the timings of the proxy's own I/O (timer slack, refused connects)."""
        self.kernel = kernel
        self.server = server
        self.sink = sink
        self.ids = ids
        self.network = network
        self.upstream_timeout_s = upstream_timeout_s
        self._responses = Counter(
            "gateway_responses", "Responses sent to clients by the gateway.", ["code"], registry=registry
        )
        self._duration = Histogram(
            "gateway_request_duration_seconds",
            "Time from receiving a client request to sending the response.",
            buckets=_GATEWAY_BUCKETS,
            registry=registry,
        )

    def handle(self, request: Request) -> None:
        """Runs as one task per client request."""
        kernel = self.kernel
        trace_id = format_trace_id(self.ids.generate_trace_id())
        span_id = format_span_id(self.ids.generate_span_id())
        arrived = kernel.now
        answered: list[int] = []

        def respond(code: int, gateway_error: str | None = None) -> None:
            """Answer the client, once; ``gateway_error`` is the gateway's own error log message
            when it failed (timeout, refused, reset) rather than passing on the application's
            status."""
            if not answered:
                answered.append(code)
                self._answered(request, trace_id, span_id, arrived, code, gateway_error)

        timeout = self.upstream_timeout_s + self.network.uniform(*_TIMER_SLACK_S)
        kernel.call_later(timeout, lambda: respond(504, _TIMED_OUT))
        try:
            status, _ = self.server.serve(
                request, f"00-{trace_id}-{span_id}-01", lambda: respond(502, _CLOSED)
            )
        except ConnectionRefused:
            kernel.sleep(self.network.uniform(*_REFUSED_CONNECT_S))
            respond(502, _REFUSED)
            return
        respond(status)

    def _answered(
        self,
        request: Request,
        trace_id: str,
        span_id: str,
        arrived: float,
        code: int,
        gateway_error: str | None,
    ) -> None:
        """Record an answer: the gateway's metrics, its server span, and its error log line when
        the gateway itself failed."""
        elapsed = self.kernel.now - arrived
        self._responses.labels(str(code)).inc()
        self._duration.observe(elapsed)
        attributes = {
            "http.request.method": request.method,
            "url.path": request.path,
            "http.response.status_code": code,
            "server.address": "api.relaymark.io",
            "upstream.address": f"{self.server.host_name}:{self.server.port}",
        }
        if gateway_error:
            status, message = "error", gateway_error
        else:
            status, message = ("error", None) if code >= 500 else ("unset", None)
        self.sink.add_span(
            trace_id,
            span_id,
            None,
            "gateway",
            f"{request.method} {request.path}",
            "server",
            arrived,
            elapsed,
            status,
            message,
            attributes,
        )
        if gateway_error:
            self.sink.add_log(
                {
                    "service": "gateway",
                    "host": "lb-1",
                    "level": "error",
                    "logger": "proxy",
                    "message": gateway_error,
                    "trace_id": trace_id,
                    "span_id": span_id,
                    "http.request.method": request.method,
                    "url.path": request.path,
                    "upstream.address": attributes["upstream.address"],
                    "http.response.status_code": code,
                    "http.response.body": _GATEWAY_BODIES[code],
                }
            )
