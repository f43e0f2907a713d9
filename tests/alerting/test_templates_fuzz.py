"""Fuzzing templates (issue 13 item 11): any template text is accepted or refused as a
validation error naming its line; an accepted one renders or falls back to the plain
message, never raises; ticket data is only ever a value (``{{ 7*7 }}`` in a field stays
text), and the sandbox refuses Python internals."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from spm_rules.alerting.pipeline import notification_labels
from spm_rules.alerting.templates import Renderer, TemplateSpec, item_context
from tests.alerting.helpers import note

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)
JINJA_TEXT = st.lists(
    st.sampled_from(list("{}%#|()[]'\".,:-+*/~ \nabcxyz019_") + ["{{", "}}", "{%", "%}", "items", "ticket", "for ", " in ", "endfor", "if ", "endif", "__class__", "mro()", "time", "\x00"]),
    max_size=40,
).map("".join)
FIELD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.just("{{ 7*7 }}"), st.just("{% for x in range(9) %}x{% endfor %}"))


def _items(fields: dict[str, Any]) -> list[dict[str, Any]]:
    notification = note("EC-1", ticket_fields=fields)
    return [item_context(notification, notification_labels(notification), "https://tickets.example.com/{id}")]


@settings(max_examples=80, deadline=None)
@given(title=JINJA_TEXT, body=JINJA_TEXT, fields=st.dictionaries(st.sampled_from(["customer", "fault", "product", "x"]), FIELD_VALUES, max_size=3))
def test_any_template_is_refused_at_load_or_renders_without_raising(title: str, body: str, fields: dict[str, Any]) -> None:
    try:
        spec = TemplateSpec(title=title, body=body)
    except ValidationError as exc:
        assert all("template syntax error on its line" in error["msg"] for error in exc.errors())
        return
    rendered = Renderer({"fuzz": spec}, None, "Asia/Shanghai").render("fuzz", "ops", {}, _items(fields), 0, NOW)
    assert rendered.title is not None and rendered.body is not None


SHOW_FIELDS = TemplateSpec(title="{{ items[0].ticket_id }}", body="{% for item in items %}{{ item.ticket.customer }}|{{ item.ticket.fault }}|{{ item.ticket.product }}{% endfor %}")
SHOWING = Renderer({"show": SHOW_FIELDS}, None, "Asia/Shanghai")


@settings(max_examples=50, deadline=None)
@given(fields=st.dictionaries(st.sampled_from(["customer", "fault", "product"]), FIELD_VALUES, min_size=1, max_size=3))
def test_ticket_data_is_rendered_as_text_never_as_a_template(fields: dict[str, Any]) -> None:
    rendered = SHOWING.render("show", "ops", {}, _items(fields), 0, NOW)
    assert rendered.error is None
    for value in fields.values():
        if isinstance(value, str):
            assert value.strip("\n") in rendered.body


def test_the_sandbox_refuses_python_internals() -> None:
    spec = TemplateSpec(title="t", body="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    rendered = Renderer({"evil": spec}, None, None).render("evil", "ops", {}, _items({}), 0, NOW)
    assert rendered.error is not None and "unsafe" in rendered.error
    assert "subclasses" not in rendered.body and "<class" not in rendered.body
