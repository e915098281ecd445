"""Message templates: Jinja2 in a sandbox, and the variables a template needs, found up front.

A template may read only variables a profile or decision can supply (`ALLOWED_VARIABLES`
per channel); anything else is an error when the template is applied, not a blank at
send time. Which traits it reads unguarded (`unguarded_traits`) is checked against the
tenant's at submit (`services.orchestrator.template_checks`). Rendering uses
StrictUndefined, so a missing value fails loudly. Pure: no I/O.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from typing import Any

from google.protobuf.message import Message
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from layercake.orchestrator.v1 import journey_pb2 as pb
from services.kernel.assets import AssetMetadata
from services.kernel.assets.documents import METADATA_KEYS, load_yaml, metadata_from
from services.kernel.assets.kinds import ASSET_ID
from services.kernel.errors import FieldViolation, InvalidArgument, Violations
from services.kernel.profile_changes import ProfileChange
from services.orchestrator.domain.journeys.validation import CHANNELS

SOURCES = ("subject", "body")
MAX_SOURCE = 64 * 1024
_PROFILE = ("profile.id", "profile.timezone", "profile.traits.*", "profile.computed.*")
_DECISION = ("decision.action", "decision.product", "decision.placement", "decision.attributes.*")
_CONTEXT = ("context.journey", "context.step", "context.channel", "context.unsubscribe_url")
ALLOWED_VARIABLES: Mapping[str, tuple[str, ...]] = {
    channel: (*_PROFILE, *_DECISION, *_CONTEXT) for channel in CHANNELS
}
"""Per channel, the variables a template may read (`*` matches one trait name)."""

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def read_template(text: str) -> tuple[pb.Template, AssetMetadata]:
    """A template's YAML (`template`, `channel`, `subject`, `body`, metadata keys) -> message."""
    document = load_yaml(text, "template")
    bad = Violations()
    allowed = {"template", "channel", *SOURCES, *METADATA_KEYS}
    for key in document:
        if key not in allowed:
            bad.add(str(key), f"unknown field; expected one of {', '.join(sorted(allowed))}")
    values: dict[str, str] = {}
    for key in ("template", "channel", *SOURCES):
        value = document.get(key, "")
        if not isinstance(value, str):
            bad.add(key, "must be a string")
        values[key] = value if isinstance(value, str) else ""
    metadata = metadata_from(document, bad)
    bad.raise_if_any()
    template = pb.Template(
        template_id=values["template"],
        channel=values["channel"],
        subject=values["subject"],
        body=values["body"],
    )
    return with_variables(template), metadata


def with_variables(template: pb.Template) -> pb.Template:
    """The template with `variables` set to what its sources read (as is if they do not parse)."""
    found: set[str] = set()
    for field in SOURCES:
        try:
            found |= variables_of(getattr(template, field))
        except TemplateSyntaxError:
            return template
    out = pb.Template()
    out.CopyFrom(template)
    del out.variables[:]
    out.variables.extend(sorted(found))
    return out


def variables_of(source: str) -> set[str]:
    """Dotted paths the source reads from its context, e.g. `profile.traits.first_name`;
    names bound inside the template (`{% set %}`, loops) are not the caller's to supply."""
    tree = _ENV.parse(source)
    bound = _bound(tree)
    return {p for p in _paths(tree) if p.split(".")[0] not in bound}


def unguarded_traits(source: str) -> set[str]:
    """The traits the source reads where a person without one fails the render, as the
    variables naming them (`profile.traits.<name>`, `profile.computed.<name>`): not under
    `| default(...)`, nor inside `{% if <it> is defined %}` (or the `else` of `is
    undefined`, `is not defined`; likewise an inline `if`, and the right of `and`/`or`).
    A TemplateSyntaxError when the source does not parse."""
    tree = _ENV.parse(source)
    found: set[str] = set()
    _Reads(_bound(tree), found).walk(tree, frozenset())
    return found


def _bound(tree: nodes.Template) -> set[str]:
    return {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}


TRAIT = "profile.traits."  # + a trait's name: the variable a template reads it by
COMPUTED = "profile.computed."  # + a computed trait's name
_DEFAULTS = ("default", "d")


def supplied_traits(change: ProfileChange) -> frozenset[str]:
    """The trait variables identity's change shows a profile of its tenant can supply:
    each trait it set (personal ones too: only their names) and computed trait it changed."""
    return frozenset(TRAIT + n for n in change.trait_names) | {
        COMPUTED + n for n in change.computed
    }


def _trait(node: nodes.Node) -> str:
    """The trait variable a node reads (`profile.traits.x.y` -> `profile.traits.x`, and
    so for `profile.computed`), '' when it reads none."""
    chain = _chain(node) if isinstance(node, nodes.Getattr | nodes.Getitem) else None
    for section in (TRAIT, COMPUTED):
        if chain is not None and chain.startswith(section):
            return section + chain[len(section) :].split(".")[0]
    return ""


def _tested(test: nodes.Node) -> tuple[frozenset[str], frozenset[str]]:
    """The traits a test proves defined when it holds, and when it fails."""
    match test:
        case nodes.Test(name="defined"):
            return frozenset({_trait(test.node)} - {""}), frozenset()
        case nodes.Test(name="undefined"):
            return frozenset(), frozenset({_trait(test.node)} - {""})
        case nodes.Not():
            holds, fails = _tested(test.node)
            return fails, holds
        case nodes.And():
            return _tested(test.left)[0] | _tested(test.right)[0], frozenset()
        case nodes.Or():
            return frozenset(), _tested(test.left)[1] | _tested(test.right)[1]
    return frozenset(), frozenset()


class _Reads:
    """Walks the tree, adding each trait read outside its guards to `found`."""

    def __init__(self, bound: set[str], found: set[str]) -> None:
        self.bound, self.found = bound, found

    def walk(self, node: nodes.Node, guarded: frozenset[str]) -> None:
        match node:
            case nodes.Filter(name=name) if name in _DEFAULTS and node.node is not None:
                self.children(node, guarded, skip=node.node if _trait(node.node) else None)
            case nodes.Test(name="defined" | "undefined") if _trait(node.node):
                self.children(node, guarded, skip=node.node)
            case nodes.If() | nodes.CondExpr():
                holds, fails = _tested(node.test)
                self.walk(node.test, guarded)
                then: list[nodes.Node]
                other: list[nodes.Node | None]
                if isinstance(node, nodes.If):
                    then, other = list(node.body), [*node.elif_, *node.else_]
                else:
                    then, other = [node.expr1], [node.expr2]
                for child in then:
                    self.walk(child, guarded | holds)
                for otherwise in other:
                    if otherwise is not None:
                        self.walk(otherwise, guarded | fails)
            case nodes.And() | nodes.Or():
                holds, fails = _tested(node.left)
                self.walk(node.left, guarded)
                self.walk(node.right, guarded | (holds if isinstance(node, nodes.And) else fails))
            case nodes.Getattr() | nodes.Getitem() if _chain(node) is not None:
                trait, root = _trait(node), str(_chain(node)).split(".")[0]
                if trait and trait not in guarded and root not in self.bound:
                    self.found.add(trait)
            case _:
                self.children(node, guarded)

    def children(self, node: nodes.Node, guarded: frozenset[str], skip: object = None) -> None:
        for child in node.iter_child_nodes():
            if child is not skip:
                self.walk(child, guarded)


def validate_template(asset: str, template: Message) -> list[FieldViolation]:
    """The template kind's validator: id, channel, syntax, and only allowed variables."""
    assert isinstance(template, pb.Template)
    bad = Violations()
    if not ASSET_ID.match(template.template_id):
        bad.add("template", "must be lower-case letters, digits and ._- (at most 100)")
    if template.channel not in CHANNELS:
        bad.add("channel", f"must be one of {', '.join(sorted(CHANNELS))}")
    if not template.body:
        bad.add("body", "is required")
    allowed = ALLOWED_VARIABLES.get(template.channel, ())
    found: set[str] = set()
    for field in SOURCES:
        source = getattr(template, field)
        if len(source) > MAX_SOURCE:
            bad.add(field, f"must be at most {MAX_SOURCE} characters")
            continue
        try:
            used = variables_of(source)
        except TemplateSyntaxError as e:
            bad.add(field, f"{asset} at line {e.lineno}: {e.message}")
            continue
        found |= used
        for variable in sorted(used):
            if allowed and not any(fnmatch.fnmatchcase(variable, p) for p in allowed):
                bad.add(field, f"'{variable}' is not a variable a profile or decision supplies")
    if not bad.items and sorted(found) != list(template.variables):
        bad.add("variables", f"must list what the template reads: {', '.join(sorted(found))}")
    return bad.items


def render(source: str, values: Mapping[str, Any]) -> str:
    """Renders in the sandbox; InvalidArgument naming the variable a value is missing for."""
    try:
        return _ENV.from_string(source).render(values)
    except Exception as e:  # sandbox refusals and StrictUndefined both land here
        raise InvalidArgument.field("template", f"cannot render: {e}") from None


def _paths(node: nodes.Node) -> Iterator[str]:
    """The outermost attribute chains rooted at a loaded name: `profile.traits.first_name`."""
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        chain = _chain(node)
        if chain is not None:
            yield chain
            return
    elif isinstance(node, nodes.Name) and node.ctx == "load":
        yield node.name
        return
    for child in node.iter_child_nodes():
        yield from _paths(child)


def _chain(node: nodes.Node) -> str | None:
    parts: list[str] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
        else:
            return None
        node = node.node
    if not isinstance(node, nodes.Name) or node.ctx != "load":
        return None
    return ".".join([node.name, *reversed(parts)])
