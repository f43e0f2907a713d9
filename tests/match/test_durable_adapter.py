"""The durable_rules adapter: its decisions, and every durable_rules trap it works around.

Tests named ``test_durable_rules_*`` pin down a trap in durable_rules itself, each in a
fresh interpreter since some crash it; the tests after each show that the adapter is not
caught by it, and would fail without the handling its module docstring describes.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from spm_rules.errors import SpmError
from spm_rules.match import build_matcher, durable_adapter, durable_available
from spm_rules.match.durable_adapter import BATCH_SIZE, DurableLimitError, DurableMatcher
from spm_rules.ruleset.conditions import All, AnyOf, Compare, Condition, Not, Present, holds

from .test_python_matcher import CASES, case_id

if not durable_available():
    pytest.skip("durable_rules does not import on this Python", allow_module_level=True)

C = Compare


def _expected(rules: list[tuple[str, Condition]], facts: list[dict[str, Any]]) -> list[list[str]]:
    return [[name for name, condition in rules if holds(condition, fact)] for fact in facts]


def _run_script(source: str) -> subprocess.CompletedProcess[str]:
    """Run Python code in a fresh interpreter (for traps that crash or hang it)."""
    environment = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )


_RAW_HOST = """
    from durable import engine

    class QuietHost(engine.Host):
        def _run(self):
            pass

    host = QuietHost()
"""


# --- Decisions --------------------------------------------------------------------------


@pytest.mark.parametrize("condition, fact, expected", CASES, ids=[case_id(c) for c in CASES])
def test_operator(condition: Condition, fact: dict[str, Any], expected: bool) -> None:
    assert DurableMatcher([("rule", condition)]).match([fact]) == [["rule"] if expected else []]


def test_all_cases_as_one_ruleset_keep_declaration_order() -> None:
    rules = [(f"rule-{i}", condition) for i, (condition, _, _) in enumerate(CASES)]
    facts = [fact for _, fact, _ in CASES]
    assert DurableMatcher(rules).match(facts) == _expected(rules, facts)


def test_build_matcher_prefers_durable_rules() -> None:
    matcher = build_matcher([("gold", C("tier", "eq", "gold"))])
    assert matcher.engine == "durable"
    assert matcher.match([{"tier": "gold"}, {}]) == [["gold"], []]


def test_always_true_rule_matches_every_fact() -> None:
    matcher = DurableMatcher([("never", AnyOf(())), ("always", All(())), ("gold", C("tier", "eq", "gold"))])
    assert matcher.match([{}, {"tier": "gold"}, {"tier": None}]) == [["always"], ["always", "gold"], ["always"]]


def test_no_facts_and_no_rules() -> None:
    assert DurableMatcher([("r", C("tier", "eq", "gold"))]).match([]) == []
    assert DurableMatcher([]).match([{"tier": "gold"}, {}]) == [[], []]


def test_a_non_scalar_value_is_refused_like_the_python_matcher_does() -> None:
    matcher = DurableMatcher([("gold", C("tier", "eq", "gold")), ("folded", AnyOf((C("when", "eq", "x"), All(()))))])
    with pytest.raises(SpmError, match=r"fact 1: field 'tier': a fact value must be text"):
        matcher.match([{"tier": "gold"}, {"tier": b"gold"}])
    with pytest.raises(SpmError, match=r"fact 0: field 'when': a fact value must be text"):
        matcher.match([{"when": object()}])


# --- Where durable_rules compares differently from holds() --------------------------------


@pytest.mark.parametrize(
    "test, value",
    [
        ({"x": "1"}, 1),  # text equals a number
        ({"x": 1}, True),  # a bool is a number
        ({"$lt": {"x": 5}}, "10"),  # text ordered against a number
        ({"$gt": {"x": "a"}}, True),  # a bool ordered against text
        ({"$ex": {"x": 1}}, None),  # null exists
        ({"x": None}, None),  # null equals null
        ({"$lt": {"x": "a"}}, "\x00z"),  # C strings end at NUL
    ],
)
def test_durable_rules_compares_across_kinds(test: dict[str, Any], value: Any) -> None:
    result = _run_script(
        _RAW_HOST
        + f"""
    hits = []
    host.register_rulesets({{"raw": {{"r": {{"all": [{{"m": {test!r}}}], "run": lambda c: hits.append(1)}}}}}})
    host.assert_fact("raw", {{"x": {value!r}}})
    print(len(hits))
    """
    )
    assert result.stdout.strip() == "1", result.stderr


def test_facts_are_compared_as_holds_compares_them() -> None:
    rules = [
        ("text-1", C("x", "eq", "1")),
        ("number-1", C("x", "eq", 1)),
        ("below-5", C("x", "lt", 5)),
        ("above-a", C("x", "gt", "a")),
        ("present", Present("x", True)),
        ("before-a", C("x", "lt", "a")),
    ]
    facts = [{"x": 1}, {"x": "1"}, {"x": True}, {"x": "10"}, {"x": None}, {"x": "\x00z"}]
    assert DurableMatcher(rules).match(facts) == _expected(rules, facts)


# --- Trap: a message that matches no rule raises MessageNotHandledException ------------------


def test_durable_rules_runs_no_action_for_a_batch_with_one_unmatched_fact() -> None:
    result = _run_script(
        _RAW_HOST
        + """
    hits = []
    host.register_rulesets({"raw": {"r": {"all": [{"m": {"x": 1}}], "run": lambda c: hits.append(1)}}})
    try:
        host.assert_facts("raw", [{"x": 1}, {"x": 2}])
    except engine.MessageNotHandledException:
        print("not handled", len(hits))
    """
    )
    assert result.stdout.strip() == "not handled 0", result.stderr


def test_a_fact_that_matches_no_rule_gets_an_empty_list() -> None:
    matcher = DurableMatcher([("gold", C("tier", "eq", "gold"))])
    assert matcher.match([{"tier": "silver"}]) == [[]]
    assert matcher.match([{}]) == [[]]


def test_unmatched_facts_in_a_batch_lose_no_other_match() -> None:
    matcher = DurableMatcher([("gold", C("tier", "eq", "gold"))])
    facts = [{"tier": "gold"}] + [{"tier": "silver"}] * (BATCH_SIZE - 2) + [{"tier": "gold"}, {}]
    result = matcher.match(facts)
    assert result[0] == result[BATCH_SIZE - 1] == ["gold"]
    assert sum(map(len, result)) == 2


# --- Trap: an event fires one rule only -----------------------------------------------------


def test_every_rule_that_holds_is_reported_not_just_the_first() -> None:
    rules = [(f"rule-{i}", C("tier", "eq", "gold")) for i in range(3)] + [("present", Present("tier", True))]
    assert DurableMatcher(rules).match([{"tier": "gold"}]) == [["rule-0", "rule-1", "rule-2", "present"]]


# --- Trap: a rule true without our keys matches durable_rules' own state document -------------


def test_durable_rules_refires_a_rule_true_for_its_state_document() -> None:
    result = _run_script(
        _RAW_HOST
        + """
    import os

    fired = []

    def action(c):
        fired.append(c.m)
        if len(fired) == 3:  # durable_rules swallows even SystemExit raised here
            print("fired again for", fired[-1], flush=True)
            os._exit(0)

    host.register_rulesets({"raw": {"r": {"all": [{"m": {"$nex": {"x": 1}}}], "run": action}}})
    host.assert_fact("raw", {"y": 1})
    """
    )
    assert result.stdout.startswith("fired again for {'sid': '0', 'id': 'sid-0', '$s': 1"), result.stderr


def test_a_rule_that_holds_for_an_empty_fact_fires_once_per_fact() -> None:
    # In a fresh interpreter: without the guard this loops forever.
    result = _run_script(
        """
    from spm_rules.match.durable_adapter import DurableMatcher
    from spm_rules.ruleset.conditions import Compare, Not, Present

    rules = [("unassigned", Present("provider", False)), ("not-red", Not(Compare("sla.level", "eq", "red")))]
    print(DurableMatcher(rules).match([{}, {"provider": "p1"}]))
    """
    )
    assert result.stdout.strip() == "[['unassigned', 'not-red'], ['not-red']]", result.stderr


# --- Trap: two different facts can be taken for one -----------------------------------------


def test_durable_rules_takes_two_different_facts_for_one() -> None:
    result = _run_script(
        _RAW_HOST
        + """
    host.register_rulesets({"raw": {"r": {"all": [{"m": {"$ex": {"v": 1}}}], "run": lambda c: None}}})
    try:
        host.assert_facts("raw", [{"v": 10534}, {"v": 78577}])
    except engine.MessageObservedException:
        print("already observed")
    """
    )
    assert result.stdout.strip() == "already observed", result.stderr


def test_every_message_carries_its_own_id() -> None:
    matcher = DurableMatcher([("v", C("v", "gte", 0))])
    messages = durable_adapter._encode([{"v": 10534}, {"v": 78577}, {}], 0, matcher._parts[0].encoders)
    assert [message["id"] for message in messages] == [0, 1, 2]
    assert matcher.match([{"v": 10534}, {"v": 78577}]) == [["v"], ["v"]]


# --- Trap: one ruleset holds at most 1024 sessions --------------------------------------------


def test_durable_rules_holds_at_most_1024_sessions() -> None:
    result = _run_script(
        _RAW_HOST
        + """
    host.register_rulesets({"raw": {"r": {"all": [{"m": {"x": 1}}], "run": lambda c: None}}})
    for sid in range(1100):
        try:
            host.assert_fact("raw", {"x": 1, "sid": str(sid)})
        except MemoryError:
            print("MemoryError at session", sid)
            break
    """
    )
    assert result.stdout.strip() == "MemoryError at session 1024", result.stderr


def _resident_megabytes() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_any_number_of_facts_and_calls_share_one_session() -> None:
    rules = [("gold", C("tier", "eq", "gold")), ("late", C("n", "gt", 5)), ("unassigned", Present("provider", False))]
    matcher = DurableMatcher(rules)
    many = [{"tier": "gold" if i % 3 else "silver", "n": i % 10, "provider": "p" if i % 2 else None} for i in range(5000)]
    assert matcher.match(many) == _expected(rules, many)
    few = many[:3]
    for _ in range(1500):
        assert matcher.match(few) == _expected(rules, few)
    assert matcher._parts[0].ruleset.stored_facts() == []


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads resident memory from /proc")
def test_the_session_does_not_grow_from_batch_to_batch() -> None:
    matcher = DurableMatcher([("gold", C("tier", "eq", "gold")), ("late", C("n", "gt", 5))])
    batch = [{"tier": "gold" if i % 3 else "silver", "n": i % 10} for i in range(BATCH_SIZE)]
    for _ in range(20):
        matcher.match(batch)
    before = _resident_megabytes()
    for _ in range(100):
        matcher.match(batch)
    # Keeping these 100,000 facts would take about 750 MB.
    assert _resident_megabytes() - before < 10


# --- Trap: Host.delete_state segfaults --------------------------------------------------------


def test_durable_rules_delete_state_segfaults() -> None:
    result = _run_script(
        _RAW_HOST
        + """
    host.register_rulesets({"raw": {"j": {"all": [{"a": {"x": 1}}, {"b": {"y": 1}}], "run": lambda c: None}}})
    host.assert_fact("raw", {"x": 1})
    host.delete_state("raw", "0")
    """
    )
    assert result.returncode == -signal.SIGSEGV


def test_matching_never_deletes_state(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> None:
        raise AssertionError("delete_state called")

    monkeypatch.setattr(durable_adapter._engine.Host, "delete_state", refuse)
    monkeypatch.setattr(durable_adapter._engine.Ruleset, "delete_state", refuse)
    monkeypatch.setattr(durable_adapter._engine.durable_rules_engine, "delete_state", refuse)
    matcher = DurableMatcher([("gold", C("tier", "eq", "gold"))])
    for _ in range(200):
        assert matcher.match([{"tier": "gold"}, {"tier": "x"}] * 10) == [["gold"], []] * 10


# --- Trap: rulesets are registered per host by name; Host() starts threads --------------------


def test_rulesets_with_the_same_rule_names_do_not_see_each_other() -> None:
    first = DurableMatcher([("escalate", C("tier", "eq", "gold")), ("notify", C("n", "gt", 1))])
    second = DurableMatcher([("escalate", C("tier", "eq", "silver")), ("notify", C("n", "lt", 1))])
    facts = [{"tier": "gold", "n": 2}, {"tier": "silver", "n": 0}]
    assert first.match(facts) == [["escalate", "notify"], []]
    assert second.match(facts) == [[], ["escalate", "notify"]]
    assert first.match(facts) == [["escalate", "notify"], []]


def test_a_changed_ruleset_takes_effect() -> None:
    fact = [{"tier": "gold"}]
    assert DurableMatcher([("r", C("tier", "eq", "gold"))]).match(fact) == [["r"]]
    assert DurableMatcher([("r", C("tier", "eq", "silver"))]).match(fact) == [[]]
    assert DurableMatcher([("r", C("tier", "in", ("silver", "gold")))]).match(fact) == [["r"]]


def test_an_identical_ruleset_reuses_the_registered_one() -> None:
    rules = [("gold", C("tier", "eq", "gold-reused"))]
    first = DurableMatcher(rules)
    registered = len(durable_adapter._RULESETS)
    second = DurableMatcher(rules)
    assert len(durable_adapter._RULESETS) == registered
    assert second._parts[0].ruleset is first._parts[0].ruleset
    assert second.match([{"tier": "gold-reused"}]) == first.match([{"tier": "gold-reused"}]) == [["gold"]]


def test_durable_rules_host_starts_threads() -> None:
    result = _run_script(
        """
    import threading
    from durable import engine
    before = threading.active_count()
    engine.Host()
    print(threading.active_count() - before)
    """
    )
    assert result.stdout.strip() == "2", result.stderr


def test_matchers_start_no_threads() -> None:
    before = set(threading.enumerate())
    for i in range(30):
        matcher = DurableMatcher([(f"r{i}", C("n", "eq", i)), ("late", C("n", "gt", 10 + i))])
        assert matcher.match([{"n": i}, {"n": 100}]) == [[f"r{i}"], ["late"]]
    assert set(threading.enumerate()) - before == set()


# --- Trap: action exceptions are swallowed into the session state ----------------------------


def test_durable_rules_swallows_action_exceptions() -> None:
    result = _run_script(
        _RAW_HOST
        + """
    def fail(c):
        raise RuntimeError("lost")

    host.register_rulesets({"raw": {"r": {"all": [{"m": {"x": 1}}], "run": fail}}})
    host.assert_fact("raw", {"x": 1})
    print("exception" in host.get_state("raw", "0"))
    """
    )
    assert result.stdout.strip() == "True", result.stderr


def test_a_failing_action_raises_and_leaves_the_session_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    matcher = DurableMatcher([("gold", C("tier", "eq", "gold")), ("silver", C("tier", "eq", "silver"))])

    def fail(self: Any, index: int, messages: list[Any]) -> None:
        raise RuntimeError("collector broke")

    with monkeypatch.context() as patch:
        patch.setattr(durable_adapter._DurableRuleset, "_record", fail)
        with pytest.raises(SpmError, match="a durable_rules action failed: RuntimeError: collector broke"):
            matcher.match([{"tier": "gold"}, {"tier": "silver"}])
    assert matcher._parts[0].ruleset.stored_facts() == []
    assert matcher.match([{"tier": "gold"}, {"tier": "silver"}]) == [["gold"], ["silver"]]


def test_a_failing_engine_call_starts_the_ruleset_over(monkeypatch: pytest.MonkeyPatch) -> None:
    matcher = DurableMatcher([("gold", C("tier", "eq", "gold"))])
    ruleset = matcher._parts[0].ruleset
    old_name = ruleset.name

    def fail(*args: Any) -> None:
        raise durable_adapter._engine.durable_rules_engine.error("Could not retract facts, error code: 999")

    with monkeypatch.context() as patch:
        patch.setattr(durable_adapter._engine.Host, "retract_facts", fail)
        with pytest.raises(SpmError, match="durable_rules failed to match a batch of 1 facts: error: Could not retract"):
            matcher.match([{"tier": "gold"}])
    assert ruleset.name != old_name
    assert matcher.match([{"tier": "gold"}]) == [["gold"]]


# --- Capacity limits that crash or hang durable_rules ----------------------------------------


def test_durable_rules_segfaults_on_a_batched_fact_with_253_properties() -> None:
    result = _run_script(
        _RAW_HOST
        + """
    host.register_rulesets({"raw": {"r": {"all": [{"m": {"k0": 1}}], "run": lambda c: None}}})
    host.assert_facts("raw", [{f"k{i}": 1 for i in range(253)}])
    """
    )
    assert result.returncode == -signal.SIGSEGV


def test_durable_rules_fails_when_more_than_64_tests_hold_at_once() -> None:
    result = _run_script(
        _RAW_HOST
        + """
    rules = {f"r{i}": {"all": [{"m": {f"k{i}": 1}}], "run": lambda c: None} for i in range(65)}
    host.register_rulesets({"raw": rules})
    try:
        host.assert_fact("raw", {f"k{i}": 1 for i in range(65)})
    except Exception as exc:
        print(exc)
    """
    )
    assert result.stdout.strip() == "Could not assert fact, error code: 303", result.stderr


def test_facts_may_carry_any_number_of_fields() -> None:
    matcher = DurableMatcher([("gold", C("tier", "eq", "gold"))])
    fact = {f"extra.{i}": i for i in range(500)} | {"tier": "gold"}
    assert matcher.match([fact]) == [["gold"]]


def test_rules_may_read_hundreds_of_fields_that_all_hold() -> None:
    rules = [(f"has-{i}", Present(f"f{i}", True)) for i in range(150)]
    rules += [(f"one-{i}", C(f"f{i}", "eq", 1)) for i in range(150)]
    fact = {f"f{i}": 1 for i in range(150)}
    matcher = DurableMatcher(rules)
    assert len(matcher._parts) > 1
    assert matcher.match([fact, {}]) == _expected(rules, [fact, {}])


def test_many_rules_after_one_shared_test() -> None:
    rules = [(f"gold-{i}", All((C("tier", "eq", "gold"), Present(f"f{i}", True)))) for i in range(80)]
    fact = {"tier": "gold"} | {f"f{i}": "x" for i in range(80)}
    assert DurableMatcher(rules).match([fact]) == _expected(rules, [fact])


def test_a_long_in_list_and_a_long_not_in_list() -> None:
    values = tuple(f"code-{i:04d}" for i in range(1500))
    rules = [("listed", C("postcode", "in", values)), ("unlisted", C("postcode", "not_in", values))]
    facts = [{"postcode": "code-0000"}, {"postcode": "code-1499"}, {"postcode": "code-0750"}, {"postcode": "x"}, {"postcode": 1}, {}]
    assert DurableMatcher(rules).match(facts) == _expected(rules, facts)


def test_a_rule_of_many_alternatives_all_holding() -> None:
    condition = All(tuple(AnyOf((C(f"a{i}", "eq", 1), C(f"b{i}", "eq", 1))) for i in range(8)))
    rules = [("combinations", condition)]
    fact = {f"{letter}{i}": 1 for letter in "ab" for i in range(8)}
    assert DurableMatcher(rules).match([fact, {}]) == _expected(rules, [fact, {}])


def test_a_deeply_nested_rule() -> None:
    condition: Condition = C("x0", "eq", 0)
    for depth in range(1, 24):
        group = All if depth % 2 else AnyOf
        condition = group((C(f"x{depth}", "eq", depth), condition))
    rules = [("deep", condition)]
    facts = [{f"x{i}": i for i in range(24)}, {}, {f"x{i}": i for i in range(0, 24, 2)}, {"x23": 23, "x22": 22}]
    assert DurableMatcher(rules).match(facts) == _expected(rules, facts)


def test_a_rule_of_many_negated_alternatives() -> None:
    condition = AnyOf(tuple(All((Not(C(f"x{i}", "eq", i)), Present(f"y{i}", True))) for i in range(20)))
    rules = [("wide", condition)]
    facts = [{f"x{i}": i for i in range(20)} | {"y7": 1}, {"y19": 0, "x19": 19}, {"y19": 0}, {}]
    assert DurableMatcher(rules).match(facts) == _expected(rules, facts)


def _too_complex() -> list[tuple[str, Condition]]:
    condition = All(tuple(AnyOf(tuple(C(f"f{i}{j}", "eq", 1) for j in range(3))) for i in range(8)))
    return [("simple", C("tier", "eq", "gold")), ("combinatorial", condition)]


def test_a_rule_too_complex_for_durable_rules_is_refused_by_name() -> None:
    with pytest.raises(DurableLimitError, match="rule 'combinatorial' is too complex for durable_rules"):
        build_matcher(_too_complex(), engine="durable")


def test_auto_falls_back_to_python_for_a_rule_too_complex(caplog: pytest.LogCaptureFixture) -> None:
    rules = _too_complex()
    with caplog.at_level(logging.WARNING, logger="spm_rules.match"):
        matcher = build_matcher(rules)
    assert matcher.engine == "python"
    assert "rule 'combinatorial' is too complex" in caplog.text
    fact = {f"f{i}0": 1 for i in range(8)}
    assert matcher.match([fact]) == _expected(rules, [fact])
