"""The scale benchmark suite: each scenario in a fresh process, against baselines of the same run.

Run from the repository root, with the test extras installed (the suite uses the tests'
loopback HTTP server and PostgreSQL schemas)::

    python -m benchmarks.suite                                   # 10k tickets, every scenario
    python -m benchmarks.suite --scale 100k --scenarios evaluate-cli,first-sqlite --json out.json
    python -m benchmarks.suite --list                            # the scenarios and what they do

Each scenario's measured work runs in its own child process (or two, for the worker
scenario), so its figures are its own: CPU seconds (user + system, from ``wait4``), wall
seconds and peak resident memory (``ru_maxrss`` of that process).  Set-up work (fleets,
first runs a later scenario starts from, ruleset variants) runs before, untimed.  For
PostgreSQL scenarios the server's CPU is sampled from ``/proc`` (the backends of the
benchmark's database) and reported apart; the client figures never include it.

Baselines measured in the same run make the figures comparable between machines: reading
the tickets with ``json.loads`` per line, and the ruleset's rules over the tickets' facts
in the pure-Python matcher; CLI start-up is compared with ``python -c pass``.  Ratios are
per ticket (CPU seconds per ticket over the baseline's CPU seconds per ticket).

A scenario that passes ``--timeout`` is killed and reported as timed out; one whose
prerequisite failed or that needs PostgreSQL without a URL is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fixtures.database import POSTGRES_ENV, fresh_postgres_schema
from tests.fixtures.servers import serve_http

from . import fleet

__all__ = ["SCALES", "SCENARIOS", "Scenario", "Measurement", "Suite", "measure", "main"]

ROOT = Path(__file__).resolve().parents[1]
RULESET = ROOT / "rulesets" / "enterprise-command-center.yaml"
SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
#: How often a running scenario is checked (exit, timeout, PostgreSQL backends' CPU).
POLL = 0.05
#: The share of the fleet that changes between two feeds in the "changed" scenarios.
CHANGED_FRACTION = 0.01
#: Minutes between a first run and the next cron run in the "changed" scenarios.
NEXT_RUN_MINUTES = 5
#: Seconds a timed-out scenario gets to report its figures before it is killed outright.
GRACE = 10.0

#: Starts each measured command.  A process started from the harness inherits the
#: harness's memory high-water mark in its ``ru_maxrss`` (Linux records the old image's at
#: ``exec``), so the harness starts this small interpreter (``python -S``, a few MiB), which
#: forks and execs the command and reports the command's own rusage as JSON to the file
#: ``argv[1]``.  On SIGTERM (the harness's timeout) it kills the command and still reports.
LAUNCHER = """
import json, os, signal, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
while True:
    try:
        _, status, usage = os.wait4(pid, 0)
        break
    except InterruptedError:
        continue
code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as report:
    json.dump({"user": usage.ru_utime, "system": usage.ru_stime, "maxrss": usage.ru_maxrss, "exit": code}, report)
sys.exit(code if code >= 0 else 128 - code)
"""


# -- measuring processes ------------------------------------------------------------


@dataclass
class Measurement:
    """What one scenario's process (or processes, summed) cost."""

    user: float = 0.0
    system: float = 0.0
    wall: float = 0.0
    peak_rss_kib: int = 0
    exit_codes: list[int | None] = field(default_factory=list)
    timed_out: bool = False
    server_cpu: float | None = None
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def cpu(self) -> float:
        """User plus system seconds."""
        return self.user + self.system


class _BackendCpu:
    """CPU seconds used by the PostgreSQL backends serving one database, sampled from /proc.

    A backend's process title names its database (``postgres: user DB host(port) …``).
    Backends that existed before the scenario count from their CPU at the start; one that
    exits between two samples loses at most one sampling interval of CPU.
    """

    def __init__(self, database: str | None) -> None:
        self.marker = f" {database} ".encode() if database else None
        self.tick = os.sysconf("SC_CLK_TCK")
        self.start: dict[int, int] = self._sample() if self.marker else {}
        self.last: dict[int, int] = dict(self.start)

    def _sample(self) -> dict[int, int]:
        found: dict[int, int] = {}
        for entry in os.scandir("/proc") if self.marker else ():
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    title = handle.read()
                if not title.startswith(b"postgres: ") or self.marker not in title:  # type: ignore[operator]
                    continue
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
                found[int(entry.name)] = int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                continue
        return found

    def sample(self) -> None:
        """Take one sample (called while the scenario runs)."""
        if self.marker:
            self.last.update(self._sample())

    def seconds(self) -> float | None:
        """CPU seconds since the start, or None when no database is watched."""
        if not self.marker:
            return None
        return sum(ticks - self.start.get(pid, 0) for pid, ticks in self.last.items()) / self.tick


def measure(
    commands: Sequence[Sequence[str]],
    timeout: float,
    *,
    env: dict[str, str] | None = None,
    database: str | None = None,
    output: Path | None = None,
) -> Measurement:
    """Run ``commands`` at once, each in its own process group, and wait for all of them.

    CPU and peak memory are each command's own ``wait4`` rusage, taken by ``LAUNCHER``
    (summed, and the highest peak); wall time runs from the first start to the last exit.
    Past ``timeout`` seconds every command still running is stopped (killed outright
    ``GRACE`` seconds later) and ``timed_out`` is set.  Standard output is kept in
    ``stdout``, or written to ``output`` (for large documents).
    """
    result = Measurement()
    backends = _BackendCpu(database)
    outputs = [(open(output, "w+b") if output else tempfile.TemporaryFile(), tempfile.TemporaryFile()) for _ in commands]
    reports = [Path(tempfile.mkstemp(prefix="spm-bench-", suffix=".json")[1]) for _ in commands]
    started = time.perf_counter()
    running: dict[int, int] = {}
    for index, command in enumerate(commands):
        launch = [sys.executable, "-S", "-c", LAUNCHER, str(reports[index]), *command]
        process = subprocess.Popen(launch, stdout=outputs[index][0], stderr=outputs[index][1], stdin=subprocess.DEVNULL, env=env, cwd=ROOT, start_new_session=True)
        running[process.pid] = index
    stopped: float | None = None
    while running:
        for pid in list(running):
            if os.wait4(pid, os.WNOHANG)[0]:
                running.pop(pid)
        if not running:
            break
        backends.sample()
        now = time.perf_counter()
        if stopped is None and now - started > timeout:
            result.timed_out, stopped = True, now
            _signal(running, signal.SIGTERM, os.kill)
        elif stopped is not None and now - stopped > GRACE:
            _signal(running, signal.SIGKILL, os.killpg)
        time.sleep(POLL)
    result.wall = time.perf_counter() - started
    for report in reports:
        text = report.read_text(encoding="utf-8")
        report.unlink()
        usage = json.loads(text) if text else {"user": 0.0, "system": 0.0, "maxrss": 0, "exit": None}
        result.user += usage["user"]
        result.system += usage["system"]
        result.peak_rss_kib = max(result.peak_rss_kib, usage["maxrss"])
        result.exit_codes.append(usage["exit"])
    result.server_cpu = backends.seconds()
    for out, err in outputs:
        for stream, target in ((out, result.stdout), (err, result.stderr)):
            stream.seek(0)
            target.append("" if output and stream is out else stream.read().decode("utf-8", "replace"))
            stream.close()
    return result


def _signal(running: dict[int, int], number: int, send: Callable[[int, int], None]) -> None:
    for pid in running:
        try:
            send(pid, number)
        except ProcessLookupError:
            pass


# -- helpers the scenarios share ------------------------------------------------------


def _metrics(path: Path) -> dict[str, float]:
    """The counts of a ``--metrics`` file, keyed ``family.label`` (``run_notifications.enqueued``),
    or ``family`` for a family without a result, kind or status label; values of a key are summed."""
    totals: dict[str, float] = {}
    if not path.exists():
        return totals
    for line in path.read_text(encoding="utf-8").splitlines():
        found = re.match(r'(\w+)\{(.*)\} (\S+)$', line)
        if not found:
            continue
        family, labels, value = found.group(1).removeprefix("spm_rules_"), found.group(2), float(found.group(3))
        key = re.search(r'(?:result|kind|status)="([^"]+)"', labels)
        name = f"{family}.{key.group(1)}" if key else family
        totals[name] = totals.get(name, 0) + value
    return totals


@dataclass(frozen=True)
class Scenario:
    """One measured scenario: a name, what it measures, and the function that runs it."""

    name: str
    title: str
    kind: str
    run: Callable[["Suite"], dict[str, Any]]


class Skip(Exception):
    """The scenario cannot run here (no PostgreSQL, a prerequisite failed)."""


class Suite:
    """One suite run: its parameters, its working directory and the state scenarios share."""

    def __init__(
        self,
        count: int,
        *,
        workdir: Path,
        seed: int = 7,
        at: datetime = fleet.AT,
        notifications: int | None = None,
        timeout: float = 3600.0,
        postgres: str | None = None,
        matcher: str = "auto",
        startup_repeats: int = 5,
        log: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True),
    ) -> None:
        self.count = count
        self.workdir = workdir
        self.seed = seed
        self.at = at
        self.notifications = notifications if notifications is not None else max(count // 10, 1)
        self.timeout = timeout
        self.postgres = postgres
        self.matcher = matcher
        self.startup_repeats = startup_repeats
        self.log = log
        #: The machine's load average when the suite started (other jobs stretch wall times).
        self.load_at_start = os.getloadavg()
        cpus = os.cpu_count() or 1
        if self.load_at_start[0] >= cpus / 2:
            # Measured: at a load of 2 on 2 cores, json.loads took twice its idle CPU seconds.
            log(
                f"warning: load average {self.load_at_start[0]:.1f} on {cpus} CPUs: other jobs share the machine, and the CPU "
                "seconds measured now run high (up to twice); compare runs measured on an idle machine"
            )
        self.env = os.environ | {"PYTHONPATH": str(ROOT)}
        self.env.pop("SPM_RULES_STATE", None)
        self.results: dict[str, dict[str, Any]] = {}
        #: Files made once per suite run: the fleet, the next feed, the burst fleet.
        self.files: dict[str, Path] = {}
        #: Per backend, a state URL and what was done to it last ("first" run, "changed" run).
        self.states: dict[str, tuple[str, str]] = {}
        #: The PostgreSQL schemas made for the scenarios, dropped when the suite closes them.
        self.schemas = ExitStack()
        script = Path(sys.executable).with_name("spm-rules")
        self.cli = [str(script)] if script.exists() else [sys.executable, "-m", "spm_rules"]

    # files and states --------------------------------------------------------------

    def fleet(self) -> Path:
        """The fleet of ``count`` enterprise tickets at ``at`` (written once)."""
        if "fleet" not in self.files:
            path = self.workdir / f"fleet-{self.count}.jsonl"
            fleet.write_fleet(path, "enterprise", self.count, self.seed, self.at)
            self.files["fleet"] = path
        return self.files["fleet"]

    def next_feed(self) -> Path:
        """The feed of the next run, ``NEXT_RUN_MINUTES`` later, with ``CHANGED_FRACTION`` changed."""
        if "next" not in self.files:
            path = self.workdir / f"next-{self.count}.jsonl"
            with open(self.fleet(), encoding="utf-8") as source:
                fleet.write_lines(fleet.next_feed(source, "enterprise", CHANGED_FRACTION, self.seed, self.at, self.later), path)
            self.files["next"] = path
        return self.files["next"]

    @property
    def later(self) -> datetime:
        """The instant of the next run."""
        return self.at + timedelta(minutes=NEXT_RUN_MINUTES)

    def fresh_state(self, backend: str) -> str:
        """A new, empty state: an SQLite file, or a PostgreSQL schema in the benchmark's database."""
        if backend == "sqlite":
            return f"sqlite:///{self.workdir / f'state-{uuid.uuid4().hex[:8]}.db'}"
        if not self.postgres:
            raise Skip(f"no PostgreSQL: set {POSTGRES_ENV} or pass --postgres")
        try:
            return self.schemas.enter_context(fresh_postgres_schema(self.postgres))
        except (pytest.skip.Exception, pytest.fail.Exception) as why:  # the fixture's way to say it cannot connect
            raise Skip(str(why)) from None

    def database(self, url: str) -> str | None:
        """The PostgreSQL database a state URL names (None for SQLite)."""
        return urlsplit(url).path.lstrip("/") if url.startswith("postgresql") else None

    def run_command(self, state: str, tickets: Path, at: datetime, *extra: str, ruleset: Path = RULESET) -> list[str]:
        """``spm-rules run`` as cron would start it, quiet, with its metrics in a file."""
        return [
            *self.cli, "run", "--ruleset", str(ruleset), "--tickets", str(tickets), "--state", state,
            "--at", at.isoformat(), "--quiet", "--matcher", self.matcher, *extra,
        ]  # fmt: skip

    def first_run(self, backend: str) -> tuple[str, Measurement, dict[str, float]]:
        """A fresh state and the first ``run --no-deliver`` of the fleet into it."""
        state = self.fresh_state(backend)
        metrics = self.workdir / f"first-{backend}-{uuid.uuid4().hex[:6]}.prom"
        done = measure([self.run_command(state, self.fleet(), self.at, "--no-deliver", "--metrics", str(metrics))], self.timeout, env=self.env, database=self.database(state))
        return state, done, _metrics(metrics)

    def state_after_first_run(self, backend: str) -> str:
        """A state as the first run of the fleet left it (made now, untimed, unless one is kept)."""
        kept = self.states.get(backend)
        if kept and kept[1] == "first":
            return kept[0]
        self.log(f"  set-up: first run into {backend} (untimed)")
        state, done, _ = self.first_run(backend)
        _check(done, f"the set-up first run into {backend}")
        self.states[backend] = (state, "first")
        return state

    # running a scenario ---------------------------------------------------------------

    def run_scenario(self, scenario: Scenario) -> dict[str, Any]:
        """Run one scenario and return its result (status ok, failed, timed out or skipped)."""
        self.log(f"{scenario.name}: {scenario.title}")
        entry: dict[str, Any] = {"name": scenario.name, "title": scenario.title, "kind": scenario.kind}
        try:
            entry |= scenario.run(self)
        except Skip as why:
            entry |= {"status": "skipped", "note": str(why)}
        except ScenarioFailed as failed:
            entry |= {"status": "timed out" if failed.measurement and failed.measurement.timed_out else "failed", "note": str(failed)}
            if failed.measurement is not None:
                entry |= _figures(failed.measurement)
        self.results[scenario.name] = entry
        status = entry.get("status", "ok")
        summary = f"cpu {entry['cpu_seconds']:.2f} s, wall {entry['wall_seconds']:.2f} s" if "cpu_seconds" in entry else ""
        self.log(f"  {status}" + (f": {summary}" if summary else "") + (f" ({entry['note']})" if entry.get("note") else ""))
        return entry

    def add_ratios(self) -> None:
        """Each scenario's CPU per ticket against the baselines' (and start-up against ``python -c pass``)."""
        per_ticket = {
            name: self.results[name]["cpu_seconds"] / self.results[name]["tickets"]
            for name in ("loads", "matcher")
            if self.results.get(name, {}).get("status") == "ok" and self.results[name].get("tickets")
        }
        python = self.results.get("python-start", {})
        for entry in self.results.values():
            if entry.get("status") != "ok":
                continue
            ratios: dict[str, float] = {}
            if entry.get("tickets"):
                for name, cost in per_ticket.items():
                    if cost > 0:
                        ratios[f"cpu_vs_{name}"] = round(entry["cpu_seconds"] / entry["tickets"] / cost, 2)
            if entry["name"] == "cli-help" and python.get("status") == "ok":
                ratios["cpu_vs_python_start"] = round(entry["cpu_seconds"] / max(python["cpu_seconds"], 1e-6), 1)
                ratios["wall_vs_python_start"] = round(entry["wall_seconds"] / max(python["wall_seconds"], 1e-6), 1)
            entry["ratios"] = ratios


class ScenarioFailed(Exception):
    """A measured process failed or timed out."""

    def __init__(self, message: str, measurement: Measurement | None = None) -> None:
        super().__init__(message)
        self.measurement = measurement


def _check(done: Measurement, what: str, allowed: tuple[int, ...] = (0,)) -> None:
    if done.timed_out:
        raise ScenarioFailed(f"{what} timed out after {done.wall:.0f} s", done)
    for code, err in zip(done.exit_codes, done.stderr):
        if code not in allowed:
            tail = " | ".join(err.strip().splitlines()[-3:])
            raise ScenarioFailed(f"{what} exited {code}: {tail}", done)


def _figures(done: Measurement) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "cpu_seconds": round(done.cpu, 3),
        "user_seconds": round(done.user, 3),
        "system_seconds": round(done.system, 3),
        "wall_seconds": round(done.wall, 3),
        "peak_rss_mib": round(done.peak_rss_kib / 1024, 1),
    }
    if done.server_cpu is not None:
        figures["server_cpu_seconds"] = round(done.server_cpu, 3)
    return figures


def _driven(suite: Suite, what: str, *args: str) -> tuple[Measurement, dict[str, Any]]:
    """Run one of ``benchmarks.drivers`` and return its measurement and its JSON line."""
    done = measure([[sys.executable, "-m", "benchmarks.drivers", *args]], suite.timeout, env=suite.env)
    _check(done, what)
    return done, json.loads(done.stdout[0].strip().splitlines()[-1])


# -- the scenarios ------------------------------------------------------------------


def _startup(command: Callable[[Suite], list[str]]) -> Callable[[Suite], dict[str, Any]]:
    """The median of ``startup_repeats`` runs (start-up is short and noisy)."""

    def run(suite: Suite) -> dict[str, Any]:
        runs = []
        for _ in range(suite.startup_repeats):
            done = measure([command(suite)], suite.timeout, env=suite.env)
            _check(done, "start-up")
            runs.append(done)
        median = sorted(runs, key=lambda done: done.wall)[len(runs) // 2]
        return {"status": "ok", **_figures(median), "detail": {"repeats": len(runs), "wall_seconds_all": [round(d.wall, 3) for d in runs]}}

    return run


def _loads(suite: Suite) -> dict[str, Any]:
    done, inner = _driven(suite, "json.loads", "loads", str(suite.fleet()))
    return {"status": "ok", "tickets": inner["count"], **_figures(done), "detail": inner}


def _matcher(suite: Suite) -> dict[str, Any]:
    facts = suite.workdir / f"facts-{suite.count}.jsonl"
    if not facts.exists():
        suite.log("  set-up: the engine's facts for the fleet (untimed)")
        _driven(suite, "writing the facts", "facts", str(RULESET), str(suite.fleet()), suite.at.isoformat(), str(facts))
    done, inner = _driven(suite, "the matcher", "match", str(RULESET), str(facts))
    return {"status": "ok", "tickets": suite.count, **_figures(done), "detail": {"facts": inner["count"], "matching_cpu_seconds": inner["inner_cpu"]}}


def _evaluate_lib(suite: Suite) -> dict[str, Any]:
    done, inner = _driven(suite, "Engine.evaluate", "evaluate", str(RULESET), str(suite.fleet()), suite.at.isoformat(), suite.matcher)
    return {"status": "ok", "tickets": inner["count"], **_figures(done), "detail": inner}


def _evaluate_cli(suite: Suite) -> dict[str, Any]:
    out = suite.workdir / "evaluate.json"
    command = [*suite.cli, "evaluate", "--ruleset", str(RULESET), "--tickets", str(suite.fleet()), "--at", suite.at.isoformat(), "--format", "json", "--matcher", suite.matcher]
    done = measure([command], suite.timeout, env=suite.env, output=out)
    _check(done, "spm-rules evaluate")
    size = out.stat().st_size
    out.unlink()
    return {"status": "ok", "tickets": suite.count, **_figures(done), "detail": {"output_mib": round(size / 2**20, 1)}}


def _first(backend: str) -> Callable[[Suite], dict[str, Any]]:
    def run(suite: Suite) -> dict[str, Any]:
        state, done, metrics = suite.first_run(backend)
        _check(done, f"the first run into {backend}")
        suite.states[backend] = (state, "first")
        return {"status": "ok", "tickets": suite.count, **_figures(done), "detail": _run_detail(metrics)}

    return run


def _run_detail(metrics: dict[str, float]) -> dict[str, Any]:
    transitions = {key.split(".", 1)[1]: int(value) for key, value in metrics.items() if key.startswith("run_transitions.")}
    return {
        "evaluated": int(metrics.get("run_tickets.evaluated", 0)),
        "unchanged": int(metrics.get("run_tickets.unchanged", 0)),
        "transitions": transitions,
        "enqueued": int(metrics.get("run_notifications.enqueued", 0)),
        "sent": int(metrics.get("run_notifications.sent", 0)),
        "run_duration_seconds": metrics.get("run_duration_seconds"),
    }


def _steady(backend: str) -> Callable[[Suite], dict[str, Any]]:
    def run(suite: Suite) -> dict[str, Any]:
        state = suite.state_after_first_run(backend)
        metrics = suite.workdir / f"steady-{backend}.prom"
        done = measure([suite.run_command(state, suite.fleet(), suite.at, "--no-deliver", "--metrics", str(metrics))], suite.timeout, env=suite.env, database=suite.database(state))
        _check(done, f"the steady run on {backend}")
        return {"status": "ok", "tickets": suite.count, **_figures(done), "detail": _run_detail(_metrics(metrics))}

    return run


def _changed(backend: str) -> Callable[[Suite], dict[str, Any]]:
    def run(suite: Suite) -> dict[str, Any]:
        state = suite.state_after_first_run(backend)
        feed = suite.next_feed()
        metrics = suite.workdir / f"changed-{backend}.prom"
        suite.states[backend] = (state, "changed")
        done = measure([suite.run_command(state, feed, suite.later, "--no-deliver", "--metrics", str(metrics))], suite.timeout, env=suite.env, database=suite.database(state))
        _check(done, f"the run with {CHANGED_FRACTION:.0%} changed on {backend}")
        tickets = sum(1 for _ in open(feed, "rb"))
        detail = _run_detail(_metrics(metrics)) | {"changed_fraction": CHANGED_FRACTION, "minutes_later": NEXT_RUN_MINUTES}
        return {"status": "ok", "tickets": tickets, **_figures(done), "detail": detail}

    return run


def _workers(suite: Suite) -> dict[str, Any]:
    one = suite.results.get("first-postgres")
    if not one or one.get("status") != "ok":
        one = suite.run_scenario(SCENARIOS["first-postgres"])
        if one.get("status") != "ok":
            raise Skip("the one-worker run (first-postgres) did not succeed")
    state = suite.fresh_state("postgres")
    commands = [suite.run_command(state, suite.fleet(), suite.at, "--no-deliver", "--worker", f"{k}/2") for k in (1, 2)]
    done = measure(commands, suite.timeout, env=suite.env, database=suite.database(state))
    _check(done, "two workers")
    speedup = one["wall_seconds"] / done.wall if done.wall else None
    detail = {"one_worker_wall_seconds": one["wall_seconds"], "speedup": round(speedup, 2) if speedup else None}
    return {"status": "ok", "tickets": suite.count, **_figures(done), "detail": detail}


def _burst_fleet(suite: Suite) -> Path:
    """The first tickets of the fleet that notify at ``at``, until ``notifications`` notify decisions."""
    if "burst" in suite.files:
        return suite.files["burst"]
    from spm_rules import Engine, Ticket, load_ruleset

    ruleset = load_ruleset(RULESET)
    engine = Engine(ruleset, "python")
    context = {"default_timezone": ruleset.ticket_timezone}

    def notifying() -> Iterator[dict[str, Any]]:
        wanted, start = suite.notifications, 0
        while wanted > 0:
            rows = list(fleet.tickets("enterprise", 1000, suite.seed, suite.at, start=start))
            start += len(rows)
            results = engine.evaluate([Ticket.model_validate(row, context=context) for row in rows], suite.at)
            for row, result in zip(rows, results):
                notes = sum(1 for decision in result.decisions if decision.action == "notify")
                if notes and wanted > 0:
                    wanted -= notes
                    yield row

    path = suite.files["burst"] = suite.workdir / f"burst-{suite.notifications}.jsonl"
    fleet.write_lines(notifying(), path)
    return path


def _variant(suite: Suite, target: Callable[[str], str], name: str) -> Path:
    """The shipped enterprise ruleset with every receiver's URL pointed at ``target(receiver)``."""
    text = RULESET.read_text(encoding="utf-8")
    text = re.sub(r'"console://([\w-]+)"', lambda found: json.dumps(target(found.group(1))), text)
    path = suite.workdir / f"enterprise-{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


#: Sends in flight at once in the channel baselines: the command center's receivers, at
#: the default delivery.concurrency of 4 each.
CHANNEL_CONCURRENCY = 16


def _channel(sink: str) -> Callable[[Suite], dict[str, Any]]:
    """Baseline: Apprise alone sending as many messages as the burst has notifications to
    the same kind of sink, :data:`CHANNEL_CONCURRENCY` at once."""

    def run(suite: Suite) -> dict[str, Any]:
        count = suite.notifications
        with serve_http() as receiver:
            url = receiver.json_url("baseline") if sink == "http" else f"spmfile://?path={suite.workdir / f'channel-{uuid.uuid4().hex[:6]}.jsonl'}"
            done, inner = _driven(suite, f"Apprise alone to the {sink} sink", "channel", url, str(count), str(CHANNEL_CONCURRENCY))
        rate = round(inner["count"] / inner["inner_wall"], 1) if inner["inner_wall"] else None
        return {"status": "ok", **_figures(done), "detail": inner | {"messages": count, "messages_per_second": rate}}

    return run


def _deliver(sink: str) -> Callable[[Suite], dict[str, Any]]:
    def run(suite: Suite) -> dict[str, Any]:
        tickets = _burst_fleet(suite)
        count = sum(1 for _ in open(tickets, "rb"))
        with serve_http() as receiver:
            if sink == "http":
                ruleset = _variant(suite, receiver.json_url, "http")
                sink_file = None
            else:
                sink_file = suite.workdir / f"notifications-{uuid.uuid4().hex[:6]}.jsonl"
                ruleset = _variant(suite, lambda name: f"spmfile://?path={sink_file}", "file")
            state = suite.fresh_state("sqlite")
            setup = suite.workdir / f"burst-setup-{sink}.prom"
            suite.log(f"  set-up: first run of {count} notifying tickets, --no-deliver (untimed)")
            done = measure([suite.run_command(state, tickets, suite.at, "--no-deliver", "--metrics", str(setup), ruleset=ruleset)], suite.timeout, env=suite.env)
            _check(done, "the burst's set-up run")
            enqueued = int(_metrics(setup).get("run_notifications.enqueued", 0))
            # The same run again without delivery: what the delivering run costs besides delivery.
            reference = measure([suite.run_command(state, tickets, suite.at, "--no-deliver", ruleset=ruleset)], suite.timeout, env=suite.env)
            _check(reference, "the burst's reference run")
            metrics = suite.workdir / f"burst-{sink}.prom"
            done = measure([suite.run_command(state, tickets, suite.at, "--metrics", str(metrics), ruleset=ruleset)], suite.timeout, env=suite.env)
            _check(done, f"delivery to the {sink} sink")
            if sink_file is None:
                received = len(receiver.requests)
            else:
                received = sum(1 for _ in open(sink_file, "rb")) if sink_file.exists() else 0
        delivered = _run_detail(_metrics(metrics))
        detail = {
            "notifications": enqueued,
            "sent": delivered["sent"],
            "messages_received": received,
            "reference_run_cpu_seconds": round(reference.cpu, 3),
            "reference_run_wall_seconds": round(reference.wall, 3),
            "delivery_cpu_seconds": round(done.cpu - reference.cpu, 3),
            "delivery_wall_seconds": round(done.wall - reference.wall, 3),
        }
        for name, seconds in (("per_second", detail["delivery_wall_seconds"]), ("per_cpu_second", detail["delivery_cpu_seconds"])):
            detail[f"notifications_{name}"] = round(enqueued / seconds, 1) if seconds > 0 else None
        return {"status": "ok", "tickets": count, **_figures(done), "detail": detail}

    return run


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("python-start", "python -c pass (start-up baseline)", "baseline", _startup(lambda s: [sys.executable, "-c", "pass"])),
        Scenario("cli-help", "spm-rules --help (CLI start-up)", "startup", _startup(lambda s: [*s.cli, "--help"])),
        Scenario("loads", "read the tickets with json.loads per line (baseline)", "baseline", _loads),
        Scenario("matcher", "the ruleset's rules over the tickets' facts, pure-Python matcher (baseline)", "baseline", _matcher),
        Scenario("evaluate-lib", "Engine.evaluate over the tickets, no output", "evaluate", _evaluate_lib),
        Scenario("evaluate-cli", "spm-rules evaluate --format json", "evaluate", _evaluate_cli),
        Scenario("first-sqlite", "first spm-rules run --no-deliver into SQLite", "run", _first("sqlite")),
        Scenario("steady-sqlite", "the same run again, nothing changed (SQLite)", "run", _steady("sqlite")),
        Scenario("changed-sqlite", f"the next run, {NEXT_RUN_MINUTES} min later, {CHANGED_FRACTION:.0%} changed (SQLite)", "run", _changed("sqlite")),
        Scenario("first-postgres", "first spm-rules run --no-deliver into PostgreSQL", "run", _first("postgres")),
        Scenario("steady-postgres", "the same run again, nothing changed (PostgreSQL)", "run", _steady("postgres")),
        Scenario("changed-postgres", f"the next run, {NEXT_RUN_MINUTES} min later, {CHANGED_FRACTION:.0%} changed (PostgreSQL)", "run", _changed("postgres")),
        Scenario("workers-2", "first run as two --worker K/2 processes on PostgreSQL", "run", _workers),
        Scenario("channel-http", "Apprise alone: the burst's count of messages to a loopback HTTP receiver (baseline)", "baseline", _channel("http")),
        Scenario("channel-file", "Apprise alone: the burst's count of messages to the file sink (baseline)", "baseline", _channel("file")),
        Scenario("deliver-http", "deliver a notification burst to a loopback HTTP receiver (json://)", "deliver", _deliver("http")),
        Scenario("deliver-file", "deliver a notification burst to the file sink (spmfile://)", "deliver", _deliver("file")),
    )
}


# -- report -------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The machine and software the figures were measured on."""
    from spm_rules.match import durable_available

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": date.today().isoformat(),
        "durable_rules": durable_available(),
    }


def document(suite: Suite) -> dict[str, Any]:
    """The JSON result: machine, parameters and one entry per scenario, in run order."""
    return {
        "suite": "spm-rules scale benchmarks",
        "machine": machine() | {"load_average": {"start": list(suite.load_at_start), "end": list(os.getloadavg())}},
        "parameters": {
            "tickets": suite.count,
            "seed": suite.seed,
            "at": suite.at.isoformat(),
            "notifications": suite.notifications,
            "matcher": suite.matcher,
            "timeout_seconds": suite.timeout,
            "postgres": bool(suite.postgres),
        },
        "scenarios": list(suite.results.values()),
    }


def table(result: dict[str, Any]) -> str:
    """The result as a Markdown table (what README.md's Performance section shows)."""
    lines = [
        "| scenario | tickets | CPU s | wall s | peak RSS MiB | CPU µs/ticket | × json.loads | × matcher | note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for entry in result["scenarios"]:
        if entry.get("status") != "ok":
            lines.append(f"| {entry['name']} | | | | | | | | {entry['status']}: {entry.get('note', '')} |")
            continue
        tickets = entry.get("tickets")
        ratios = entry.get("ratios", {})
        per_ticket = f"{entry['cpu_seconds'] / tickets * 1e6:,.0f}" if tickets else ""
        note = _note(entry)
        lines.append(
            f"| {entry['name']} | {tickets or ''} | {entry['cpu_seconds']:,.2f} | {entry['wall_seconds']:,.2f} | {entry['peak_rss_mib']:,.0f}"
            f" | {per_ticket} | {_ratio(ratios.get('cpu_vs_loads'))} | {_ratio(ratios.get('cpu_vs_matcher'))} | {note} |"
        )
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return f"{value:,.1f}" if value is not None else ""


def _note(entry: dict[str, Any]) -> str:
    detail, ratios, notes = entry.get("detail", {}), entry.get("ratios", {}), []
    if "server_cpu_seconds" in entry:
        notes.append(f"PostgreSQL server CPU {entry['server_cpu_seconds']:,.1f} s")
    if entry["name"] == "cli-help" and ratios:
        notes.append(f"{ratios['wall_vs_python_start']}× the wall, {ratios['cpu_vs_python_start']}× the CPU of python -c pass")
    if "speedup" in detail:
        notes.append(f"speed-up {detail['speedup']}× over one worker ({detail['one_worker_wall_seconds']:,.1f} s wall)")
    if "notifications" in detail:
        notes.append(
            f"{detail['notifications']} notifications, {detail['sent']} sent in {detail['messages_received']} messages;"
            f" delivery alone ≈ {detail['delivery_cpu_seconds']:,.1f} CPU s, {detail['delivery_wall_seconds']:,.1f} s wall"
            f" ({detail.get('notifications_per_second') or 0:,.0f} notifications/s; {detail.get('notifications_per_cpu_second') or 0:,.0f} per CPU s)"
        )
    if "messages_per_second" in detail:
        notes.append(f"{detail['count']} messages, {detail['messages_per_second'] or 0:,.0f} messages/s ({CHANNEL_CONCURRENCY} at once)")
    elif "enqueued" in detail and entry["kind"] == "run":
        notes.append(f"{sum(detail['transitions'].values())} transitions, {detail['enqueued']} notifications enqueued")
    if "matching_cpu_seconds" in detail:
        notes.append(f"{detail['facts']} facts, matching alone {detail['matching_cpu_seconds']:,.2f} CPU s")
    return "; ".join(notes)


def _scale(text: str) -> int:
    if text.lower() in SCALES:
        return SCALES[text.lower()]
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: one of {', '.join(SCALES)} or a number of tickets") from None


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the suite from the command line; return the JSON result."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=_scale, default=SCALES["10k"], help="tickets in the fleet: 10k, 100k, 1m or a number (default 10k)")
    parser.add_argument("--scenarios", default="", help="comma-separated scenario names (default: all; see --list)")
    parser.add_argument("--skip", default="", help="comma-separated scenario names not to run")
    parser.add_argument("--json", dest="json_path", default=None, help="write the JSON result to this file (- for standard output)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds one scenario's process may take (default 3600)")
    parser.add_argument("--notifications", type=int, default=None, help="notifications in the delivery burst (default: a tenth of the scale)")
    parser.add_argument("--postgres", default=os.environ.get(POSTGRES_ENV), help=f"PostgreSQL URL for the PostgreSQL scenarios (default ${POSTGRES_ENV})")
    parser.add_argument("--matcher", choices=("auto", "python", "durable"), default="auto", help="the matcher the CLI and Engine scenarios use")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--startup-repeats", type=int, default=5, help="runs of each start-up scenario (the median is kept)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the fleets and states here (default: a temporary directory)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if args.list:
        for scenario in SCENARIOS.values():
            print(f"{scenario.name:<17} {scenario.title}")
        return {}
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()] or list(SCENARIOS)
    skipped = {name.strip() for name in args.skip.split(",") if name.strip()}
    unknown = [name for name in [*names, *skipped] if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    names = [name for name in names if name not in skipped]
    temporary = None
    if args.workdir is None:
        temporary = tempfile.TemporaryDirectory(prefix="spm-bench-")
        workdir = Path(temporary.name)
    else:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)
    suite = Suite(
        args.scale, workdir=workdir, seed=args.seed, notifications=args.notifications, timeout=args.timeout,
        postgres=args.postgres or None, matcher=args.matcher, startup_repeats=args.startup_repeats,
    )  # fmt: skip
    try:
        for name in names:
            if name not in suite.results:
                suite.run_scenario(SCENARIOS[name])
    finally:
        suite.schemas.close()
        if temporary is not None:
            temporary.cleanup()
    suite.add_ratios()
    result = document(suite)
    rendered = json.dumps(result, indent=2, ensure_ascii=False)
    if args.json_path == "-":
        print(table(result), file=sys.stderr)
        print(rendered)
    else:
        print(table(result))
        if args.json_path:
            Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json_path).write_text(rendered + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
