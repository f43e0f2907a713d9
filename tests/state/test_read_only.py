"""A state the process may only read: every read-only command works, a command that writes
fails with a clear error (never a traceback, never a silent reset).

Three ways a state is read-only here: an SQLite file this process may not write (the
owner's ``chmod 0444``; run as root, the commands run as ``nobody`` on a root-owned file,
since root ignores file modes), an SQLite ``mode=ro`` URI, and a PostgreSQL role granted
only SELECT (and read-only transactions, as on a replica).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from spm_rules.cli import EXIT_INVALID, EXIT_OK, main
from spm_rules.state.store import Store
from tests.state.helpers import restore_spm_logger  # noqa: F401 (autouse fixture)
from tests.state.helpers import ROOT

ENTERPRISE = str(ROOT / "rulesets" / "enterprise-command-center.yaml")
TICKETS = str(ROOT / "examples" / "enterprise-tickets.jsonl")
AT = "2026-11-25T14:00:00+08:00"
NOBODY = 65534


def read_only_commands(out_dir: Path) -> list[tuple[list[str], str]]:
    """Every command that only reads the state, with a text its output must show."""
    return [
        (["history", "EC-1001"], "escalation #1"),
        (["escalations", "--ruleset", ENTERPRISE, "--at", AT], "EC-1001"),
        (["outbox", "--ruleset", ENTERPRISE, "--at", AT], ""),
        (["silences", "list"], "no silences"),
        (["report", "scorecard", "--ruleset", ENTERPRISE, "--since", "2026-11-25", "--until", "2026-11-26"], "tickets closed"),
        (["status", "EC-1001", "--ruleset", ENTERPRISE, "--at", AT], "EC-1001"),
        (["board", "--ruleset", ENTERPRISE, "--at", AT, "--out", str(out_dir / "board.html")], ""),
        (["explain", "EC-1001", "--ruleset", ENTERPRISE, "--tickets", TICKETS, "--at", AT], "EC-1001"),
    ]


def fill(url: str) -> None:
    """The shipped enterprise run at 14:00 (no delivery): open escalations, a pending outbox."""
    assert main(["run", "--ruleset", ENTERPRISE, "--tickets", TICKETS, "--state", url, "--at", AT, "--quiet", "--no-deliver"]) == EXIT_OK


def spm_rules(*args: str, user: int | None) -> subprocess.CompletedProcess[str]:
    """``spm-rules ARGS`` in a new process, as ``user`` (a uid) when given."""
    command = [sys.executable, "-m", "spm_rules", *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd="/")


@pytest.fixture(params=["delete", "wal"])
def unwritable_state(request: pytest.FixtureRequest) -> Iterator[tuple[Path, int | None]]:
    """An SQLite state this test's subprocesses may read but not write: (its directory, the uid to run as).

    The file is in rollback-journal mode (a copy made with ``sqlite3 .backup``) or in WAL
    mode (the state as runs leave it).  Not root: the file is ``chmod 0444`` in a
    directory the user owns (the -shm file WAL readers need can be created).  Root ignores
    file modes: the file stays root's (0644) and the commands run as ``nobody``, who owns
    the directory.
    """
    folder = Path(tempfile.mkdtemp(prefix="spm-read-only-"))
    try:
        path = folder / "state.db"
        fill(f"sqlite:///{path}")
        with sqlite3.connect(path) as conn:
            conn.execute(f"PRAGMA journal_mode={request.param}")
        for extra in folder.glob("state.db-*"):
            extra.unlink()
        user = NOBODY if os.geteuid() == 0 else None
        if user is None:
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        else:
            if shutil.which("setpriv") is None:
                pytest.fail("running as root needs setpriv (util-linux) to test a read-only state as another user")
            path.chmod(0o644)
            os.chown(folder, NOBODY, -1)
            folder.chmod(0o755)
        yield folder, user
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_read_only_commands_read_an_sqlite_file_the_process_may_not_write(unwritable_state: tuple[Path, int | None]) -> None:
    folder, user = unwritable_state
    url = f"sqlite:///{folder / 'state.db'}"
    before = (folder / "state.db").read_bytes()
    for args, shows in read_only_commands(folder)[:2]:  # every command: the mode=ro test below (new processes are slow)
        done = spm_rules(*args, "--state", url, user=user)
        assert done.returncode == EXIT_OK, (args, done.stderr)
        assert shows in done.stdout, args

    refused = spm_rules("run", "--ruleset", ENTERPRISE, "--tickets", TICKETS, "--state", url, "--at", AT, "--no-deliver", user=user)
    assert refused.returncode == EXIT_INVALID
    assert "readonly database" in refused.stderr and "Traceback" not in refused.stderr
    assert (folder / "state.db").read_bytes() == before


@pytest.mark.parametrize("unwritable_state", ["wal"], indirect=True)
def test_a_wal_state_whose_directory_is_read_only_too_gives_a_clear_error_and_reads_as_immutable(
    unwritable_state: tuple[Path, int | None],
) -> None:
    """SQLite cannot read a WAL file without creating its -shm file beside it."""
    folder, user = unwritable_state
    if user is not None:
        os.chown(folder, 0, -1)
    else:
        folder.chmod(0o555)
    try:
        done = spm_rules("history", "EC-1001", "--state", f"sqlite:///{folder / 'state.db'}", user=user)
        assert done.returncode == EXIT_INVALID
        assert "read-only" in done.stderr and "immutable=1" in done.stderr and "Traceback" not in done.stderr
        copy = spm_rules("history", "EC-1001", "--state", f"sqlite:///file:{folder / 'state.db'}?immutable=1&uri=true", user=user)
        assert copy.returncode == EXIT_OK, copy.stderr
        assert "escalation #1" in copy.stdout
    finally:
        folder.chmod(0o755)


def test_read_only_commands_work_on_an_sqlite_mode_ro_uri(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.db"
    fill(f"sqlite:///{path}")
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    before = path.read_bytes()
    for args, shows in read_only_commands(tmp_path):
        capsys.readouterr()
        assert main([*args, "--state", url]) == EXIT_OK, args
        assert shows in capsys.readouterr().out, args
    assert main(["run", "--ruleset", ENTERPRISE, "--tickets", TICKETS, "--state", url, "--at", "2026-11-25T15:00:00+08:00", "-q"]) == EXIT_INVALID
    assert "readonly database" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("state.db")) == ["board.html"], "a URI path must not create a file"


@pytest.fixture
def select_only_url(postgres_url: str) -> Iterator[str]:
    """The filled state in a fresh schema, seen through a role that may only SELECT, in read-only transactions."""
    fill(postgres_url)
    role = f"spm_reader_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(postgres_url)
    schema = dict(part.split("=", 1) for part in parts.query.split("&"))["application_name"]
    admin_url = urlunsplit(parts._replace(scheme="postgresql", query=""))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
        admin.execute(f'ALTER ROLE "{role}" SET default_transaction_read_only = on')
        try:
            yield urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


@pytest.mark.postgres
def test_read_only_commands_work_for_a_postgresql_role_that_may_only_select(
    select_only_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, shows in read_only_commands(tmp_path):
        capsys.readouterr()
        assert main([*args, "--state", select_only_url]) == EXIT_OK, args
        assert shows in capsys.readouterr().out, args
    assert main(["run", "--ruleset", ENTERPRISE, "--tickets", TICKETS, "--state", select_only_url, "--at", "2026-11-25T15:00:00+08:00", "-q"]) == EXIT_INVALID
    assert "read-only transaction" in capsys.readouterr().err
    with Store(select_only_url) as store:
        assert store.last_run_at() is not None
