"""The ``spm-rules`` command: a click group whose subcommands live in this package by area.

Errors of the spm-rules family become a message on standard error and an exit code,
never a traceback:

* 0: everything went through;
* 1: the ruleset or input is invalid, or the run could not be done;
* 2: usage error (unknown option, missing argument);
* 3: partial: some tickets were rejected, the others were evaluated.
* 143 / 130: ``run`` stopped by SIGTERM / SIGINT at a batch boundary, everything before it committed.
"""

from __future__ import annotations

import gc
import sys

import click

from ..errors import SpmError

__all__ = ["cli", "main", "EXIT_OK", "EXIT_INVALID", "EXIT_USAGE", "EXIT_PARTIAL", "EXIT_UNDELIVERED"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
#: A run whose delivery failed for some notification (retried later, or dead-lettered).
EXIT_UNDELIVERED = 4
#: Allocations between two collections of the youngest generation (Python's default: 700).
GC_YOUNG_THRESHOLD = 50_000


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from .. import __version__

        click.echo(f"spm-rules, version {__version__}")
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version, help="Show the version and exit.")
def cli() -> None:
    """Service process management: SLA clocks, escalations, routing and notification for service tickets."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (the console script exits with it)."""
    # A run or an evaluation allocates millions of short-lived objects and almost no
    # cycles: the collector's default young-generation threshold (700) made it walk
    # them about every 700 allocations, a tenth of a first run's CPU.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    try:
        result = cli.main(args=argv, prog_name="spm-rules", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except click.Abort:
        click.echo("aborted", err=True)
        return EXIT_INVALID
    except SpmError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_INVALID
    return result if isinstance(result, int) else EXIT_OK


from . import rulesets as _rulesets  # noqa: E402,F401  (registers its commands)
from . import runs as _runs  # noqa: E402,F401
from . import alerts as _alerts  # noqa: E402,F401
from . import status as _status  # noqa: E402,F401
from . import board as _board  # noqa: E402,F401
from . import reports as _reports  # noqa: E402,F401
from . import state_views as _state_views  # noqa: E402,F401
from . import providers as _providers  # noqa: E402,F401
from . import explain as _explain  # noqa: E402,F401
from . import diff as _diff  # noqa: E402,F401
from . import ruletests as _ruletests  # noqa: E402,F401
from . import init as _init  # noqa: E402,F401
from . import serve as _serve  # noqa: E402,F401


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
