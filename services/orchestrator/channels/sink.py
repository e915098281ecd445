"""A local SMTP server that keeps every mail it receives as a file (`make run`'s inbox).

`python -m services.orchestrator.channels.sink [--port 2525] [--dir .layercake/mail]`
listens on 127.0.0.1 with aiosmtpd and writes each message to `<dir>/<Message-ID>.eml`
(`<time>-<n>.eml` without one), so a fresh machine sees the mails its journeys send
without a real mail server. Like the mail systems that dedupe by Message-ID, it keeps a
repeat of one it holds once: an adapter that timed out after the server had accepted a
mail (and so sent it again, with the same Message-ID, its send id) leaves one mail.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import re
import signal
import threading
import time
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")


class MailDirectory:
    """aiosmtpd handler: one `.eml` file per accepted message, one per Message-ID."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._numbers = itertools.count(1)
        self.repeats = 0  # messages accepted again under a Message-ID already held
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message_id = BytesHeaderParser().parsebytes(content).get("Message-ID", "")
        stem = _UNSAFE.sub("_", message_id.strip().strip("<>"))[:200]
        if not stem:
            stem = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self._numbers):06d}"
        path = self.directory / f"{stem}.eml"
        if path.exists():
            self.repeats += 1
            log.warning("repeated Message-ID kept once: %s", message_id)
        else:
            path.write_bytes(content)
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
