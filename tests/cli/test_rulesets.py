"""``spm-rules validate`` and ``spm-rules evaluate`` end to end, as an operator runs them."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spm_rules.cli import EXIT_INVALID, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main
from spm_rules.match import durable_adapter

ROOT = Path(__file__).resolve().parents[2]
ENTERPRISE = str(ROOT / "rulesets" / "enterprise-command-center.yaml")
EXAMPLES = str(ROOT / "examples" / "enterprise-tickets.jsonl")
AT = "2026-11-25T14:00:00+08:00"

BROKEN = """\
name: broken
tiers: {P4: {response: 4h}}
stages: [dispatched]
terminal_statuses: [resolved]
policies:
  - name: response
    targets: {dispatched: 4hrs}
    levles:
      - {name: red, at: 100%}
    levels:
      - {name: red, at: 100%}
rules:
  - name: red
    when: {field: sla.level, eq: red}
    then: [{notify: [command-centre]}]
receivers:
  command-center: {urls: ["json://localhost/cc"]}
"""


def test_validate_shipped_rulesets(capsys: pytest.CaptureFixture[str]) -> None:
    paths = sorted(str(p) for p in (ROOT / "rulesets").glob("*.yaml"))
    assert main(["validate", "--strict", *paths]) == EXIT_OK
    captured = capsys.readouterr()
    assert all(f"{p}: ok" in captured.out for p in paths)
    assert "warning" not in captured.out + captured.err


def test_validate_prints_located_warnings_and_strict_fails_on_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "warned.yaml"
    path.write_text(
        BROKEN.replace("4hrs", "4h").replace("levles:\n      - {name: red, at: 100%}\n    ", "")
        .replace("eq: red}", "eq: redd}")
        .replace("command-centre", "command-center")
        .replace("json://localhost/cc", "slak://T000/B000/s3cr3t"),
        encoding="utf-8",
    )
    assert main(["validate", str(path)]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == f"{path}: ok (1 policies, 1 rules, 1 receivers; 2 warnings)\n"
    assert captured.err.splitlines() == [
        f"warning: {path}:12: rules.0.when.eq: sla.level is compared with 'redd', which no policy defines as a level (hint: did you mean 'red'?)",
        f"warning: {path}:15: receivers.command-center.urls.0: unknown Apprise scheme 'slak': notifications to this URL cannot be sent (hint: did you mean 'slack'?)",
    ]
    assert main(["validate", "--strict", str(path)]) == EXIT_INVALID
    assert "s3cr3t" not in capsys.readouterr().err


def test_validate_reports_typo_bad_duration_and_unknown_receiver(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    assert main(["validate", str(path)]) == EXIT_INVALID
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"{path}:7: policies.0.targets.dispatched: bad duration '4hrs': use a number and a unit w/d/h/m/s, e.g. '4h', '1h30m', '90s'",
        f"{path}:8: policies.0.levles: unknown key 'levles' (hint: did you mean 'levels'?)",
        f"{path}:15: rules.0.then.0.notify.0: unknown receiver 'command-centre' (hint: did you mean 'command-center'?)",
    ]


def test_validate_keeps_going_over_several_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    assert main(["validate", str(bad), ENTERPRISE]) == EXIT_INVALID
    captured = capsys.readouterr()
    assert f"{bad}:2: malformed YAML" in captured.err
    assert f"{ENTERPRISE}: ok" in captured.out


def test_evaluate_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--ruleset", ENTERPRISE, "--tickets", EXAMPLES, "--at", AT, "--format", "json", "--matcher", "python"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert document["at"] == "2026-11-25T06:00:00+00:00"
    tickets = {t["ticket"]: t for t in document["tickets"]}
    assert len(tickets) == 11 and document["rejected"] == []
    red = next(s for s in tickets["EC-1002"]["sla"] if s["policy"] == "response")
    assert red["level"] == "red" and red["due_at"] == "2026-11-25T06:00:00+00:00"
    assert {d["action"] for d in tickets["EC-1002"]["decisions"]} == {"notify", "tag"}


def test_evaluate_json_shows_the_assigned_and_the_reported_provider(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--ruleset", ENTERPRISE, "--tickets", EXAMPLES, "--at", AT, "--format", "json", "--matcher", "python"]) == EXIT_OK
    tickets = {t["ticket"]: t for t in json.loads(capsys.readouterr().out)["tickets"]}
    shown = {tid: (tickets[tid]["provider"], tickets[tid]["provider_reported"], tickets[tid]["routed_by"]) for tid in ("EC-1002", "EC-1005", "EC-1011")}
    assert shown == {
        "EC-1002": ("partner-east", "partner-east", None),
        "EC-1005": ("maker-engineers", None, "dispatch-request"),
        "EC-1011": ("partner-east", None, "dispatch-request"),
    }
    red = next(d for d in tickets["EC-1011"]["decisions"] if d["action"] == "notify")
    assert (red["policy"], red["level"]) == ("response", "red")


CONFLICTING = BROKEN.split("policies:")[0] + """\
policies:
  - name: response
    targets: {dispatched: 4h}
    levels: [{name: red, at: 100%}]
rules:
  - name: dispatch
    when: {field: provider, present: false}
    then: [{route: {provider: partner-a}}]
  - name: east
    when: {field: region, eq: east}
    then: [{route: {provider: partner-b}}]
"""


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_evaluate_reports_route_conflicts(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "conflicting.yaml"
    rules.write_text(CONFLICTING, encoding="utf-8")
    tickets = tmp_path / "t.jsonl"
    tickets.write_text(json.dumps({"id": "X", "tier": "P4", "status": "open", "region": "east", "created_at": "2026-11-25T08:00:00+08:00"}) + "\n", encoding="utf-8")
    assert main(["evaluate", "--ruleset", str(rules), "--tickets", str(tickets), "--at", AT, "--format", fmt]) == EXIT_OK
    captured = capsys.readouterr()
    assert "warning: X: route conflict: rule 'east' routes to 'partner-b', but rule 'dispatch' (earlier in the ruleset) assigned 'partner-a'" in captured.err
    if fmt == "json":
        document = json.loads(captured.out)
        conflict = {"rule": "east", "provider": "partner-b", "assigned_by": "dispatch", "assigned": "partner-a"}
        assert document["route_conflicts"] == [{"ticket": "X", **conflict}]
        assert document["tickets"][0]["route_conflicts"] == [conflict] and document["tickets"][0]["provider"] == "partner-a"
    else:
        assert "route → partner-a" in captured.out and "route → partner-b (conflict: not applied)" in captured.out


def test_evaluate_table_shows_levels(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--ruleset", ENTERPRISE, "--tickets", EXAMPLES, "--at", AT]) == EXIT_OK
    out = capsys.readouterr().out
    for text in ("EC-1001", "escalate", "red", "yellow", "(paused)", "notify command-center, partner-desk (every 30m)", "route → maker-engineers"):
        assert text in out


def test_evaluate_bad_rows_exit_partial_and_others_still_evaluated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = Path(EXAMPLES).read_text(encoding="utf-8").splitlines()
    broken = json.loads(lines[1])
    broken["created_at"] = "2026-11-25 nine o'clock"
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(broken), "{oops", *lines[2:]]) + "\n", encoding="utf-8")
    code = main(["evaluate", "--ruleset", ENTERPRISE, "--tickets", str(path), "--at", AT, "--format", "json"])
    assert code == EXIT_PARTIAL
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["tickets"]) == len(lines) - 1
    assert f"{path}: row 2 ticket EC-1002: created_at: not an ISO 8601 time" in captured.err
    assert f"{path}: row 3: json: malformed JSON" in captured.err


def test_evaluate_invalid_ruleset_and_bad_at(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    assert main(["evaluate", "--ruleset", str(path), "--tickets", EXAMPLES]) == EXIT_INVALID
    assert "unknown receiver" in capsys.readouterr().err
    assert main(["evaluate", "--ruleset", ENTERPRISE, "--tickets", EXAMPLES, "--at", "tomorrow"]) == EXIT_USAGE
    assert "not an ISO 8601 time" in capsys.readouterr().err


def test_missing_tickets_file_is_an_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--ruleset", ENTERPRISE, "--tickets", "/nonexistent.jsonl", "--at", AT]) == EXIT_INVALID
    err = capsys.readouterr().err
    assert "cannot read tickets" in err and "Traceback" not in err


def test_python_m_and_console_script_are_the_same_command() -> None:
    args = ["evaluate", "--ruleset", ENTERPRISE, "--tickets", EXAMPLES, "--at", AT, "--format", "json"]
    by_module = subprocess.run([sys.executable, "-m", "spm_rules", *args], capture_output=True, text=True, check=True)
    script = shutil.which("spm-rules", path=str(Path(sys.executable).parent))
    assert script is not None, "the spm-rules console script is not installed next to this Python"
    by_script = subprocess.run([script, *args], capture_output=True, text=True, check=True)
    assert json.loads(by_module.stdout) == json.loads(by_script.stdout)
    bad = subprocess.run([sys.executable, "-m", "spm_rules", "validate", "/nonexistent.yaml"], capture_output=True, text=True)
    assert bad.returncode == EXIT_INVALID and "Traceback" not in bad.stderr


def test_schema_accepts_the_shipped_rulesets_and_rejects_a_typo(capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema
    import yaml

    assert main(["schema"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    validator = jsonschema.Draft202012Validator(document)
    for path in sorted((ROOT / "rulesets").glob("*.yaml")):
        # As an editor sees it: dates are text.
        data = json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))
        assert [error.message for error in validator.iter_errors(data)] == [], path
    data["policies"][0]["tagret"] = "1h"
    assert any("tagret" in error.message for error in validator.iter_errors(data))


@pytest.mark.parametrize("command", ["evaluate"])
def test_without_at_the_current_time_is_used(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from freezegun import freeze_time

    with freeze_time("2026-11-25T06:00:00Z"):
        assert main([command, "--ruleset", ENTERPRISE, "--tickets", EXAMPLES, "--format", "json", "--matcher", "python"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert document["at"] == "2026-11-25T06:00:00+00:00"
    red = next(s for t in document["tickets"] if t["ticket"] == "EC-1002" for s in t["sla"] if s["policy"] == "response")
    assert red["level"] == "red"
    with freeze_time("2026-11-25T04:59:59Z"):
        assert main([command, "--ruleset", ENTERPRISE, "--tickets", EXAMPLES, "--format", "json", "--matcher", "python"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    yellow = next(s for t in document["tickets"] if t["ticket"] == "EC-1002" for s in t["sla"] if s["policy"] == "response")
    assert yellow["level"] is None  # 75 % of 4h is reached at 05:00:00Z, one second later


@pytest.mark.parametrize("command", ["evaluate", "run"])
def test_matcher_durable_where_it_does_not_import_names_the_cli_flag(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(durable_adapter, "_IMPORT_ERROR", ImportError("undefined symbol: PyEval_CallObject"))
    args = [command, "--ruleset", ENTERPRISE, "--tickets", EXAMPLES, "--at", AT, "--matcher", "durable"]
    if command == "run":
        args += ["--state", f"sqlite:///{tmp_path / 'state.db'}", "--no-deliver"]
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "use --matcher python" in err and "engine=" not in err and "Traceback" not in err


GBK_CSV = "id,tier,status,created_at,region,provider,fault\nEC-1,P4,open,2026-11-25T09:00:00+08:00,east,partner-east,{fault}\n"


def test_evaluate_a_gbk_csv_locates_the_bad_bytes_instead_of_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tickets.csv"
    path.write_bytes(GBK_CSV.format(fault="硬盘维修").encode("gbk"))
    assert main(["evaluate", "--ruleset", ENTERPRISE, "--tickets", str(path), "--at", AT, "--format", "json"]) == EXIT_PARTIAL
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rejected"][0]["field"] == "fault"
    assert f"{path}: row 2 ticket EC-1: fault: not valid UTF-8 text at byte 2 of the cell (0xc5)"  # 0xd3 0xb2 happens to be UTF-8 in captured.err
    assert "use --encoding gbk" in captured.err and "Traceback" not in captured.err
    assert main(["evaluate", "--ruleset", ENTERPRISE, "--tickets", str(path), "--at", AT, "--format", "json", "--encoding", "gbk"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert [t["ticket"] for t in document["tickets"]] == ["EC-1"] and document["rejected"] == []


def test_run_reads_the_encoding_given_and_refuses_an_unknown_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tickets.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GBK_CSV.format(fault="disk").encode())
    state = f"sqlite:///{tmp_path / 'state.db'}"
    base = ["run", "--ruleset", ENTERPRISE, "--tickets", str(path), "--state", state, "--at", AT, "--no-deliver", "--format", "json"]
    assert main([*base, "--encoding", "utf-8"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["tickets"]["evaluated"] == 1
    assert main([*base, "--encoding", "gbkk"]) == EXIT_USAGE
    assert "unknown encoding 'gbkk'" in capsys.readouterr().err


def test_standard_input_in_gbk_is_read_with_encoding() -> None:
    tickets = GBK_CSV.format(fault="硬盘维修").encode("gbk")
    args = [sys.executable, "-m", "spm_rules", "evaluate", "--ruleset", ENTERPRISE, "--tickets", "-", "--at", AT, "--format", "json"]
    plain = subprocess.run(args, input=tickets, capture_output=True, check=False)
    assert plain.returncode == EXIT_PARTIAL and b"use --encoding gbk" in plain.stderr
    decoded = subprocess.run([*args, "--encoding", "gbk"], input=tickets, capture_output=True, check=False)
    assert decoded.returncode == EXIT_OK, decoded.stderr
    assert [t["ticket"] for t in json.loads(decoded.stdout)["tickets"]] == ["EC-1"]


def test_evaluate_warns_of_tickets_it_cannot_measure_and_still_runs_their_other_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unknown = {"id": "EC-9", "tier": "P9", "status": "open", "created_at": "2026-11-25T09:00:00+08:00", "region": "east", "product_line": "rack",
               "stage_history": [{"stage": "dispached", "entered_at": "2026-11-25T09:10:00+08:00"}]}
    path = tmp_path / "t.jsonl"
    examples = Path(EXAMPLES).read_text(encoding="utf-8")
    path.write_text(examples + json.dumps(unknown) + "\n", encoding="utf-8")
    row = len(examples.splitlines()) + 1
    assert main(["evaluate", "--ruleset", ENTERPRISE, "--tickets", str(path), "--at", AT, "--format", "json"]) == EXIT_PARTIAL
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["rejected"] == []
    assert [(w["row"], w["field"]) for w in document["warnings"]] == [(row, "tier"), (row, "stage")]
    ticket = next(t for t in document["tickets"] if t["ticket"] == "EC-9")
    assert ticket["sla"] == [] and [(d["rule"], d["arguments"]["provider"]) for d in ticket["decisions"]] == [("dispatch-request", "partner-east")]
    assert f"warning: {path}: row {row} ticket EC-9: tier: tier 'P9' is not one of the ruleset's tiers (P2, P4, P6)" in captured.err
    assert f"warning: {path}: row {row} ticket EC-9: stage: stage 'dispached' is not one of the ruleset's stages" in captured.err
    assert "(hint: did you mean 'dispatched'?)" in captured.err
    assert main(["evaluate", "--ruleset", ENTERPRISE, "--tickets", str(path), "--at", AT]) == EXIT_PARTIAL
    assert "2 warnings" in capsys.readouterr().err
