"""A small OTLP/HTTP receiver for tests: decodes the official protobuf messages it is sent.

Listens on 127.0.0.1 (a free port); ``/v1/traces`` and ``/v1/logs`` take binary protobuf
(``ExportTraceServiceRequest``, ``ExportLogsServiceRequest``), gzip-compressed or not, and answer
with the matching empty response, as a collector does.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_MESSAGES = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
}


def _attributes(pairs: Any) -> dict[str, Any]:
    return {
        kv.key: getattr(kv.value, kv.value.WhichOneof("value"))
        for kv in pairs
        if kv.value.WhichOneof("value")
    }


class OtlpReceiver:
    """Use as a context manager; ``spans`` and ``logs`` fill as exports arrive."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                messages = _MESSAGES.get(self.path)
                if messages is None:
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = messages[0].FromString(body)
                receiver._take(request)
                answer = messages[1]().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _take(self, request: Any) -> None:
        with self._lock:
            if isinstance(request, ExportTraceServiceRequest):
                for resource_spans in request.resource_spans:
                    resource = _attributes(resource_spans.resource.attributes)
                    for scope in resource_spans.scope_spans:
                        for span in scope.spans:
                            self.spans.append(
                                {
                                    "service": resource.get("service.name"),
                                    "name": span.name,
                                    "trace_id": span.trace_id.hex(),
                                    "parent_span_id": span.parent_span_id.hex(),
                                    "attributes": _attributes(span.attributes),
                                    "duration_s": (span.end_time_unix_nano - span.start_time_unix_nano) / 1e9,
                                }
                            )
            else:
                for resource_logs in request.resource_logs:
                    resource = _attributes(resource_logs.resource.attributes)
                    for scope in resource_logs.scope_logs:
                        for record in scope.log_records:
                            self.logs.append(
                                {
                                    "service": resource.get("service.name"),
                                    "body": record.body.string_value,
                                    "severity": record.severity_text,
                                    "trace_id": record.trace_id.hex(),
                                    "attributes": _attributes(record.attributes),
                                }
                            )

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
