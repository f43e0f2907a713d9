"""``spm-rules receivers``, ``routes`` and ``silences``: look at and try the alerting setup.

* ``receivers list --ruleset R``: each receiver with its destinations, masked;
* ``receivers test NAME --ruleset R``: send a test message, report each destination;
* ``routes test --ruleset R --labels k=v … [--expect a,b]``: which receivers a
  notification reaches (exit 1 unless exactly the expected ones);
* ``routes show --ruleset R``: the routing tree;
* ``silences add|list|expire --state URL``: silences kept in the state store.

URLs are only ever shown masked, and failures are reported without secrets.
"""

from __future__ import annotations

from typing import Any, Iterator

import click

from ..durations import format_duration, parse_duration
from . import EXIT_INVALID, EXIT_OK, cli
from .common import load_or_report, parse_instant, state_option
from .state_views import local_time, print_view, view_zone, when, zone_label, zone_options


__all__ = ["receivers", "routes", "silences"]

_RULESET = click.option("--ruleset", "ruleset_path", required=True, type=click.Path(dir_okay=False), help="The ruleset YAML file.")
_AT = click.option("--at", "at", default=None, help="Act at this ISO 8601 instant (with offset) instead of now.")


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for value in values:
        for pair in filter(None, (part.strip() for part in value.split(","))):
            name, sep, text = pair.partition("=")
            if not sep or not name.strip():
                raise click.BadParameter(f"{pair!r} is not label=value", param_hint="--labels")
            labels[name.strip()] = text.strip()
    return labels


@cli.group()
def receivers() -> None:
    """Receivers: where notifications go."""


@receivers.command("list")
@_RULESET
def list_receivers(ruleset_path: str) -> int:
    """List the ruleset's receivers with their destinations (URLs masked)."""
    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    for name, spec in ruleset.receivers.items():
        extras = [f"template {spec.template}"] if spec.template else []
        if spec.active is not None:
            extras.append(f"active {spec.active if isinstance(spec.active, str) else 'inline calendar'}")
        if spec.repeat is not None:
            extras.append(f"repeat {format_duration(spec.repeat)}")
        click.echo(name + (f"  ({'; '.join(extras)})" if extras else ""))
        for entry in spec.urls:
            click.echo(f"  {entry.describe()}")
        if spec.hook:
            click.echo(f"  hook {spec.hook}")
    return EXIT_OK


@receivers.command("test")
@click.argument("name")
@_RULESET
@_AT
def test_receiver(name: str, ruleset_path: str, at: str | None) -> int:
    """Send a test message to receiver NAME; report per destination.  Exit 1 unless all got it."""
    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    if name not in ruleset.receivers:
        known = ", ".join(sorted(ruleset.receivers)) or "none"
        click.echo(f"error: unknown receiver {name!r} (declared: {known})", err=True)
        return EXIT_INVALID
    from ..alerting.pipeline import AlertPipeline

    results = AlertPipeline(ruleset).test_receiver(name, parse_instant(at, "--at"))
    for result in results:
        if result.delivered:
            click.echo(f"delivered  {result.target}")
        else:
            click.echo(f"FAILED     {result.target}: {result.detail}")
    return EXIT_OK if results and all(r.delivered for r in results) else EXIT_INVALID


@cli.group()
def routes() -> None:
    """The routing tree."""


@routes.command("test")
@_RULESET
@click.option("--labels", "-l", "label_options", multiple=True, help="label=value (repeatable, or comma-separated).")
@click.option("--receiver", "named", multiple=True, help="A receiver the rule named (repeatable).")
@click.option("--expect", "expected", default=None, help="receiver1,receiver2: exit 1 unless exactly these receivers are reached (in any order).")
@click.argument("pairs", nargs=-1)
def test_routes(ruleset_path: str, label_options: tuple[str, ...], named: tuple[str, ...], expected: str | None, pairs: tuple[str, ...]) -> int:
    """Print the receivers a notification with these labels reaches (label=value pairs may
    also follow the options).  With --expect, compare them with the receivers expected
    (amtool's --verify.receivers): exit 1 and print the difference when they differ."""
    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    from ..alerting.routes import RoutingTree

    wanted = [name.strip() for name in (expected or "").split(",") if name.strip()]
    if expected is not None and not wanted:
        raise click.BadParameter("name at least one receiver: --expect receiver1,receiver2", param_hint="--expect")
    targets = RoutingTree(ruleset.route).targets(_labels(label_options + pairs), named)
    if not targets and not wanted:
        click.echo("no receiver: the ruleset has no route and no receiver was named", err=True)
        return EXIT_INVALID
    for target in targets:
        group_by = ", ".join(target.settings.group_by) or "-"
        click.echo(f"{target.receiver}  (via {target.path}; group_by: {group_by}; max_items: {target.settings.max_items})")
    if expected is None:
        return EXIT_OK
    reached = {target.receiver for target in targets}
    missing, unexpected = [n for n in wanted if n not in reached], [t.receiver for t in targets if t.receiver not in wanted]
    if not missing and not unexpected:
        click.echo(f"ok: the receivers are the ones expected ({', '.join(sorted(reached))})")
        return EXIT_OK
    click.echo(f"FAILED: expected {', '.join(sorted(set(wanted)))}; reached {', '.join(sorted(reached)) or 'none'}")
    for name in missing:
        click.echo(f"  - {name}  (expected, not reached)")
    for name in unexpected:
        click.echo(f"  + {name}  (reached, not expected)")
    return EXIT_INVALID


@routes.command("show")
@_RULESET
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show_routes(ruleset_path: str, fmt: str) -> int:
    """Print the routing tree: each route indented under its parent, with its matchers,
    receiver, group_by, max_items, repeat_interval and continue (settings as inherited)."""
    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    from ..alerting.routes import RoutingTree

    root = RoutingTree(ruleset.route).root
    if root is None:
        click.echo(f"{ruleset.name}: no route: notifications go only to the receivers their rules name", err=True)
        return EXIT_OK
    if fmt == "json":
        import json
        import sys

        json.dump({"ruleset": ruleset.name, "route": _route_json(root)}, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    click.echo(
        f"{ruleset.name} routing tree: a notification goes to the receivers its rule names and those the routes it matches name; "
        "the default receiver gets only what reaches nobody else"
    )
    for line in _route_lines(root, 0):
        click.echo(line)
    return EXIT_OK


def _route_lines(node: Any, depth: int) -> Iterator[str]:
    """A routing tree node and its children as indented lines."""
    from ..alerting.matchers import format_matchers

    settings = node.settings
    parts = [format_matchers(node.matchers) if node.matchers else ("(every notification)" if depth == 0 else "(every notification that reaches it)")]
    parts.append(f"default → {node.receiver}" if depth == 0 else f"→ {node.receiver}" if node.explicit else "→ (no receiver of its own: settings only)")
    parts.append(f"group_by: {', '.join(settings.group_by) or '-'}")
    parts.append(f"max_items: {settings.max_items}")
    if settings.repeat_interval is not None:
        parts.append(f"repeat_interval: {format_duration(settings.repeat_interval)}")
    if node.continue_:
        parts.append("continue")
    yield f"{'  ' * depth}{node.path}  " + "  ".join(parts)
    for child in node.children:
        yield from _route_lines(child, depth + 1)


def _route_json(node: Any) -> dict[str, Any]:
    """A routing tree node as plain data (effective settings, children nested)."""
    settings = node.settings
    return {
        "path": node.path,
        "matchers": [str(matcher) for matcher in node.matchers],
        "receiver": node.receiver,
        "receiver_inherited": not node.explicit and node.path != "route",
        "group_by": list(settings.group_by),
        "max_items": settings.max_items,
        "repeat_interval": format_duration(settings.repeat_interval) if settings.repeat_interval is not None else None,
        "continue": node.continue_,
        "routes": [_route_json(child) for child in node.children],
    }


@cli.group()
def silences() -> None:
    """Silences kept in the state store."""


@silences.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--comment", required=True, help="Why (shown with every notification it mutes).")
@click.option("--duration", default=None, help="How long, from --starts (e.g. 2h).")
@click.option("--ends", default=None, help="When it ends (ISO 8601 with offset).")
@click.option("--starts", default=None, help="When it starts (default: now).")
@click.option("--by", "created_by", default="", help="Who created it.")
@state_option
@_AT
def add_silence(
    matchers: tuple[str, ...], comment: str, duration: str | None, ends: str | None, starts: str | None, created_by: str, state_url: str, at: str | None
) -> int:
    """Mute notifications matching every MATCHER for a while; prints the silence's id.

    MATCHERS are Alertmanager's matcher text: label=value, label!=value, label=~regex,
    label!~regex, each argument one matcher or a list ('a=b, c=~"d|e"' or '{a="b"}')."""
    from ..alerting.matchers import parse_matchers
    from ..alerting.silences import silence_problem
    from ..state.store import Store

    now = parse_instant(at, "--at")
    try:
        parsed = [matcher for text in matchers for matcher in parse_matchers(text)]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="MATCHERS") from None
    problem = silence_problem(parsed)
    if problem is not None:
        raise click.BadParameter(problem, param_hint="MATCHERS")
    begin = parse_instant(starts, "--starts") if starts else now
    if (duration is None) == (ends is None):
        raise click.UsageError("give exactly one of --duration and --ends")
    try:
        end = begin + parse_duration(duration) if duration else parse_instant(ends, "--ends")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from None
    with Store(state_url, now=now) as store:
        silence = store.add_silence([m.to_api() for m in parsed], begin, end, now=now, comment=comment, created_by=created_by)
    click.echo(silence.id)
    return EXIT_OK


@silences.command("list")
@click.option("--all", "include_expired", is_flag=True, help="Include silences that have ended.")
@state_option
@_AT
@zone_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_silences(include_expired: bool, state_url: str, at: str | None, ruleset_path: str | None, zone_name: str | None, fmt: str) -> int:
    """List the stored silences that have not ended (all with --all): whether each is
    active or pending, its span, matchers, comment and author."""
    from ..alerting.matchers import format_matchers
    from ..alerting.silences import silence_from_record
    from ..state.store import Store

    zone = view_zone(zone_name, ruleset_path)
    if zone is None:
        return EXIT_INVALID
    now = parse_instant(at, "--at")
    with Store(state_url, now=now) as store:
        records = store.silences(include_expired=include_expired, now=now)
    listed = []
    for record in records:
        silence = silence_from_record(record)
        state = "active" if silence.active(now) else ("ended" if silence.ends_at <= now else "pending")
        listed.append((silence, state))
    if fmt == "json":
        import json
        import sys

        document = {
            "at": when(now),
            "silences": [
                {
                    "id": silence.id,
                    "state": state,
                    "starts_at": when(silence.starts_at),
                    "ends_at": when(silence.ends_at),
                    "matchers": [str(matcher) for matcher in silence.matchers],
                    "comment": silence.comment,
                    "created_by": silence.created_by or None,
                }
                for silence, state in listed
            ],
        }
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    rows = [
        [silence.id, state, local_time(silence.starts_at, zone), local_time(silence.ends_at, zone), format_matchers(silence.matchers), silence.comment, silence.created_by or "-"]
        for silence, state in listed
    ]
    title = f"{len(rows)} silence{'s' if len(rows) != 1 else ''}" + (" (ended ones included)" if include_expired else "") + f" at {local_time(now, zone)} {zone_label(zone)}"
    print_view(title, ("id", "state", "starts", "ends", "matchers", "comment", "by"), rows, "no silences" + ("" if include_expired else " in force or pending"))
    return EXIT_OK


@silences.command("expire")
@click.argument("silence_id")
@state_option
@_AT
def expire_silence(silence_id: str, state_url: str, at: str | None) -> int:
    """End silence SILENCE_ID now.  Exit 1 if it is unknown or already ended."""
    from ..state.store import Store

    now = parse_instant(at, "--at")
    with Store(state_url, now=now) as store:
        ended = store.expire_silence(silence_id, now)
    if not ended:
        click.echo(f"error: no silence {silence_id!r} in force or pending", err=True)
        return EXIT_INVALID
    click.echo(f"expired {silence_id}")
    return EXIT_OK
