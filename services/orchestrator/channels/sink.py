"""A local SMTP server that keeps every mail it receives as a file (`make run`'s inbox).

`python -m services.orchestrator.channels.sink [--port 2525] [--dir .layercake/mail]`
listens on 127.0.0.1 with aiosmtpd and writes each message to `<dir>/<time>-<n>.eml`,
so a fresh machine sees the mails its journeys send without a real mail server.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class MailDirectory:
    """aiosmtpd handler: one `.eml` file per accepted message."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._numbers = itertools.count(1)
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self._numbers):06d}.eml"
        (self.directory / name).write_bytes(content)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.orchestrator.channels.sink")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", type=Path, default=Path(".layercake/mail"))
    args = parser.parse_args()
    controller = Controller(MailDirectory(args.dir), hostname="127.0.0.1", port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.start()
    print(f"SMTP sink on 127.0.0.1:{args.port}, mails in {args.dir}/", flush=True)
    try:
        stop.wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
