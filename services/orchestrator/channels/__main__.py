"""`python -m services.orchestrator.channels email|webhook`: one channel adapter process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from services.kernel.errors import ConfigError
from services.kernel.logs import configure_logging
from services.kernel.messaging.connection import connect
from services.kernel.messaging.streams import ensure_streams
from services.kernel.store.database import Database
from services.kernel.store.migrate import migrate
from services.orchestrator.channels.config import CHANNELS, ChannelConfig, load_channel_config
from services.orchestrator.channels.email import EmailSender
from services.orchestrator.channels.sender import Sender
from services.orchestrator.channels.webhook import WebhookSender
from services.orchestrator.channels.worker import ChannelWorker, WorkerSettings

log = logging.getLogger(__name__)


def sender_for(config: ChannelConfig) -> Sender:
    if config.channel == "email":
        links = config.unsubscribe_links()
        return EmailSender(config.smtp_url, config.smtp_from, links, timeout=config.smtp_timeout)
    return WebhookSender(config.webhook_url, config.secret())


async def serve(config: ChannelConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    db = Database(config.db_url())
    await db.run(migrate, db.engine, None)  # the kernel's tables: its inbox dedupes commands
    nc = await connect(config.nats_url, f"layercake-channel-{config.channel}")
    js = nc.jetstream()
    await ensure_streams(js)
    settings = WorkerSettings(
        config.channel, max_attempts=config.max_attempts, retry_delay=config.retry_delay
    )
    worker = ChannelWorker(settings, sender_for(config), js, db)
    await worker.subscribe()
    log.info("delivering", extra={"channel": config.channel})
    try:
        await worker.run(stop)
    finally:
        await worker.close()
        await nc.drain()
        await db.close()
    log.info("stopped")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.orchestrator.channels")
    parser.add_argument("channel", choices=CHANNELS)
    args = parser.parse_args()
    try:
        config = load_channel_config(args.channel)
        if config.channel == "webhook":
            config.secret()  # refused before anything starts
        else:
            config.unsubscribe_links()
    except (ConfigError, ValueError) as e:
        print(f"layercake-channel-{args.channel}: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    configure_logging(f"channel-{args.channel}", config.log_level)
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
