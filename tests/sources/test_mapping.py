"""Field mapping: a ticket system's names and values onto ticket facts, for files as for
databases; an unmapped value is a problem naming the row and the source column."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from spm_rules.errors import RulesetError
from spm_rules.ruleset.loader import parse_ruleset
from spm_rules.sources.files import TicketReader
from spm_rules.sources.mapping import FieldMapping, MappingProblem

MAPPING = {
    "timezone": "Asia/Shanghai",
    "fields": {
        "id": "ticket_no",
        "created_at": "opened_at",
        "tier": {"from": "priority_code", "values": {1: "P2", 2: "P4", 3: "P6"}},
        "region": {"from": "site_city", "values": {"Beijing": "north", "Shanghai": "east"}, "default": "remote"},
    },
}
RULESET = """
name: mapped
tiers: {P2: {}, P4: {}, P6: {}}
stages: [hotline, dispatched]
terminal_statuses: [resolved]
mapping:
  timezone: Asia/Shanghai
  fields:
    id: ticket_no
    created_at: opened_at
    tier: {from: priority_code, values: {1: P2, 2: P4, 3: P6}}
    region: {from: site_city, values: {Beijing: north, Shanghai: east}, default: remote}
"""


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"ticket_no": 7, "priority_code": 1, "site_city": "Beijing"}, {"id": 7, "tier": "P2", "region": "north"}),
        ({"ticket_no": 7, "priority_code": "3", "site_city": "Lhasa"}, {"id": 7, "tier": "P6", "region": "remote"}),
        ({"ticket_no": 7, "priority_code": 2, "fault": "disk"}, {"id": 7, "tier": "P4", "fault": "disk"}),
        ({"ticket_no": 7, "priority_code": 2, "site_city": None}, {"id": 7, "tier": "P4"}),
    ],
    ids=["codes-and-cities", "text-code-and-default", "unmapped-columns-kept", "null-stays-missing"],
)
def test_apply_renames_translates_and_keeps_the_rest(row: dict[str, Any], expected: dict[str, Any]) -> None:
    assert FieldMapping.model_validate(MAPPING).apply(row) == expected


def test_a_value_outside_the_map_without_default_names_the_column() -> None:
    with pytest.raises(MappingProblem) as caught:
        FieldMapping.model_validate(MAPPING).apply({"ticket_no": 7, "priority_code": 9})
    assert caught.value.column == "priority_code"
    assert caught.value.message == "value 9 is not in the value map (1, 2, 3)"


def test_one_column_cannot_feed_two_fields() -> None:
    with pytest.raises(ValidationError, match="'code' is mapped to both 'tier' and 'product'"):
        FieldMapping.model_validate({"fields": {"tier": "code", "product": "code"}})


def test_a_bad_mapping_is_a_located_ruleset_problem() -> None:
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(RULESET.replace("timezone: Asia/Shanghai", "timezone: Mars/Olympus").replace("values: {1: P2", "valuez: {1: P2"), "r.yaml")
    located = {(p.location.line, p.location.key) for p in caught.value.problems}
    assert (7, "mapping.timezone") in located
    assert (11, "mapping.fields.tier.valuez") in located


def _csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_csv_export_is_read_through_the_rulesets_mapping(tmp_path: Path) -> None:
    source = _csv(
        tmp_path / "export.csv",
        [
            "ticket_no,priority_code,state,opened_at,site_city",
            "1001,1,open,2026-11-25 09:00:00,Beijing",
            "1002,9,open,2026-11-25 09:00:00,Shanghai",
            "1003,3,open,not a time,Shanghai",
            "1004,2,open,2026-11-25T09:00:00+00:00,Lhasa",
        ],
    )
    ruleset = parse_ruleset(RULESET.replace("    id: ticket_no", "    id: ticket_no\n    status: state"))
    reader = TicketReader(source, ruleset=ruleset)
    tickets = {ticket.id: ticket for ticket in reader}
    assert sorted(tickets) == ["1001", "1004"]
    # naive local time of the source's timezone; an explicit offset is kept
    assert tickets["1001"].created_at == datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
    assert tickets["1004"].created_at == datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    assert (tickets["1001"].tier, tickets["1001"].region, tickets["1004"].region) == ("P2", "north", "remote")
    assert [str(problem) for problem in reader.problems] == [
        f"{source}: row 3 ticket 1002: priority_code: value 9 is not in the value map (1, 2, 3) (hint: add it to the mapping's values, or give a default)",
        f"{source}: row 4 ticket 1003: opened_at: not an ISO 8601 time: 'not a time'",
    ]


def test_a_csv_header_is_checked_against_the_mapped_columns(tmp_path: Path) -> None:
    source = _csv(tmp_path / "export.csv", ["ticket_no,priority_code,state", "1001,1,open"])
    ruleset = parse_ruleset(RULESET.replace("    id: ticket_no", "    id: ticket_no\n    status: state"))
    reader = TicketReader(source, ruleset=ruleset)
    assert list(reader) == []
    assert [(p.field, p.message.split(";")[0]) for p in reader.problems] == [("columns", "the header lacks the required column(s) opened_at")]


def test_jsonl_rows_take_the_mapping_given_to_the_reader(tmp_path: Path) -> None:
    source = tmp_path / "t.jsonl"
    rows = [{"ticket_no": "A", "priority_code": 2, "status": "open", "opened_at": "2026-11-25T09:00:00"}]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    (ticket,) = TicketReader(source, mapping=FieldMapping.model_validate(MAPPING))
    assert (ticket.id, ticket.tier, ticket.created_at) == ("A", "P4", datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc))
