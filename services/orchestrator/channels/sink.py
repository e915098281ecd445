"""A local SMTP server that keeps every mail it receives as a file (`make run`'s inbox).

`python -m services.orchestrator.channels.sink [--port 2525] [--dir .layercake/mail]`
listens on 127.0.0.1 with aiosmtpd and writes each message to `<dir>/<Message-ID>.eml`
(`<time>-<n>.eml` without one), so a fresh machine sees the mails its journeys send
without a real mail server. Like the mail systems that dedupe by Message-ID, it keeps a
repeat of one it holds once: an adapter that timed out after the server had accepted a
mail (and so sent it again, with the same Message-ID, its send id) leaves one mail, and
counts every arrival per Message-ID in `<dir>/received.json` (`tally`).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from services.orchestrator.channels.tally import Tally

log = logging.getLogger(__name__)


class MailDirectory:
    """aiosmtpd handler: one `.eml` file per Message-ID, every arrival counted."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.tally = Tally(directory)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message_id = BytesHeaderParser().parsebytes(content).get("Message-ID", "")
        stem, arrivals = self.tally.arrived(message_id)
        if arrivals > 1:
            log.warning("repeated Message-ID kept once: %s", message_id)
        else:
            (self.directory / f"{stem}.eml").write_bytes(content)
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
