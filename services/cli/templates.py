"""`layercake template ...`: message templates through the gateway's JourneysService."""

from __future__ import annotations

import typer

from services.cli.assets import Kind, register

template_app = typer.Typer(help="Message templates: apply, review, publish.", no_args_is_help=True)
register(template_app, Kind("template"))
