"""`layercake`: the command-line tool of the gateway's public API; each command group lives
in its own module and is registered here.

Reads `LAYERCAKE_GATEWAY` (default localhost:50051) and `LAYERCAKE_API_KEY`;
every call carries a deadline. Failures print one line with the gRPC status
code and the fields at fault, and the exit code says whether all went well.
"""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.audiences import audience_app
from services.cli.decide import decide
from services.cli.facts import facts_app
from services.cli.ingest import ingest
from services.cli.journeys import journey_app
from services.cli.models import model_app
from services.cli.offers import offer_app
from services.cli.outcomes import outcome
from services.cli.plans import plan_app
from services.cli.principals import key_app, principal_app
from services.cli.profiles import profile_app
from services.cli.settings import settings_app
from services.cli.status import status
from services.cli.target import DEFAULT_GATEWAY, Target
from services.cli.templates import template_app
from services.cli.tenants import tenant_app
from services.cli.up import up

app = typer.Typer(
    help="layercake: ingest events, profiles, audiences, models, offers, decisions and their "
    "outcomes, journeys, principals and keys through the gateway; `up` and `tenant create` "
    "on this machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("ingest")(ingest)
app.add_typer(profile_app, name="profile")
app.add_typer(audience_app, name="audience")
app.add_typer(model_app, name="model")
app.add_typer(offer_app, name="offer")
app.command("decide")(decide)
app.command("outcome")(outcome)
app.add_typer(tenant_app, name="tenant")
app.add_typer(principal_app, name="principal")
app.add_typer(key_app, name="key")
app.add_typer(plan_app, name="plan")
app.add_typer(journey_app, name="journey")
app.add_typer(template_app, name="template")
app.add_typer(facts_app, name="facts")
app.add_typer(settings_app, name="settings")
app.command()(up)
app.command()(status)


@app.callback()
def connection(
    ctx: typer.Context,
    gateway: Annotated[
        str, typer.Option(envvar="LAYERCAKE_GATEWAY", help="Gateway host:port.")
    ] = DEFAULT_GATEWAY,
    api_key: Annotated[
        str, typer.Option(envvar="LAYERCAKE_API_KEY", help="API key.", show_default=False)
    ] = "",
    timeout: Annotated[
        float, typer.Option(envvar="LAYERCAKE_TIMEOUT", min=0.1, help="Deadline of each call (s).")
    ] = 30.0,
) -> None:
    ctx.obj = Target(gateway, api_key, timeout)


def main() -> None:
    app(prog_name="layercake")
