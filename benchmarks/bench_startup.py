"""Start-up cost of the ``spm-rules`` command: wall and CPU time of short commands.

Runs each command as a fresh process (after one warm-up run, so compiled bytecode is
cached), ``--repeat`` times, and reports the median wall time and CPU time (user + system,
from the child's resource usage) next to the baseline measured in the same run: a Python
that does nothing (``python -c pass``).  What remains above the baseline is what importing
spm-rules and its dependencies costs each cron job and each shell completion.
Run: ``python -m benchmarks.bench_startup [--repeat N]``; prints a table, then JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULESET = str(ROOT / "rulesets" / "enterprise-command-center.yaml")


def command() -> list[str]:
    """The installed console script next to this Python, or ``python -m spm_rules``."""
    script = shutil.which("spm-rules", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "spm_rules"]


def cases() -> dict[str, list[str]]:
    """What is measured, by label; the first is the baseline."""
    spm = command()
    return {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "python -c 'import spm_rules'": [sys.executable, "-c", "import spm_rules"],
        "spm-rules --help": [*spm, "--help"],
        "spm-rules --version": [*spm, "--version"],
        "spm-rules validate RULESET": [*spm, "validate", RULESET],
    }


def once(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` (which must succeed)."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {child.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(argv: list[str], repeat: int) -> dict[str, float]:
    """Median and best wall and CPU milliseconds over ``repeat`` runs, after a warm-up."""
    once(argv)
    walls, cpus = zip(*(once(argv) for _ in range(repeat)))
    return {
        "wall_ms": round(statistics.median(walls) * 1000, 1),
        "wall_best_ms": round(min(walls) * 1000, 1),
        "cpu_ms": round(statistics.median(cpus) * 1000, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs per command (default 20)")
    options = parser.parse_args(argv)
    results = {label: measure(args, options.repeat) for label, args in cases().items()}
    baseline = next(iter(results.values()))
    for figures in results.values():
        figures["wall_over_baseline_ms"] = round(figures["wall_ms"] - baseline["wall_ms"], 1)
        figures["cpu_ratio"] = round(figures["cpu_ms"] / baseline["cpu_ms"], 1) if baseline["cpu_ms"] else float("nan")

    print(f"CPython {sys.version.split()[0]}, {options.repeat} runs each, medians")
    print(f"{'command':<30} {'wall ms':>8} {'best':>7} {'+ wall':>7} {'CPU ms':>7} {'CPU ×':>6}")
    for label, f in results.items():
        print(f"{label:<30} {f['wall_ms']:>8.1f} {f['wall_best_ms']:>7.1f} {f['wall_over_baseline_ms']:>7.1f} {f['cpu_ms']:>7.1f} {f['cpu_ratio']:>6.1f}")
    print(json.dumps({"python": sys.version.split()[0], "repeat": options.repeat, "results": results}, indent=2))


if __name__ == "__main__":
    main()
