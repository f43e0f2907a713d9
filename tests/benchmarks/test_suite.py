"""The scale suite's harness at a tiny scale: every scenario runs, and the result has the documented shape.

Times are never asserted (they are what the suite measures); what is asserted is that each
scenario ran its work (tickets evaluated, notifications delivered and received) and that
the figures are per process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks import suite
from tests.fixtures.database import postgres_base_url

FIGURES = ("cpu_seconds", "user_seconds", "system_seconds", "wall_seconds", "peak_rss_mib")
PER_TICKET = {"loads", "matcher", "evaluate-lib", "evaluate-cli", "first-sqlite", "steady-sqlite", "changed-sqlite",
              "first-postgres", "steady-postgres", "changed-postgres", "workers-2", "deliver-http", "deliver-file"}  # fmt: skip


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every scenario at 200 tickets and 50 notifications, PostgreSQL included."""
    postgres = postgres_base_url()
    out = tmp_path_factory.mktemp("suite") / "result.json"
    workdir = tmp_path_factory.mktemp("work")
    argv = ["--scale", "200", "--notifications", "50", "--startup-repeats", "1", "--timeout", "300"]
    suite.main([*argv, "--postgres", postgres, "--workdir", str(workdir), "--json", str(out)])
    return json.loads(out.read_text(encoding="utf-8"))


def test_every_scenario_ran_and_reports_its_figures(result: dict) -> None:
    entries = {entry["name"]: entry for entry in result["scenarios"]}
    assert list(entries) == list(suite.SCENARIOS)
    for name, entry in entries.items():
        assert entry["status"] == "ok", (name, entry.get("note"))
        assert all(isinstance(entry[key], float | int) and entry[key] >= 0 for key in FIGURES), name
        assert entry["peak_rss_mib"] > 0
    for name in PER_TICKET:
        assert entries[name]["tickets"] > 0
        assert set(entries[name]["ratios"]) == {"cpu_vs_loads", "cpu_vs_matcher"}
    assert entries["loads"]["ratios"]["cpu_vs_loads"] == 1.0
    assert set(entries["cli-help"]["ratios"]) == {"cpu_vs_python_start", "wall_vs_python_start"}
    assert all("server_cpu_seconds" in entries[name] for name in entries if "postgres" in name or name == "workers-2")


def test_the_runs_did_their_work(result: dict) -> None:
    entries = {entry["name"]: entry for entry in result["scenarios"]}
    for backend in ("sqlite", "postgres"):
        first, steady, changed = (entries[f"{kind}-{backend}"]["detail"] for kind in ("first", "steady", "changed"))
        assert first["evaluated"] == 200 and first["transitions"]["new"] > 0 and first["enqueued"] > 0
        assert steady["evaluated"] == 200 and steady["transitions"] == {} and steady["enqueued"] == 0
        assert changed["evaluated"] == entries[f"changed-{backend}"]["tickets"] >= 200
        assert changed["transitions"]
    assert entries["evaluate-lib"]["detail"]["count"] == 200
    assert entries["workers-2"]["detail"]["speedup"] > 0
    for sink in ("deliver-http", "deliver-file"):
        detail = entries[sink]["detail"]
        assert detail["notifications"] >= 50
        assert detail["sent"] == detail["notifications"]
        assert 0 < detail["messages_received"] <= detail["sent"]  # grouped: one message carries several
    for sink in ("channel-http", "channel-file"):
        detail = entries[sink]["detail"]
        assert detail["count"] == detail["messages"] == 50 and detail["messages_per_second"] > 0


def test_document_names_the_machine_and_parameters(result: dict) -> None:
    assert result["machine"]["cpus"] >= 1
    assert result["machine"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert set(result["machine"]["load_average"]) == {"start", "end"}
    assert result["parameters"] | {"timeout_seconds": 0} == {
        "tickets": 200, "seed": 7, "at": suite.fleet.AT.isoformat(), "notifications": 50,
        "matcher": "auto", "timeout_seconds": 0, "postgres": True,
    }  # fmt: skip
    rendered = suite.table(result)
    assert all(f"| {name} |" in rendered for name in suite.SCENARIOS)


def _suite(tmp_path: Path, **options: object) -> suite.Suite:
    return suite.Suite(200, workdir=tmp_path, log=lambda _: None, **options)  # type: ignore[arg-type]


def test_a_scenario_past_its_timeout_is_killed_and_reported(tmp_path: Path) -> None:
    entry = _suite(tmp_path, timeout=0.0).run_scenario(suite.SCENARIOS["loads"])
    assert entry["status"] == "timed out"
    assert entry["note"].startswith("json.loads timed out after ")


def test_a_failing_process_is_reported_with_its_error(tmp_path: Path) -> None:
    done = suite.measure([[sys.executable, "-c", "import sys; sys.exit('no tickets here')"]], 60)
    with pytest.raises(suite.ScenarioFailed, match="exited 1: no tickets here"):
        suite._check(done, "the probe")


def test_postgres_scenarios_are_skipped_without_a_url(tmp_path: Path) -> None:
    entry = _suite(tmp_path, postgres=None).run_scenario(suite.SCENARIOS["steady-postgres"])
    assert entry["status"] == "skipped"
    assert "SPM_TEST_POSTGRES_URL" in entry["note"]


def test_peak_memory_is_each_process_own(tmp_path: Path) -> None:
    big = suite.measure([[sys.executable, "-c", "block = b'x' * (120 * 2**20)"]], 60)
    small = suite.measure([[sys.executable, "-c", "pass"]], 60)
    assert big.peak_rss_kib >= 120 * 1024
    assert small.peak_rss_kib < 60 * 1024


def test_two_processes_at_once_sum_their_cpu(tmp_path: Path) -> None:
    burn = [sys.executable, "-c", "import time; end = time.process_time() + 0.3\nwhile time.process_time() < end: pass"]
    done = suite.measure([burn, burn], 60)
    assert done.exit_codes == [0, 0]
    assert done.cpu >= 0.6


@pytest.mark.parametrize(("load", "warned"), [(0.3, False), (3.0, True)])
def test_a_busy_machine_is_said_before_anything_is_measured(load: float, warned: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CPU seconds run high on a shared machine (the baseline doubled at a load of 2 on 2
    cores): the suite says so at the start, so that such figures are not compared with idle ones."""
    monkeypatch.setattr(suite.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(suite.os, "cpu_count", lambda: 2)
    said: list[str] = []
    suite.Suite(200, workdir=tmp_path, log=said.append)
    assert [line for line in said if line.startswith("warning: load average")] == (
        ["warning: load average 3.0 on 2 CPUs: other jobs share the machine, and the CPU seconds measured now run high (up to twice); "
         "compare runs measured on an idle machine"] if warned else []
    )
