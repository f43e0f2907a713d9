"""``spm-rules init [DIR]``: start a project from the installed package, without a clone.

It writes a starter ruleset, example tickets and the ruleset's unit tests (shipped in the
wheel as package data, ``spm_rules/starter/``) into DIR, refusing to overwrite a file
that exists unless ``--force``.  What it writes validates with ``--strict`` and its tests
pass, so the first edit starts from green.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import EXIT_INVALID, EXIT_OK, cli

__all__ = ["init", "STARTER_FILES", "starter_text"]

#: The starter files, as paths relative to the target folder (and to ``spm_rules/starter``).
STARTER_FILES = ("service-desk.yaml", "tickets.jsonl", "tests/service-desk.test.yaml")


def starter_text(name: str) -> bytes:
    """The content of one starter file, read from the installed package."""
    from importlib.resources import files

    return files("spm_rules").joinpath("starter", *name.split("/")).read_bytes()


@cli.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite starter files that already exist.")
def init(directory: str, force: bool) -> int:
    """Write a starter ruleset, example tickets and their unit tests into DIRECTORY (default: here).

    Exit 1, writing nothing, when one of the files exists (unless --force)."""
    target = Path(directory)
    paths = [target / name for name in STARTER_FILES]
    existing = [path for path in paths if path.exists()]
    if existing and not force:
        for path in existing:
            click.echo(f"error: {path} exists; not overwritten (use --force to replace the starter files)", err=True)
        return EXIT_INVALID
    try:
        for name, path in zip(STARTER_FILES, paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(starter_text(name))
    except OSError as exc:
        click.echo(f"error: cannot write {exc.filename}: {exc.strerror or exc}", err=True)
        return EXIT_INVALID
    ruleset, tickets, tests = paths
    click.echo(f"wrote {ruleset} (the ruleset), {tickets} (example tickets) and {tests} (its unit tests)")
    click.echo("next:")
    click.echo(f"  spm-rules validate --strict {ruleset}")
    click.echo(f"  spm-rules test {tests.parent}")
    click.echo(f"  spm-rules evaluate --ruleset {ruleset} --tickets {tickets} --at 2026-03-02T12:00:00Z")
    click.echo("then edit the ruleset (docs/tutorial.md walks through it: https://github.com/spm-rules/spm-rules/tree/main/docs)")
    return EXIT_OK
