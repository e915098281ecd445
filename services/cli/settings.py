"""`layercake settings get|set`: the tenant's frequency caps and quiet hours
(SendSettingsService); what it leaves unset follows the deployment's defaults."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from google.protobuf.duration_pb2 import Duration
from rich.markup import escape
from rich.table import Table

from layercake.gateway.v1 import send_settings_service_pb2 as pb
from layercake.gateway.v1 import send_settings_service_pb2_grpc as pb_grpc
from services.cli.target import (
    Output,
    OutputOption,
    Target,
    err,
    fail,
    new_request_id,
    out,
    print_json,
)
from services.kernel.cap_text import parse_cap_text

settings_app = typer.Typer(
    help="Send settings: frequency caps and quiet hours.", no_args_is_help=True
)
_QUIET = re.compile(r"^(\d\d:\d\d)-(\d\d:\d\d)$")


def _caps(text: str) -> pb.FrequencyCaps:
    """`email=3/1d,*=5/1d` ('' or `none`: no caps)."""
    caps = pb.FrequencyCaps()
    try:
        parsed = parse_cap_text("" if text.strip() == "none" else text)
    except ValueError as e:
        fail(f"{e}: write CHANNEL=LIMIT/WINDOW, e.g. email=3/1d or *=5/1d", 2)
    for channel, limit, window in parsed:
        duration = Duration()
        duration.FromTimedelta(window)
        caps.caps.add(channel=channel, limit=limit, window=duration)
    return caps


def _quiet(text: str, zone: str) -> pb.QuietHours:
    """`21:00-08:00` ('' or `none`: no quiet hours)."""
    if text in ("", "none"):
        return pb.QuietHours(default_time_zone=zone)
    m = _QUIET.match(text)
    if m is None:
        fail(f"{text!r}: write START-END, e.g. 21:00-08:00, or none", 2)
    return pb.QuietHours(start=m[1], end=m[2], default_time_zone=zone)


@settings_app.command("get")
def get_settings(ctx: typer.Context, output: OutputOption = Output.table) -> None:
    """Show the tenant's send settings and what applies (assets:read)."""
    target: Target = ctx.obj
    reply = target.call(
        pb_grpc.SendSettingsServiceStub, lambda s: s.GetSendSettings, pb.GetSendSettingsRequest()
    )
    if output is Output.json:
        print_json(reply)
        return
    table = Table("setting", "tenant's", "applies", title="send settings")
    table.title_justify = "left"
    own, applies = reply.settings, reply.effective
    default = "(default)"
    table.add_row(
        "frequency caps",
        _caps_text(own.frequency_caps) if own.HasField("frequency_caps") else default,
        _caps_text(applies.frequency_caps),
    )
    table.add_row(
        "quiet hours",
        _quiet_text(own.quiet_hours) if own.HasField("quiet_hours") else default,
        _quiet_text(applies.quiet_hours),
    )
    out.print(table)
    if reply.actor:
        err.print(f"changed by {escape(reply.actor)} at {reply.update_time.ToJsonString()}")


@settings_app.command("set")
def set_settings(
    ctx: typer.Context,
    caps: Annotated[
        str | None,
        typer.Option(help="Caps, e.g. 'email=3/1d,*=5/1d'; 'none' for none; unset: default."),
    ] = None,
    quiet_hours: Annotated[
        str | None,
        typer.Option(help="Local hours without sends, e.g. 21:00-08:00; 'none'; unset: default."),
    ] = None,
    default_time_zone: Annotated[
        str, typer.Option(help="Zone of people without one, with --quiet-hours.")
    ] = "",
    reason: Annotated[str, typer.Option(help="Why, kept with the change.")] = "",
) -> None:
    """Replace the tenant's send settings; what is not given follows the deployment's
    defaults (assets:operate)."""
    target: Target = ctx.obj
    settings = pb.SendSettings()
    if caps is not None:
        settings.frequency_caps.CopyFrom(_caps(caps))
    if quiet_hours is not None:
        settings.quiet_hours.CopyFrom(_quiet(quiet_hours, default_time_zone))
    elif default_time_zone:
        fail("--default-time-zone goes with --quiet-hours", 2)
    request = pb.UpdateSendSettingsRequest(
        settings=settings, reason=reason, request_id=new_request_id()
    )
    reply = target.call(pb_grpc.SendSettingsServiceStub, lambda s: s.UpdateSendSettings, request)
    applies = reply.effective
    caps_now, quiet_now = _caps_text(applies.frequency_caps), _quiet_text(applies.quiet_hours)
    err.print(f"caps {caps_now}; quiet hours {quiet_now}", markup=False)


def _caps_text(caps: pb.FrequencyCaps) -> str:
    parts = [f"{c.channel}={c.limit}/{_window(c.window)}" for c in caps.caps]
    return ",".join(parts) or "none"


def _window(window: Duration) -> str:
    seconds = window.seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _quiet_text(quiet: pb.QuietHours) -> str:
    hours = f"{quiet.start}-{quiet.end}" if quiet.start else "none"
    return f"{hours} (default zone {quiet.default_time_zone or 'of the deployment'})"
