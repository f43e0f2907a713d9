"""Loading rulesets: located errors for every kind of mistake, and the shipped rulesets."""

from pathlib import Path

import pytest

from spm_rules.errors import RulesetError
from spm_rules.ruleset.loader import MAX_RULESET_BYTES, load_ruleset, parse_ruleset

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "rulesets").glob("*.yaml"))

MINIMAL = """\
name: t
tiers: {P2: {response: 2h}, P4: {response: 4h}}
stages: [dispatched, onsite]
terminal_statuses: [resolved]
policies:
  - name: response
    targets: {dispatched: response}
    levels:
      - {name: yellow, at: 75%}
      - {name: red, at: 100%}
rules:
  - name: red
    when: {field: sla.level, eq: red}
    then:
      - notify: [ops]
receivers:
  ops: {urls: ["json://localhost/ops"]}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(RulesetError) as info:
        parse_ruleset(text, "r.yaml")
    return [str(p) for p in info.value.problems]


def test_minimal_ruleset_loads() -> None:
    ruleset = parse_ruleset(MINIMAL, "r.yaml")
    assert ruleset.source == "r.yaml"
    assert [level.name for level in ruleset.policies[0].levels] == ["yellow", "red"]
    assert ruleset.rules[0].then[0].notify is not None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_rulesets_validate(path: Path) -> None:
    ruleset = load_ruleset(path)
    assert ruleset.policies and ruleset.rules and ruleset.receivers


def test_shipped_rulesets_model_both_reference_processes() -> None:
    names = {load_ruleset(path).name for path in SHIPPED}
    assert {"repair-network", "enterprise-command-center"} <= names
    enterprise = load_ruleset(ROOT / "rulesets" / "enterprise-command-center.yaml")
    assert {tier: spec.response.total_seconds() / 3600 for tier, spec in enterprise.tiers.items()} == {"P2": 2, "P4": 4, "P6": 6}
    repair = load_ruleset(ROOT / "rulesets" / "repair-network.yaml")
    assert repair.stages == ["request", "parts", "repair"]


def test_typo_bad_duration_and_unknown_receiver_give_three_located_problems() -> None:
    text = MINIMAL.replace("    targets: {dispatched: response}", "    tagrets: {dispatched: response}\n    targets: {dispatched: 1hh}").replace(
        "notify: [ops]", "notify: [opss]"
    )
    assert problems_of(text) == [
        "r.yaml:7: policies.0.tagrets: unknown key 'tagrets' (hint: did you mean 'targets'?)",
        "r.yaml:8: policies.0.targets.dispatched: bad duration '1hh': use a number and a unit w/d/h/m/s, e.g. '4h', '1h30m', '90s'",
        "r.yaml:16: rules.0.then.0.notify.0: unknown receiver 'opss' (hint: did you mean 'ops'?)",
    ]


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("name: t\n", "name: t\nname: u\n", "r.yaml:2: name: duplicate key 'name'"),
        ("stages: [dispatched, onsite]", "stages: [dispatched, onsite", "r.yaml:4: malformed YAML"),
        ("{dispatched: response}", "{dispatchd: response}", "r.yaml:7: policies.0.targets.dispatchd: unknown stage 'dispatchd' (hint: did you mean 'dispatched'?)"),
        ("{dispatched: response}", "{dispatched: {P3: 1h}}", "r.yaml:7: policies.0.targets.dispatched.P3: unknown tier 'P3'"),
        ("eq: red}", "eqq: red}", "r.yaml:13: rules.0.when.eqq: unknown operator"),
        ("at: 75%}", "at: 75}", "r.yaml:9: policies.0.levels.0.at: Input should be a valid string"),
        ("at: 75%}", "at: 75 percent}", "r.yaml:9: policies.0.levels.0.at: level share '75 percent' must be a percentage"),
        ("{name: red, at: 100%}", "{name: red, at: 100%, after_due: 1h}", "r.yaml:10: policies.0.levels.1: level 'red' needs exactly one of at, before_due, after_due"),
        ("  - name: red\n", "  - name: red\n    whne: {}\n", "r.yaml:13: rules.0.whne: unknown key 'whne' (hint: did you mean 'when'?)"),
        ("terminal_statuses: [resolved]\n", "", "r.yaml:1: terminal_statuses: missing required key 'terminal_statuses'"),
        ("tiers: {P2", "tiers: {P2: {response: 2h}}\nxtiers: {P2", "r.yaml:3: xtiers: unknown key 'xtiers'"),
        ("name: response\n", "name: response\n    calendar: cn-office\n", "r.yaml:7: policies.0.calendar: unknown calendar 'cn-office'"),
        ("  - name: red\n", "  - name: red\n    then: [{tag: x}]\n  - name: red\n", "rule name 'red' is used 2 times"),
        ("receivers:\n  ops: {urls: [\"json://localhost/ops\"]}\n", "", "r.yaml:15: rules.0.then.0.notify.0: unknown receiver 'ops'"),
        (
            "receivers:\n",
            "schedules:\n  - {name: digest, cron: '0 8 * * *', timezone: Asia/Shanghai, action: digest, receivers: [opz], tiers: [P9]}\nreceivers:\n",
            "r.yaml:17: schedules.0.receivers.0: unknown receiver 'opz' (hint: did you mean 'ops'?)",
        ),
        ("receivers:\n", "schedules:\n  - {name: d, cron: '0 8 * * *', timezone: UTC, action: inspections, receivers: [ops], tiers: [P9]}\nreceivers:\n", "r.yaml:17: schedules.0.tiers.0: unknown tier 'P9'"),
        (
            "{dispatched: response}",
            "{dispatched: {P2: 1wd, P4: 2wd}}",
            "r.yaml:7: policies.0.targets.dispatched.P2: a working-day target (1wd) needs a business calendar, and this policy's clock runs on '24x7' (real time) (hint: name a business calendar in calendar:, or write the target in hours)",
        ),
        ("tiers: {P2: {response: 2h}", "tiers: {P2: {response: 1wd}", "r.yaml:7: policies.0.targets.dispatched: a working-day target (1wd, tier P2's response) needs a business calendar"),
        ("{dispatched: response}", "{dispatched: 0wd}", "r.yaml:7: policies.0.targets.dispatched: bad target '0wd': a working-day target counts at least 1wd"),
        ("notify: [ops]", "notify: [ops]\n        tag: x", "r.yaml:15: rules.0.then.0: an action is exactly one of escalate, route, notify, tag (found ['notify', 'tag'])"),
    ],
)
def test_located_problems(old: str, new: str, expected: str) -> None:
    assert old in MINIMAL
    found = problems_of(MINIMAL.replace(old, new, 1))
    assert any(p.startswith(expected) or expected in p for p in found), found


def test_yaml12_scalars_no_norway_problem() -> None:
    ruleset = parse_ruleset(MINIMAL.replace("eq: red", "eq: no"), "r.yaml")
    assert ruleset.rules[0].when.value == "no"  # type: ignore[union-attr]


def test_unreadable_file_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(RulesetError) as info:
        load_ruleset(tmp_path / "missing.yaml")
    assert "missing.yaml: cannot read ruleset" in str(info.value)


def test_not_utf8_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    assert "not UTF-8" in str(info.value)


@pytest.mark.parametrize(
    "share, target_h, expected_s",
    [("75%", 4, 3 * 3600), ("100%", 2, 7200), ("150%", 6, 9 * 3600), ("33.3%", 1, 1198.8), ("0%", 1, 0)],
)
def test_level_share_thresholds_are_exact(share: str, target_h: int, expected_s: float) -> None:
    from datetime import timedelta

    from spm_rules.ruleset.schema import LevelSpec

    level = LevelSpec(name="x", at=share)
    assert level.threshold(timedelta(hours=target_h)).total_seconds() == expected_s


def _alias_bomb(levels: int) -> str:
    """A ruleset whose ``name`` is a "billion laughs": 9**levels strings once expanded."""
    lines = ["x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nname: *x{levels - 1}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_alias_bomb(6), "r.yaml:6: malformed YAML: aliases expand to more than 100,000 nodes"),
        (_alias_bomb(40), "r.yaml:6: malformed YAML: aliases expand to more than 100,000 nodes"),
        ("name: t\nx: &loop [1, *loop]\n", "r.yaml:2: malformed YAML: alias *loop stands inside the collection it names"),
        ("name: " + "[" * 5000 + "]" * 5000 + "\n", "r.yaml:1: malformed YAML: nested deeper than 100 levels"),
        ("name: t\nx:\n" + "".join("  " * depth + "-\n" for depth in range(1, 300)), "r.yaml:102: malformed YAML: nested deeper than 100 levels"),
        ("name: !!python/object/apply:os.system ['touch pwned']\n", "r.yaml:1: malformed YAML: could not determine a constructor"),
    ],
    ids=["alias-bomb-6-levels", "alias-bomb-40-levels", "recursive-alias", "flow-nesting", "block-nesting", "python-tag"],
)
def test_hostile_yaml_is_refused_fast_at_its_line(text: str, expected: str) -> None:
    """Fails on main before issue 13: the bombs took seconds to hours and gigabytes, a
    recursive alias or deep nesting ended in RecursionError."""
    (problem,) = problems_of(text)
    assert problem.startswith(expected)


def test_a_ruleset_aliases_within_the_bound_still_load() -> None:
    text = MINIMAL.replace("receivers:\n  ops: {urls: [\"json://localhost/ops\"]}", "receivers:\n  ops: &ops {urls: [\"json://localhost/ops\"]}\n  oncall: *ops")
    assert "oncall" in text
    ruleset = parse_ruleset(text, "r.yaml")
    assert ruleset.receivers["oncall"].urls == ruleset.receivers["ops"].urls


def test_a_huge_ruleset_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w", encoding="utf-8") as out:
        out.write("name: t\ndescription: '")
        out.write("x" * (MAX_RULESET_BYTES + 1))
        out.write("'\n")
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    assert str(info.value) == f"{path}: the file is larger than 4,194,304 bytes, the most a YAML file of spm-rules may have"
