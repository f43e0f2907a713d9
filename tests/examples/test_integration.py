"""The integration examples (examples/integration/), each run as a user runs it: the help
desk's cron job with write-back and follow-up tasks against PostgreSQL (10,000 tickets)
and SQLite, a ticket system posting events to spm-rules serve, and the systemd and
Kubernetes manifests."""

from __future__ import annotations

import configparser
import shlex
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from sqlalchemy import create_engine, select

from spm_rules.engine import Engine
from spm_rules.ruleset.loader import load_ruleset
from spm_rules.serve import EventServer, EventService
from spm_rules.state.store import Store
from tests.fixtures.database import fresh_postgres_schema, postgres_base_url
from tests.fixtures.helpdesk import HELPDESK, HELPDESK_RULESET, UNTIL, example_module, helpdesk_generator
from tests.fixtures.processes import ROOT, python

INTEGRATION = ROOT / "examples" / "integration"
AT = "2026-11-25T14:00:00+08:00"


@pytest.fixture(params=[pytest.param(("postgresql", 10_000), marks=pytest.mark.postgres, id="postgresql-10000"), pytest.param(("sqlite", 1_000), id="sqlite-1000")])
def helpdesk_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    kind, count = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'helpdesk.db'}"
        helpdesk_generator().create(url, count, UNTIL, 14)
        yield url, count
        return
    with fresh_postgres_schema(postgres_base_url()) as url:
        helpdesk_generator().create(url, count, UNTIL, 14)
        yield url, count


def _job(url: str, state: str, at: str) -> str:
    return python(str(HELPDESK / "job.py"), "--tickets-db", url, "--state", state, "--at", at).stdout.strip()


def _check_written_back(url: str, state: str) -> int:
    """The help desk's sla_level column says what the state says, and each escalated ticket
    has one follow-up task keyed by its notification; return the tasks."""
    generator = helpdesk_generator()
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        levels = dict(conn.execute(select(generator.tickets.c.ticket_no, generator.tickets.c.sla_level)).all())
        tasks = conn.execute(select(generator.follow_up_tasks)).mappings().all()
    engine.dispose()
    with Store(state) as store:
        stored = {int(s.ticket_id): s.levels.get("response") or "ok" for s in store.open_tickets()}
        escalated = {int(e.ticket_id) for e, _ticket in store.open_escalations() if e.level == "escalate"}
    assert {no: level for no, level in levels.items() if level is not None} == stored
    assert Counter(stored.values())["escalate"] == len(escalated) > 0
    assert sorted(task["ticket_no"] for task in tasks) == sorted(escalated)
    assert {task["notification_key"] for task in tasks} == {f"{no}|response|escalate|1" for no in escalated}
    assert all(task["assignee"] == "duty-manager" and task["title"].startswith(f"Follow up {task['ticket_no']}: escalate") for task in tasks)
    return len(tasks)


def test_the_cron_job_writes_levels_back_and_opens_follow_up_tasks(helpdesk_db: tuple[str, int], tmp_path: Path) -> None:
    url, count = helpdesk_db
    state = f"sqlite:///{tmp_path / 'state.db'}"
    rows, _events = helpdesk_generator().generate(count, UNTIL, 14)
    still_open = [row for row in rows if row["state"] != "resolved"]
    first = _job(url, state, AT)
    assert f": {count} tickets evaluated, 0 rejected;" in first and first.endswith(f"; {len(still_open)} levels written back")
    tasks = _check_written_back(url, state)
    # five minutes later: only open tickets (and those closed since) are read; only the
    # levels that changed are written, and only new escalations open tasks
    later = _job(url, state, "2026-11-25T14:05:00+08:00")
    changed = int(later.rsplit(";", 1)[1].split()[0])
    read_again = sum(1 for row in rows if row["closed_at"] is None or row["closed_at"] >= UNTIL)
    assert f": {read_again} tickets evaluated, 0 rejected;" in later and changed < len(still_open) // 20
    assert _check_written_back(url, state) >= tasks


def test_the_cron_job_never_prints_a_database_password(tmp_path: Path) -> None:
    done = python(str(HELPDESK / "job.py"), "--tickets-db", "postgresql://helpdesk:hunter2@127.0.0.1:1/helpdesk", "--state", f"sqlite:///{tmp_path / 's.db'}", check=False)
    assert done.returncode != 0
    assert "hunter2" not in done.stdout + done.stderr and "helpdesk:***@127.0.0.1:1/helpdesk" in done.stderr


def test_a_ticket_system_posts_its_changes_to_spm_rules_serve(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'helpdesk.db'}"
    helpdesk_generator().create(database, 200, UNTIL, 14)
    rows, _events = helpdesk_generator().generate(200, UNTIL, 14)
    poster = example_module("events/post_event.py")
    ruleset = load_ruleset(HELPDESK_RULESET)
    now = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)
    with Store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        server = EventServer(("127.0.0.1", 0), EventService(store, ruleset, engine=Engine(ruleset, "python"), clock=lambda: now), "token-14")
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            chosen = next(row for row in rows if row["state"] == "open" and row["priority_code"] == 1 and row["site_city"] == "Lhasa")
            document = poster.ticket_document(database, chosen["ticket_no"])
            assert "tier" not in document and document["priority_code"] == 1  # the help desk's own shape
            answer = poster.post_ticket(document, server.url, "token-14")
        finally:
            server.shutdown()
            server.server_close()
        (result,) = answer["results"]
        # mapped on the server: code 1 is P2, a city outside the map is the remote region
        assert (result["ticket"], result["tier"], result["region"], result["provider"]) == (str(chosen["ticket_no"]), "P2", "remote", "remote-support")
        assert ("remote-sites", "route") in [(d["rule"], d["action"]) for d in result["decisions"]]
        assert store.ticket(str(chosen["ticket_no"])).routed_to == "remote-support"


def test_the_systemd_units_parse_and_run_the_example_job() -> None:
    units = {}
    for path in sorted((INTEGRATION / "systemd").iterdir()):
        parser = configparser.ConfigParser(interpolation=None, strict=True)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  (systemd keys are case-sensitive)
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
        units[path.name] = parser
    assert set(units) == {"spm-rules-helpdesk.service", "spm-rules-helpdesk.timer", "spm-rules-serve.service"}
    job = shlex.split(units["spm-rules-helpdesk.service"]["Service"]["ExecStart"])
    assert job[1].endswith("examples/integration/helpdesk/job.py") and (ROOT / job[1].split("/opt/spm-rules/", 1)[1]).is_file()
    assert units["spm-rules-helpdesk.timer"]["Timer"]["OnCalendar"] == "*:0/5"
    serve = shlex.split(units["spm-rules-serve.service"]["Service"]["ExecStart"])
    assert serve[1:2] == ["serve"] and (ROOT / serve[serve.index("--ruleset") + 1].split("/opt/spm-rules/", 1)[1]).is_file()
    for unit in units.values():
        assert "password" not in str(dict(unit["Service"])) if unit.has_section("Service") else True


def test_the_kubernetes_cronjob_parses_and_runs_the_example_job() -> None:
    (manifest,) = list(yaml.safe_load_all((INTEGRATION / "kubernetes" / "cronjob.yaml").read_text(encoding="utf-8")))
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "CronJob")
    assert manifest["spec"]["schedule"] == "*/5 * * * *" and manifest["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert (ROOT / container["command"][1].split("/opt/spm-rules/", 1)[1]).is_file()
    assert {env["name"]: "secretKeyRef" in env["valueFrom"] for env in container["env"]} == {"HELPDESK_DB": True, "SPM_RULES_STATE": True}
