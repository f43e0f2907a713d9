"""``spm-rules receivers``, ``routes`` and ``silences``: look at and try the alerting setup.

* ``receivers list --ruleset R``: each receiver with its destinations, masked;
* ``receivers test NAME --ruleset R``: send a test message, report each destination;
* ``routes test --ruleset R --labels k=v …``: which receivers a notification reaches;
* ``silences add|list|expire --state URL``: silences kept in the state store.

URLs are only ever shown masked, and failures are reported without secrets.
"""

from __future__ import annotations


import click

from ..durations import format_duration, parse_duration
from . import EXIT_INVALID, EXIT_OK, cli
from .common import load_or_report, parse_instant, state_option


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
@click.argument("pairs", nargs=-1)
def test_routes(ruleset_path: str, label_options: tuple[str, ...], named: tuple[str, ...], pairs: tuple[str, ...]) -> int:
    """Print the receivers a notification with these labels reaches (label=value pairs may
    also follow the options)."""
    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    from ..alerting.routes import RoutingTree

    targets = RoutingTree(ruleset.route).targets(_labels(label_options + pairs), named)
    if not targets:
        click.echo("no receiver: the ruleset has no route and no receiver was named", err=True)
        return EXIT_INVALID
    for target in targets:
        group_by = ", ".join(target.settings.group_by) or "-"
        click.echo(f"{target.receiver}  (via {target.path}; group_by: {group_by}; max_items: {target.settings.max_items})")
    return EXIT_OK


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
def list_silences(include_expired: bool, state_url: str, at: str | None) -> int:
    """List the stored silences that have not ended (all with --all)."""
    from ..alerting.matchers import format_matchers
    from ..alerting.silences import silence_from_record
    from ..state.store import Store

    now = parse_instant(at, "--at")
    with Store(state_url, now=now) as store:
        records = store.silences(include_expired=include_expired, now=now)
    for record in records:
        silence = silence_from_record(record)
        state = "active" if silence.active(now) else ("ended" if silence.ends_at <= now else "pending")
        shown = format_matchers(silence.matchers)
        by = f" by {silence.created_by}" if silence.created_by else ""
        click.echo(f"{silence.id}  {state}  {silence.starts_at.isoformat()} → {silence.ends_at.isoformat()}  {shown}  ({silence.comment}{by})")
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
