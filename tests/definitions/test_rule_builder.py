"""The rule builder: the rule text a form's parts write, read back, and written into a definitions file in place."""

from __future__ import annotations

import pytest

from tandem.definitions.model import load_definitions
from tandem.definitions.rule_builder import (
    Activity,
    Condition,
    RuleParts,
    compose_rule,
    decompose_rule,
    with_stage_rule,
)
from tandem.errors import ConfigError

COLUMNS = {"country": "string", "employees": "integer", "revenue": "float", "customer": "boolean", "score": "float"}
FILE = """\
# agreed on 3 March
stages:
  - name: lead
    side: marketing
    description: Anyone.
  - name: mql
    side: marketing
    description: Ready for sales.
    rule: score >= 60   # the old bar
    sla: 24 business hours
  - name: sql
    side: sales
    description: Accepted.
"""


def test_every_part_is_written_with_its_type_and_joined_by_and() -> None:
    parts = RuleParts(
        (
            Condition("country", "in", "US, CA, O'Hare"),
            Condition("employees", ">=", "1,000"),
            Condition("customer", "=", "False"),
            Condition("revenue", "is not null"),
            Condition("", "=", ""),  # a blank row is left out
        ),
        Activity("webinar", "2", "90"),
        "50",
    )
    assert compose_rule(parts, COLUMNS) == (
        "country in ('US', 'CA', 'O\\'Hare') and employees >= 1000 and customer = false and revenue is not null"
        " and count_events('webinar', within='90d') >= 2 and score >= 50"
    )
    assert compose_rule(RuleParts(activity=Activity("demo request")), COLUMNS) == "has_event('demo request')"
    assert compose_rule(RuleParts(), COLUMNS) == ""


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (
            RuleParts((Condition("nope", "=", "1"),)),
            "condition 1, field: 'nope' is not a column of the leads; use one of",
        ),
        (RuleParts((Condition("employees", "~", "1"),)), "condition 1, operator: '~' is not one of =, !=, <"),
        (RuleParts((Condition("employees", ">", "lots"),)), "condition 1, value: 'lots' is not a number"),
        (RuleParts((Condition("customer", "=", "maybe"),)), "condition 1, value: 'maybe' is not true or false"),
        (RuleParts(activity=Activity("", "", "30")), "activity, kind: name the kind of touch"),
        (RuleParts(activity=Activity("webinar", "0", "")), "activity, at least: '0' is not a whole number"),
        (RuleParts(activity=Activity("webinar", "", "9999")), "activity, days: '9999' is not a whole number of days"),
        (RuleParts(score="high"), "score threshold: 'high' is not a number"),
    ],
)
def test_a_part_that_cannot_be_written_is_refused_naming_it(parts: RuleParts, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        compose_rule(parts, COLUMNS)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_a_rule_of_the_builders_shape_is_read_back_into_its_parts() -> None:
    text = "country not in ('US', 'CA') and has_event('webinar', within='90d') and score >= 50 and industry is null"
    parts = decompose_rule(text)
    assert parts == RuleParts(
        (Condition("country", "not in", "US, CA"), Condition("industry", "is null")),
        Activity("webinar", "", "90"),
        "50",
    )
    assert compose_rule(parts, {**COLUMNS, "industry": "string"}) == (
        "country not in ('US', 'CA') and industry is null and has_event('webinar', within='90d') and score >= 50"
    )
    assert decompose_rule(None) == RuleParts()
    assert decompose_rule("score >= 50 or employees > 10") is None
    assert decompose_rule("not (country = 'US')") is None
    assert decompose_rule("has_event('a') and has_event('b')") is None
    assert decompose_rule("has_event('a', within='12h')") is None
    assert decompose_rule("score >=") is None


def test_the_rule_replaces_the_stages_line_and_nothing_else() -> None:
    written = with_stage_rule(FILE, "mql", "score >= 50 and country = 'US'")
    assert written == FILE.replace(
        "    rule: score >= 60   # the old bar\n", "    rule: score >= 50 and country = 'US'\n"
    )
    assert load_definitions(written).stage("mql").rule == "score >= 50 and country = 'US'"


def test_a_stage_without_a_rule_gets_one_after_its_last_key_and_an_empty_rule_removes_it() -> None:
    added = with_stage_rule(FILE, "sql", "has_event('call')")
    assert added == FILE + "    rule: has_event('call')\n"
    assert load_definitions(added).stage("sql").rule == "has_event('call')"
    removed = with_stage_rule(FILE, "mql", "")
    assert removed == FILE.replace("    rule: score >= 60   # the old bar\n", "")
    assert load_definitions(removed).stage("mql").rule is None
    assert with_stage_rule(FILE, "lead", "") == FILE


def test_a_rule_yaml_would_misread_is_quoted() -> None:
    written = with_stage_rule(FILE, "mql", "company = '#1: best'")
    assert "    rule: \"company = '#1: best'\"\n" in written
    assert load_definitions(written).stage("mql").rule == "company = '#1: best'"


def test_a_block_rule_is_replaced_whole() -> None:
    block = FILE.replace(
        "    rule: score >= 60   # the old bar\n", "    rule: >-\n      score >= 60\n      and employees > 5\n"
    )
    assert with_stage_rule(block, "mql", "score >= 70") == FILE.replace(
        "    rule: score >= 60   # the old bar\n", "    rule: score >= 70\n"
    )


def test_an_unknown_stage_is_refused() -> None:
    with pytest.raises(ConfigError, match="the definitions file has no stage 'won'; choose one of its stages"):
        with_stage_rule(FILE, "won", "score >= 1")
