"""A local HTTP server that keeps every webhook it receives as a file (`make run`'s
webhook endpoint, as the SMTP sink is its mail server).

`python -m services.orchestrator.channels.http_sink [--port 8090] [--dir .layercake/webhooks]`
listens on 127.0.0.1, answers 200 to each POST and writes the request as it came (request
line, headers, body bytes) to `<dir>/<key>.http`, the key being its `X-Layercake-Send-Id`
(the webhook adapter's) or `Idempotency-Key` (a journey's webhook step), `<time>-<n>`
without. Like a receiver deduping by that key, it keeps a repeat once and counts every
arrival in `<dir>/received.json` (`tally`); `read_request` reads a file back, so its
signature can be checked with `webhook_signing.verify`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from services.orchestrator.channels.tally import Tally
from services.orchestrator.channels.webhook import SEND_ID

log = logging.getLogger(__name__)
KEYS = (SEND_ID, "Idempotency-Key")  # what names a webhook, the adapter's first


def read_request(path: Path) -> tuple[dict[str, str], bytes]:
    """A kept request's headers and its body, byte for byte as received."""
    head, _, body = path.read_bytes().partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]  # after the request line
    headers = dict(line.split(": ", 1) for line in lines)
    return headers, body


def server(directory: Path, port: int) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:`port` keeping each POST in `directory`."""
    tally = Tally(directory)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            key = next((self.headers[k] for k in KEYS if self.headers.get(k)), "")
            stem, arrivals = tally.arrived(key)
            if arrivals > 1:
                log.warning("repeated webhook kept once: %s", key)
            else:
                head = [self.requestline, *(f"{k}: {v}" for k, v in self.headers.items())]
                content = "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + body
                (directory / f"{stem}.http").write_bytes(content)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass  # one line a request is noise; repeats are logged above

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.orchestrator.channels.http_sink")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--dir", type=Path, default=Path(".layercake/webhooks"))
    args = parser.parse_args()
    http = server(args.dir, args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=http.serve_forever, daemon=True).start()
    print(f"HTTP sink on http://127.0.0.1:{args.port}/, webhooks in {args.dir}/", flush=True)
    try:
        stop.wait()
    finally:
        http.shutdown()
        http.server_close()


if __name__ == "__main__":
    main()
