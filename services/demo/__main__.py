"""`make demo`: the seed's story against a running platform (`make run`), told step by step.

Reads where the gateway is from LAYERCAKE_GATEWAY (localhost:50051) and
LAYERCAKE_GATEWAY_HTTP (http://127.0.0.1:8088), the admin key from LAYERCAKE_API_KEY or
`.layercake/demo.env`; when no gateway answers, it starts the platform as `make run`
does (in `.layercake/`), tells the story, and stops it again.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from services.demo.gateway import Crew, Gateway
from services.demo.story import SeedStory, StoryError
from services.gateway.admin import read_env_file
from services.local.stack import LocalStack

console = Console()


async def tell(gateway: Gateway, state_dir: Path) -> bool:
    story = SeedStory(gateway, state_dir)
    console.rule(f"[bold]the seed's story[/bold] — a new person, tag {story.person.tag}")
    for number, step in enumerate(story.steps(), 1):
        with console.status(f"step {number}…"):
            try:
                told = await step()
            except StoryError as e:
                console.print(f"[red]step {number} failed:[/red] {escape(str(e))}")
                return False
        console.print(f"[bold cyan]{number}. {escape(told.title)}[/bold cyan]")
        for line in told.lines:
            console.print(f"   {escape(line)}")
    console.rule("[green]the story held, end to end[/green]")
    return True


def main() -> None:
    state_dir = Path(os.environ.get("LAYERCAKE_STATE_DIR", ".layercake")).resolve()
    stack = LocalStack(state_dir, channels=True)
    started = False
    if not stack.is_serving("gateway"):
        try:
            with console.status("no platform answers: starting it as `make run` does…"):
                stack.start()
        except (Exception, KeyboardInterrupt) as e:  # stop what did start, say why in one line
            console.print(f"[red]start failed:[/red] {escape(str(e) or type(e).__name__)}")
            stack.stop()
            sys.exit(1)
        started = True
    key = os.environ.get("LAYERCAKE_API_KEY") or read_env_file(stack.demo_env_file).get(
        "LAYERCAKE_API_KEY", ""
    )
    addr = os.environ.get("LAYERCAKE_GATEWAY", stack.addr("gateway"))
    door = os.environ.get("LAYERCAKE_GATEWAY_HTTP", f"http://127.0.0.1:{stack.ports.http}")

    async def run() -> bool:
        async with Gateway(addr, door, Crew(key)) as gateway:
            return await tell(gateway, state_dir)

    try:
        held = asyncio.run(run())
    finally:
        if started:
            with console.status("stopping the platform the demo started…"):
                stack.stop()
    sys.exit(0 if held else 1)


if __name__ == "__main__":
    main()
