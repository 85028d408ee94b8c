"""The rule language of stage definitions, worked by hand on four leads, on DuckDB, PostgreSQL and Spark.

The leads (as of 2026-03-01 00:00 UTC)::

    lead  created           country  employees  score  is_customer  signed_up   company
    a     2026-01-01        US       50         80     true         2026-01-10  Acme
    b     2026-02-01        CA       10         40     false        2026-02-15  Bolt
    c     2026-02-20        FR       -          55.5   -            -           O'Brien & Co
    d     2026-02-28 12:00  -        200        -      true         2026-03-05  Delta

Their touches: a demo request by a exactly 30 days before as_of (2026-01-30 00:00:00), one by b a second later,
one by c a second after as_of (ignored); webinars for a (2026-01-15, 2026-02-10), b (2026-02-20), d (2025-10-01,
outside 90 days) and one for no lead at all. Their activities: a call on a (2026-02-27), a meeting with c
(2026-02-25).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.definitions.rule_expressions import compile_rule
from tandem.definitions.rules import (
    Call,
    RuleError,
    RuleProblem,
    check_rule,
    parse_rule,
    rule_problems,
)
from tandem.durations import parse_window as parse_duration

from ..backends import Backend

AS_OF = datetime(2026, 3, 1)
COLUMNS = {
    "lead_id": "string",
    "created_at": "timestamp",
    "country": "string",
    "company": "string",
    "employees": "integer",
    "score": "float",
    "is_customer": "boolean",
    "signed_up": "date",
}


def _tables() -> dict[str, pa.Table]:
    leads = pa.table(
        {
            "lead_id": pa.array(["a", "b", "c", "d"]),
            "created_at": pa.array(
                [datetime(2026, 1, 1), datetime(2026, 2, 1), datetime(2026, 2, 20), datetime(2026, 2, 28, 12)],
                pa.timestamp("us"),
            ),
            "country": pa.array(["US", "CA", "FR", None]),
            "company": pa.array(["Acme", "Bolt", "O'Brien & Co", "Delta"]),
            "employees": pa.array([50, 10, None, 200], pa.int64()),
            "score": pa.array([80.0, 40.0, 55.5, None], pa.float64()),
            "is_customer": pa.array([True, False, None, True], pa.bool_()),
            "signed_up": pa.array([date(2026, 1, 10), date(2026, 2, 15), None, date(2026, 3, 5)], pa.date32()),
        }
    )
    touches = [
        ("t1", datetime(2026, 1, 30), "a", "demo_request"),
        ("t2", datetime(2026, 1, 30, 0, 0, 1), "b", "demo_request"),
        ("t3", datetime(2026, 3, 1, 0, 0, 1), "c", "demo_request"),
        ("t4", datetime(2026, 1, 15), "a", "webinar"),
        ("t5", datetime(2026, 2, 10), "a", "webinar"),
        ("t6", datetime(2026, 2, 20), "b", "webinar"),
        ("t7", datetime(2025, 10, 1), "d", "webinar"),
        ("t8", datetime(2026, 2, 1), None, "webinar"),
    ]
    activities = [
        ("x1", "a", datetime(2026, 2, 27), "call"),
        ("x2", "c", datetime(2026, 2, 25), "meeting"),
    ]
    return {
        "leads": leads,
        "touches": pa.table(
            {
                "touch_id": pa.array([t[0] for t in touches]),
                "occurred_at": pa.array([t[1] for t in touches], pa.timestamp("us")),
                "channel": pa.array(["web"] * len(touches)),
                "lead_id": pa.array([t[2] for t in touches], pa.string()),
                "kind": pa.array([t[3] for t in touches]),
            }
        ),
        "activities": pa.table(
            {
                "activity_id": pa.array([x[0] for x in activities]),
                "lead_id": pa.array([x[1] for x in activities]),
                "occurred_at": pa.array([x[2] for x in activities], pa.timestamp("us")),
                "kind": pa.array([x[3] for x in activities]),
            }
        ),
    }


@pytest.fixture(scope="module")
def warehouse(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The four leads in a workspace on each backend (built once per backend)."""
    with backend.workspace_holding(tmp_path_factory.mktemp(f"rules-{backend.name}"), _tables()) as ws:
        yield ws


def meeting(ws: Workspace, text: str) -> list[str]:
    """The lead_ids meeting the rule, sorted; also checks that the predicate is never null."""
    wh = ws.warehouse
    leads = wh.table("leads")
    predicate = compile_rule(
        parse_rule(text), leads, as_of=AS_OF, touches=wh.table("touches"), activities=wh.table("activities")
    )
    rows = leads.select("lead_id", meets=predicate).to_pyarrow().to_pylist()
    assert all(row["meets"] in (True, False) for row in rows), rows
    return sorted(row["lead_id"] for row in rows if row["meets"])


# --- meeting a rule, construct by construct -------------------------------------------------------------------
CASES: list[tuple[str, list[str]]] = [
    # comparisons on numbers, strings, booleans, dates and timestamps
    ("score >= 50 and employees >= 20 and country in ('US', 'CA')", ["a"]),
    ("score > 55", ["a", "c"]),
    ("score == 80", ["a"]),
    ("employees != 10", ["a", "d"]),
    ("employees < 50.5", ["a", "b"]),
    ("score in (80, 55.5)", ["a", "c"]),
    ("signed_up in ('2026-01-10', '2026-03-05')", ["a", "d"]),
    ("country = 'FR' or score >= 80", ["a", "c"]),
    ('company = "O\'Brien & Co"', ["c"]),
    ("company = 'O\\'Brien & Co'", ["c"]),
    ("is_customer", ["a", "d"]),
    ("is_customer = false", ["b"]),
    ("signed_up >= '2026-02-01'", ["b", "d"]),
    ("created_at >= '2026-02-20'", ["c", "d"]),
    ("created_at < '2026-02-28 12:00'", ["a", "b", "c"]),
    ("true", ["a", "b", "c", "d"]),
    ("(score < 50 or employees > 100) and not country = 'CA'", ["d"]),
    ("score >= 50 AND NOT (country IN ('FR'))", ["a"]),  # keywords in any case
    # lists and missing values: a lead whose attribute is missing does not meet a condition on it...
    ("country in ('US', 'CA')", ["a", "b"]),
    ("country not in ('US', 'CA')", ["c"]),
    ("employees >= 20", ["a", "d"]),
    ("employees < 20", ["b"]),
    # ...and `not` of such a condition is met
    ("not (country in ('US', 'CA'))", ["c", "d"]),
    ("not (employees >= 20)", ["b", "c"]),
    ("not is_customer", ["b", "c"]),
    ("country is null", ["d"]),
    ("employees is not null", ["a", "b", "d"]),
    # events: touches of a kind, in (as_of - within, as_of]
    ("has_event('demo_request', within='30d')", ["b"]),
    ("has_event('demo_request')", ["a", "b"]),
    ("has_event('demo_request', within='720h')", ["b"]),
    ("not has_event('webinar')", ["c"]),
    ("count_events('webinar', within='90d') >= 2", ["a"]),
    ("count_events('webinar', within='13w') = 1", ["b"]),
    ("count_events('webinar') = 0", ["c"]),
    ("count_events('webinar', within='90d') < 1", ["c", "d"]),
    ("2 <= count_events('webinar')", ["a"]),
    ("has_activity('call')", ["a"]),
    ("has_activity('meeting', within='1w')", ["c"]),
    ("count_activities('call') > 0 or has_activity('meeting', within='3d')", ["a"]),
    # days from created_at to as_of
    ("days_since_created() < 10", ["c", "d"]),
    ("days_since_created() >= 29", ["a"]),
    ("days_since_created() = 0.5", ["d"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_leads_meeting_a_rule(warehouse: Workspace, text: str, expected: list[str]) -> None:
    assert meeting(warehouse, text) == expected


def test_a_string_that_looks_like_sql_is_data(warehouse: Workspace) -> None:
    """The rule's text never becomes SQL: the quote and the statement are just characters of the value."""
    assert meeting(warehouse, 'company = "x\'; drop table leads; --"') == []
    assert warehouse.warehouse.table("leads").count().to_pyarrow().as_py() == 4


def test_a_rule_filters_the_leads_table(warehouse: Workspace) -> None:
    """The predicate is a column expression on leads: it goes straight into `filter`."""
    wh = warehouse.warehouse
    leads = wh.table("leads")
    rule = parse_rule("has_event('webinar') and score >= 50")
    kept = leads.filter(compile_rule(rule, leads, as_of=AS_OF, touches=wh.table("touches")))
    assert kept.lead_id.to_pyarrow().to_pylist() == ["a"]


def test_as_of_with_a_time_zone_is_read_in_utc(warehouse: Workspace) -> None:
    """2026-03-01 01:00 in Paris is as_of 00:00 UTC: b's demo request is a second inside the 30 days."""
    wh = warehouse.warehouse
    leads = wh.table("leads")
    paris = datetime(2026, 3, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    rule = parse_rule("has_event('demo_request', within='30d')")
    kept = leads.filter(compile_rule(rule, leads, as_of=paris, touches=wh.table("touches")))
    assert kept.lead_id.to_pyarrow().to_pylist() == ["b"]


def test_values_reach_sql_as_escaped_literals() -> None:
    """The compiled SQL quotes the value (its single quote doubled); nothing of the rule is pasted in as SQL."""
    import ibis

    leads = ibis.table({"lead_id": "string", "created_at": "timestamp", "company": "string"}, name="leads")
    rule = parse_rule('company = "x\'; drop table leads; --"')
    sql = ibis.to_sql(leads.filter(compile_rule(rule, leads, as_of=AS_OF)), dialect="duckdb")
    assert "'x''; drop table leads; --'" in sql
    assert ";" not in sql.replace("'x''; drop table leads; --'", "")


# --- syntax errors ------------------------------------------------------------------------------------------------
def problems_of(text: str) -> list[RuleProblem]:
    with pytest.raises(RuleError) as caught:
        parse_rule(text)
    return caught.value.problems


def test_an_unclosed_parenthesis_on_the_second_line() -> None:
    [problem] = problems_of("score >= 50 and\n  (employees > 3 or country = 'US'")
    assert (problem.line, problem.column) == (2, 35)
    assert problem.message == "the rule ends before a parenthesis is closed"
    assert problem.hint == "add ')' to close the '(' at line 2, column 3"


def test_a_stray_operator() -> None:
    [problem] = problems_of("score >= >= 50")
    assert (problem.line, problem.column) == (1, 10)
    assert problem.message == "unexpected '>='"
    assert "expected a value" in problem.hint


def test_the_parser_goes_on_after_an_error_and_reports_the_next() -> None:
    problems = problems_of("score >= 5 and and employees > 3 or")
    assert [(p.line, p.column, p.message) for p in problems] == [
        (1, 16, "unexpected 'and'"),
        (1, 36, "the rule ends too early"),
    ]


def test_a_missing_and_or_comma_is_one_problem() -> None:
    """The parser reads the missing word in and goes on, rather than reporting the rest of the rule again."""
    assert [(p.column, p.message, p.hint) for p in problems_of("score >= 50 employees > 3")] == [
        (13, "unexpected 'employees'", "expected 'and', 'or', the end of the rule")
    ]
    assert [(p.column, p.hint) for p in problems_of("country in ('US' 'CA')")] == [(18, "expected ')', ','")]
    assert [p.column for p in problems_of("has_event('demo' within='30d')")] == [18]


def test_in_needs_a_list_in_parentheses() -> None:
    problem = problems_of("country in 'US'")[0]
    assert (problem.line, problem.column, problem.message) == (1, 12, "unexpected 'US'")
    assert problem.hint == "expected '('"


def test_an_unknown_character_and_an_unclosed_string() -> None:
    first = problems_of("score @ 5")[0]
    assert (first.column, first.message) == (7, "unexpected character '@'")
    [problem] = problems_of("country = 'US")
    assert (problem.column, problem.message) == (11, "a string is not closed")


def test_an_empty_rule() -> None:
    assert problems_of("  \n")[0].message == "the rule is empty"


def test_comparisons_do_not_chain() -> None:
    assert problems_of("1 < employees < 100")[0].message == "unexpected '<'"


def test_the_error_message_lists_every_problem() -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule("score >= 5 and and employees > 3 or")
    assert str(caught.value) == (
        "2 problems in the rule:\n"
        "  line 1, column 16: unexpected 'and' (expected a value, a column name, a function call, 'not' or '(')\n"
        "  line 1, column 36: the rule ends too early (expected a value, a column name, a function call, 'not' or '(')"
    )


# --- what a rule uses ---------------------------------------------------------------------------------------------
def test_a_rule_knows_its_attributes_and_functions() -> None:
    rule = parse_rule("score >= 50 and (country in ('US') or has_event('demo', within='30d')) # hot leads")
    assert rule.attributes == {"score", "country"}
    assert rule.functions == {"has_event"}
    assert isinstance(rule.ast, object)
    calls = [n for n in (rule.ast.operands[1].operands) if isinstance(n, Call)]  # type: ignore[union-attr]
    assert calls[0].keywords[0].name == "within"


def test_durations() -> None:
    assert parse_duration("30d").days == 30  # type: ignore[union-attr]
    assert parse_duration("12h").total_seconds() == 12 * 3600  # type: ignore[union-attr]
    assert parse_duration("2w").days == 14  # type: ignore[union-attr]
    assert parse_duration("90m").total_seconds() == 90 * 60  # type: ignore[union-attr]
    assert parse_duration("3 days").days == 3  # type: ignore[union-attr]  # the definitions file's spellings
    assert parse_duration("24 business hours") is None  # calendar time only
    assert parse_duration("1.5d") is None
    assert parse_duration("0d") is None


# --- checking a rule against the leads' columns --------------------------------------------------------------------
def check(text: str, columns: dict[str, str] | None = None) -> list[tuple[int, int, str, str]]:
    found = check_rule(parse_rule(text), COLUMNS if columns is None else columns)
    return [(p.line, p.column, p.message, p.hint) for p in found]


def test_unknown_attributes_all_at_once_with_the_closest_names() -> None:
    assert check("scor >= 50 and\ncontry = 'US'") == [
        (1, 1, "unknown attribute 'scor'", "did you mean 'score'?"),
        (2, 1, "unknown attribute 'contry'", "did you mean 'country' or 'company'?"),
    ]


def test_score_without_scoring() -> None:
    columns = {k: v for k, v in COLUMNS.items() if k != "score"}
    assert check("score >= 50", columns) == [
        (1, 1, "unknown attribute 'score'", "the lead score is not available: no scoring is set up")
    ]


def test_unknown_function_lists_the_known_ones() -> None:
    [(line, column, message, hint)] = check("has_events('demo')")
    assert (line, column, message) == (1, 1, "unknown function 'has_events'")
    assert hint.startswith("did you mean 'has_event'? known functions: count_activities, count_events")


def test_wrong_arguments() -> None:
    assert check("has_event()")[0][2] == "has_event takes one event kind, got 0 arguments"
    assert check("has_event(demo)")[0][2:] == (
        "the kind of has_event must be a quoted string",
        "write has_event(kind [, within='30d'])",
    )
    assert check("has_event('demo', since='3d')")[0][2] == "unknown argument 'since' of has_event"
    assert check("days_since_created(5) > 1")[0][2] == "days_since_created() takes no arguments"


def test_bad_durations() -> None:
    assert check("has_event('demo', within='3 months')") == [
        (
            1,
            26,
            "bad duration '3 months'",
            "a duration is a positive whole number of minutes, hours, days or weeks: '90m', '12h', '30d'",
        )
    ]
    assert check("has_event('demo', within='24 business hours')")[0][2] == "bad duration '24 business hours'"
    assert check("has_event('demo', within='0d')")[0][2] == "bad duration '0d'"
    assert check("has_event('demo', within=30)")[0][2] == "'within' must be a quoted duration"


def test_type_errors_are_all_reported() -> None:
    assert check("country = 5 and employees >= '20' and is_customer < true and country in ('US', 1)") == [
        (1, 9, "cannot compare 'country' (a string) with 5 (a number)", "quote a string value: country = 'US'"),
        (
            1,
            27,
            "cannot compare 'employees' (a number) with '20' (a string)",
            "a number column is compared with a number: employees >= 20 (no quotes)",
        ),
        (1, 51, "'<' does not order true and false", "use = or != with a condition"),
        (1, 70, "the list mixes numbers and strings", "use values of one type"),
    ]


def test_more_type_errors() -> None:
    assert check("signed_up > 'soon'")[0][2:] == ("'soon' is not a date", "write a date as '2026-01-01'")
    assert check("employees")[0][2] == "'employees' is a number, not a condition"
    assert check("'yes' or null")[0][2] == "'yes' is a string, not a condition"
    assert check("'yes' or null")[1][2] == "null is missing, not a condition"
    assert check("signed_up")[0][2] == "'signed_up' is a date, not a condition"
    assert check("country = null")[0][2:] == ("nothing is equal to null", "write 'x is null' or 'x is not null'")
    assert check("count_events('webinar') > employees")[0][2] == "an event count is compared with a number"
    assert check("country in (null)")[0][2] == "null cannot be in a list"


def test_every_item_of_a_list_is_checked() -> None:
    assert check("signed_up in ('2026-01-10', 'later', '2026-13-01')") == [
        (1, 29, "'later' is not a date", "write a date as '2026-01-01'"),
        (1, 38, "'2026-13-01' is not a date", "write a date as '2026-01-01'"),
    ]


def test_syntax_and_type_problems_in_one_call() -> None:
    """`rule_problems` is what a definitions file check calls: syntax problems first, else every other problem."""
    assert [p.message for p in rule_problems("score >= ", COLUMNS)] == ["the rule ends too early"]
    assert [p.message for p in rule_problems("scor >= 1 or has_evnt('x')", COLUMNS)] == [
        "unknown attribute 'scor'",
        "unknown function 'has_evnt'",
    ]


def test_a_problem_placed_in_its_file() -> None:
    """A rule starting at line 12, column 10 of a definitions file: its problems move there."""
    first, second = RuleProblem(1, 5, "m", "h"), RuleProblem(2, 3, "m", "h")
    assert (first.at(12, 10).line, first.at(12, 10).column) == (12, 14)
    assert (second.at(12, 10).line, second.at(12, 10).column) == (13, 3)


def test_a_clean_rule_has_no_problems() -> None:
    assert check("score >= 50 and has_event('demo_request', within='30d') and signed_up < '2026-03-01'") == []


def test_compile_refuses_a_rule_with_problems() -> None:
    import ibis

    leads = ibis.table({"lead_id": "string", "created_at": "timestamp", "country": "string"}, name="leads")
    with pytest.raises(RuleError) as caught:
        compile_rule(parse_rule("contry = 'US' or has_event('demo')"), leads, as_of=AS_OF)
    assert [p.message for p in caught.value.problems] == [
        "unknown attribute 'contry'",
        "has_event needs the touches table",
    ]
