"""``spm-rules validate`` and ``spm-rules evaluate``: check rulesets, evaluate tickets once."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from ..errors import RulesetError
from . import EXIT_INVALID, EXIT_OK, EXIT_PARTIAL, cli
from .common import JsonStream, build_engine, encoding_option, load_or_report, matcher_option, open_tickets, parse_instant, query_option, tickets_option

if TYPE_CHECKING:
    from ..engine import RouteConflict

__all__ = ["validate", "evaluate", "schema"]


@cli.command()
@click.argument("rulesets", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too (rules that never fire, values no policy or tier knows, shadowed routes, unused receivers, …: docs/validation.md).")
def validate(rulesets: tuple[str, ...], strict: bool) -> int:
    """Check RULESETS (YAML files); print each problem, then each warning, with file, line, key
    and a hint.  Exit 1 if any is invalid (or, with --strict, has warnings)."""
    from ..ruleset.lint import lint_ruleset
    from ..ruleset.loader import load_ruleset

    failed = 0
    for path in rulesets:
        try:
            ruleset = load_ruleset(path)
        except RulesetError as exc:
            failed += 1
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            continue
        warnings = lint_ruleset(ruleset)
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        failed += bool(strict and warnings)
        counts = f"{len(ruleset.policies)} policies, {len(ruleset.rules)} rules, {len(ruleset.receivers)} receivers"
        click.echo(f"{path}: ok ({counts}" + (f"; {len(warnings)} warnings)" if warnings else ")"))
    return EXIT_INVALID if failed else EXIT_OK


@cli.command()
@click.option("--ruleset", "ruleset_path", required=True, type=click.Path(dir_okay=False), help="The ruleset YAML file.")
@tickets_option()
@query_option
@click.option("--at", "at", default=None, help="Evaluate at this ISO 8601 instant instead of now.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@matcher_option
@encoding_option
def evaluate(ruleset_path: str, tickets_path: str, query: str | None, at: str | None, fmt: str, matcher: str, encoding: str) -> int:
    """Evaluate tickets once: SLA status and decisions per ticket.  Exit 3 if some tickets were
    rejected, or read with a warning (a tier, stage or pause the ruleset cannot measure)."""
    from .render import print_problems, print_warnings, results_table

    ruleset = load_or_report(ruleset_path)
    if ruleset is None:
        return EXIT_INVALID
    now = parse_instant(at, "--at", ruleset.ticket_timezone)
    reader = open_tickets(tickets_path, ruleset, encoding=encoding, query=query)
    results = build_engine(ruleset, matcher).evaluate_afresh(reader, now)
    conflicts: list[tuple[str, RouteConflict]] = []
    evaluated = 0
    if fmt == "json":
        document = JsonStream(sys.stdout)
        document.fields({"ruleset": ruleset.name, "at": now.isoformat()})
        document.begin_array("tickets")
        for result in results:
            evaluated += 1
            conflicts.extend((result.ticket.id, conflict) for conflict in result.route_conflicts)
            document.item(result.to_json())
        document.end_array()
        document.fields(
            {
                "route_conflicts": [{"ticket": ticket_id, **conflict.to_json()} for ticket_id, conflict in conflicts],
                "rejected": [problem.__dict__ for problem in reader.problems],
                "warnings": [warning.__dict__ for warning in reader.warnings],
            }
        )
        document.close()
    else:
        kept = list(results)
        evaluated = len(kept)
        conflicts = [(result.ticket.id, conflict) for result in kept for conflict in result.route_conflicts]
        results_table(kept, ruleset, now)
    print_warnings(f"{ticket_id}: route conflict: {conflict.describe()}" for ticket_id, conflict in conflicts)
    print_problems(reader.problems)
    print_warnings(reader.warnings)
    if reader.problems or reader.warnings:
        rejected, warned = len({problem.row for problem in reader.problems}), len({warning.row for warning in reader.warnings})
        click.echo(f"tickets: {evaluated} evaluated, {rejected} rows rejected, {warned} with {len(reader.warnings)} warnings", err=True)
    return EXIT_PARTIAL if reader.problems or reader.warnings else EXIT_OK


@cli.command()
def schema() -> int:
    """Print the JSON Schema of ruleset files, for editors (YAML language servers) and CI checks."""
    from ..ruleset.schema import Ruleset

    document = Ruleset.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "spm-rules ruleset"
    json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK
