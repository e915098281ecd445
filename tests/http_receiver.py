"""A real local HTTP server receiving webhooks, for the tests of whatever calls one (the
webhook channel adapter, a journey's webhook step): it keeps each POST's headers and body,
and can refuse its first requests so retries are tested against real failures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Endpoint:
    """What the local HTTP server received; answers 503 to the first `refuse` requests."""

    refuse: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    refused: int = 0


@contextmanager
def receiving(refuse: int = 0) -> Iterator[tuple[Endpoint, str]]:
    """A server on a free port of 127.0.0.1, serving in a thread; yields what it received
    and its URL (path `/hook`)."""
    seen = Endpoint(refuse)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if seen.refused < seen.refuse:
                seen.refused += 1
                self.send_response(503)
            else:
                seen.requests.append((dict(self.headers), body))
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
