"""`layercake profile ...`: one person's profile, traits and their history, timeline, erasure
and unmerge, and the search by trait (the gateway's ProfilesService). Reads take `-o json`;
changes carry a fresh request_id."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from google.protobuf import json_format, struct_pb2

from layercake.gateway.v1 import profiles_service_pb2 as pb
from layercake.gateway.v1 import profiles_service_pb2_grpc as pb_grpc
from services.cli.target import (
    Output,
    OutputOption,
    Target,
    new_request_id,
    out,
    print_json,
    print_table,
)

profile_app = typer.Typer(
    help="Profiles: look up, traits, timeline, search, forget, unmerge.", no_args_is_help=True
)
Ref = Annotated[
    str, typer.Argument(help="<type>:<value> (e.g. email:ann@example.com) or a profile id.")
]
Stub = pb_grpc.ProfilesServiceStub


def value_text(value: struct_pb2.Value) -> str:
    """A JSON value as compact JSON text."""
    return json.dumps(json_format.MessageToDict(value), separators=(",", ":"), sort_keys=True)


def profile_rows(profile: pb.Profile) -> list[tuple[str, str]]:
    rows = [
        ("version", str(profile.version)),
        ("created", profile.create_time.ToJsonString()),
        ("updated", profile.update_time.ToJsonString()),
    ]
    for i in sorted(profile.identifiers, key=lambda i: (i.type, i.value)):
        rows.append((f"id {i.type}", i.value + (" (sha256)" if i.hashed else "")))
    for name in sorted(profile.traits):
        trait = profile.traits[name]
        rows.append(
            (f"trait {name}", f"{value_text(trait.value)}  @ {trait.set_time.ToJsonString()}")
        )
    for name in sorted(profile.computed_traits):
        rows.append((f"computed {name}", value_text(profile.computed_traits[name].value)))
    for purpose in sorted(profile.consent):
        decision = profile.consent[purpose]
        said = "granted" if decision.granted else "denied"
        rows.append(
            (f"consent {purpose}", f"{said} ({decision.source})" if decision.source else said)
        )
    for membership in profile.audiences:
        rows.append(("audience", membership.audience_id))
    for alias in profile.alias_profile_ids:
        rows.append(("merged", alias))
    return rows


@profile_app.command("get")
def get_profile(ctx: typer.Context, ref: Ref, output: OutputOption = Output.table) -> None:
    """Show one profile: identifiers, traits, computed traits, consent, audiences."""
    target: Target = ctx.obj
    reply = target.call(Stub, lambda s: s.GetProfile, pb.GetProfileRequest(profile_ref=ref))
    if output is Output.json:
        print_json(reply)
    else:
        print_table(
            f"profile {reply.profile.profile_id}", ("field", "value"), profile_rows(reply.profile)
        )


@profile_app.command("timeline")
def timeline(
    ctx: typer.Context,
    ref: Ref,
    limit: Annotated[int, typer.Option(min=1, help="Events to show at most.")] = 50,
    output: OutputOption = Output.table,
) -> None:
    """The events that belong to a profile, newest first."""
    target: Target = ctx.obj
    events, last = target.listing(
        Stub,
        lambda s: s.ListProfileEvents,
        pb.ListProfileEventsRequest(profile_ref=ref),
        lambda page: page.events,
        limit,
    )
    if output is Output.json:
        print_json(
            pb.ListProfileEventsResponse(events=events, next_page_token=last.next_page_token)
        )
        return
    print_table(
        f"timeline of {ref}",
        ("time", "type", "event", "message id"),
        ((e.event_time.ToJsonString(), e.type, e.event, e.message_id) for e in events),
    )


@profile_app.command("forget")
def forget(
    ctx: typer.Context,
    ref: Ref,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    output: OutputOption = Output.table,
) -> None:
    """Forget a person (GDPR erasure): their personal data goes everywhere, for good."""
    target: Target = ctx.obj
    if not yes:
        typer.confirm(f"Forget {ref} and every profile merged into it, for good?", abort=True)
    reply = target.call(
        Stub,
        lambda s: s.ForgetProfile,
        pb.ForgetProfileRequest(profile_ref=ref, request_id=new_request_id()),
    )
    if output is Output.json:
        print_json(reply)
        return
    merged = f" (and {', '.join(reply.alias_profile_ids)})" if reply.alias_profile_ids else ""
    out.print(f"forgot profile {reply.profile_id}{merged}", markup=False, highlight=False)


@profile_app.command("unmerge")
def unmerge(
    ctx: typer.Context,
    ref: Ref,
    identifiers: Annotated[
        list[str],
        typer.Option("--identifier", "-i", help="<type>:<value> to split off (repeat)."),
    ],
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    output: OutputOption = Output.table,
) -> None:
    """Split a wrongly merged profile: the identifiers named go to a new profile."""
    target: Target = ctx.obj
    reply = target.call(
        Stub,
        lambda s: s.UnmergeProfile,
        pb.UnmergeProfileRequest(
            request_id=new_request_id(), profile_ref=ref, identifiers=identifiers, reason=reason
        ),
    )
    if output is Output.json:
        print_json(reply)
        return
    out.print(
        f"profile {reply.profile.profile_id} kept the rest;"
        f" new profile {reply.new_profile.profile_id} holds {', '.join(identifiers)}",
        markup=False,
        highlight=False,
    )


@profile_app.command("traits")
def traits(
    ctx: typer.Context,
    ref: Ref,
    history: Annotated[
        bool, typer.Option("--history", help="Every value each trait took, newest first.")
    ] = False,
    trait: Annotated[str, typer.Option("--trait", "-t", help="Only this trait.")] = "",
    limit: Annotated[int, typer.Option(min=1, help="Changes to show at most (--history).")] = 100,
    output: OutputOption = Output.table,
) -> None:
    """A profile's traits now, or with --history each value they took and what set it."""
    target: Target = ctx.obj
    if not history:
        reply = target.call(Stub, lambda s: s.GetProfile, pb.GetProfileRequest(profile_ref=ref))
        now = {
            name: value
            for name, value in reply.profile.traits.items()
            if not trait or name == trait
        }
        if output is Output.json:
            print_json(pb.Profile(profile_id=reply.profile.profile_id, traits=now))
            return
        print_table(
            f"traits of {reply.profile.profile_id}",
            ("trait", "value", "set at"),
            ((n, value_text(now[n].value), now[n].set_time.ToJsonString()) for n in sorted(now)),
        )
        return
    changes, last = target.listing(
        Stub,
        lambda s: s.ListTraitHistory,
        pb.ListTraitHistoryRequest(profile_ref=ref, trait=trait),
        lambda page: page.changes,
        limit,
    )
    if output is Output.json:
        print_json(
            pb.ListTraitHistoryResponse(changes=changes, next_page_token=last.next_page_token)
        )
        return
    print_table(
        f"trait history of {ref}" + (f" ({trait})" if trait else ""),
        ("set at", "trait", "value", "message id"),
        ((c.set_time.ToJsonString(), c.trait, value_text(c.value), c.message_id) for c in changes),
    )


def _search_value(text: str) -> struct_pb2.Value:
    """A search value as JSON (`42`, `true`, `"42"`), or the text itself as a string."""
    try:
        document: Any = json.loads(text)
    except ValueError:
        document = text
    return json_format.ParseDict(document, struct_pb2.Value())


@profile_app.command("search")
def search(
    ctx: typer.Context,
    trait: Annotated[str, typer.Argument(help="The trait to match, e.g. plan.")],
    value: Annotated[
        str,
        typer.Argument(help='The value it must equal: JSON (42, true, "42") or plain text.'),
    ],
    limit: Annotated[int, typer.Option(min=1, help="Profiles to show at most.")] = 100,
    output: OutputOption = Output.table,
) -> None:
    """The live profiles whose trait equals a value."""
    target: Target = ctx.obj
    wanted = _search_value(value)
    found, last = target.listing(
        Stub,
        lambda s: s.SearchProfiles,
        pb.SearchProfilesRequest(trait=trait, value=wanted),
        lambda page: page.profiles,
        limit,
    )
    if output is Output.json:
        print_json(pb.SearchProfilesResponse(profiles=found, next_page_token=last.next_page_token))
        return
    more = " (more: raise --limit)" if last.next_page_token else ""
    print_table(
        f"profiles with {trait} = {value_text(wanted)}: {len(found)}{more}",
        ("profile", "identifiers", "updated"),
        (
            (
                p.profile_id,
                " ".join(
                    f"{i.type} (hashed)" if i.hashed else f"{i.type}:{i.value}"
                    for i in p.identifiers
                ),
                p.update_time.ToJsonString(),
            )
            for p in found
        ),
    )
