"""The definitions file: stages as code, read from YAML, every problem reported with file, line, column and a hint."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tandem.definitions.model import (
    DEFAULT_DEFINITIONS_PATH,
    BehaviourRule,
    Change,
    Definitions,
    DefinitionsError,
    FitRule,
    Scoring,
    StageDefinition,
    default_definitions,
    definitions_from_stages,
    diff_definitions,
    dump_definitions,
    load_definitions,
)
from tandem.durations import parse_duration
from tandem.errors import Issue
from tandem.warehouse.schema import DEFAULT_STAGES, TABLES

LEAD_COLUMNS = {"employees": "integer", "country": "string", "industry": "string", "created_at": "timestamp"}

FULL_EXAMPLE = """\
version_note: MQL needs 50 points instead of 60
stages:
  - name: lead
    side: marketing
    description: Someone we can reach who showed interest.
  - name: mql
    side: marketing
    description: A lead marketing believes is worth a sales conversation.
    rule: score >= 50
    sla: 24 business hours
  - name: sql
    after: mql
    side: sales
    description: A lead sales accepted and will work.
    sla: 2d
  - name: opportunity
    side: sales
    description: A qualified deal with an amount and a close date.
    rule: |
      employees >= 20
      and country in ('US', 'CA')
  - name: won
    side: sales
    description: The customer signed.
scoring:
  fit:
    - when: industry = 'software'
      points: 20
    - when: country = 'XX'
      points: -10
  behaviour:
    - event: webinar
      points: 10
      within: 90d
      half_life: 14d
    - event: email_click
      points: 2
"""


def refused(text: str, **kwargs: object) -> list[Issue]:
    """The problems `load_definitions` reports for `text` (it must refuse it)."""
    with pytest.raises(DefinitionsError) as caught:
        load_definitions(text, **kwargs)  # type: ignore[arg-type]
    return caught.value.issues


def where(issue: Issue) -> tuple[int | None, int | None]:
    return issue.line, None if issue.column is None else int(issue.column)


def stages_yaml(body: str) -> str:
    return "stages:\n" + textwrap.indent(textwrap.dedent(body), "  ")


TWO_GOOD_STAGES = """\
- name: lead
  side: marketing
  description: Someone we can reach.
- name: won
  side: sales
  description: The customer signed.
"""


# --- the good cases -----------------------------------------------------------------------------------------------
def test_the_default_definitions_load_with_the_default_stages_and_a_24_business_hour_handover() -> None:
    defs = default_definitions()
    assert tuple(defs.stage_names) == DEFAULT_STAGES
    assert [stage.side for stage in defs.stages] == ["marketing", "marketing", "sales", "sales", "sales"]
    assert all(stage.description for stage in defs.stages)
    sla = defs.stage("mql").sla
    assert sla is not None
    assert (sla.text, sla.amount, sla.unit, sla.business) == ("24 business hours", 24, "business_hours", True)
    assert sla.seconds == 24 * 3600  # business hours count as calendar hours until a calendar exists
    assert defs.scoring is not None


def test_the_default_rules_use_only_columns_every_leads_table_has() -> None:
    canonical = {column.name: column.type for column in TABLES["leads"].columns}
    assert load_definitions(DEFAULT_DEFINITIONS_PATH, columns=canonical) == default_definitions()


def test_a_full_example_loads_into_models() -> None:
    defs = load_definitions(FULL_EXAMPLE, columns=LEAD_COLUMNS)
    assert defs.version_note == "MQL needs 50 points instead of 60"
    assert defs.stage("mql").rule == "score >= 50"
    assert defs.stage("opportunity").rule == "employees >= 20\nand country in ('US', 'CA')\n"
    assert defs.stage("sql").sla == parse_duration("2d")
    assert defs.scoring == Scoring(
        fit=(FitRule(when="industry = 'software'", points=20), FitRule(when="country = 'XX'", points=-10)),
        behaviour=(
            BehaviourRule(event="webinar", points=10, within=parse_duration("90d"), half_life=parse_duration("14d")),
            BehaviourRule(event="email_click", points=2),
        ),
    )


def test_a_full_example_round_trips_through_dump_and_load() -> None:
    defs = load_definitions(FULL_EXAMPLE)
    text = dump_definitions(defs)
    assert load_definitions(text) == defs
    assert dump_definitions(load_definitions(text)) == text  # stable: dumping again changes nothing
    assert text.index("name:") < text.index("side:") < text.index("description:")


def test_a_file_path_is_read_and_named_in_problems(tmp_path: Path) -> None:
    path = tmp_path / "funnel.yaml"
    path.write_text("stages: []\n", encoding="utf-8")
    with pytest.raises(DefinitionsError) as caught:
        load_definitions(path)
    assert caught.value.issues[0].file == str(path)
    assert str(path) in str(caught.value)


def test_the_first_stage_may_have_a_rule_that_filters_which_leads_count() -> None:
    text = stages_yaml(TWO_GOOD_STAGES.replace("Someone we can reach.", "Someone.\n  rule: country != 'XX'"))
    assert load_definitions(text, columns=LEAD_COLUMNS).stages[0].rule == "country != 'XX'"


# --- durations ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("24h", 86400), ("2d", 172800), ("1w", 604800), ("90 days", 90 * 86400), ("24bh", 86400)],
)
def test_durations_are_a_whole_number_and_a_unit(text: str, seconds: int) -> None:
    duration = parse_duration(text)
    assert duration.seconds == seconds
    assert duration.text == text  # kept as written


@pytest.mark.parametrize("text", ["soon", "24", "0h", "1.5h", "5 fortnights", "-2d"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse_duration(text)


def test_a_bad_sla_is_refused_at_its_value() -> None:
    text = stages_yaml(TWO_GOOD_STAGES.replace("Someone we can reach.", "Someone.\n  sla: soon"))
    [issue] = refused(text)
    assert where(issue) == (5, 10)
    assert issue.value == "soon"
    assert "24h" in issue.expected


def test_the_last_stage_cannot_have_an_sla_because_nobody_acts_after_it() -> None:
    [issue] = refused(stages_yaml(TWO_GOOD_STAGES + "  sla: 2d\n"))
    assert where(issue) == (8, 10)
    assert "last stage" in issue.problem


# --- bad input, each refused with its place and a hint ------------------------------------------------------------
def test_malformed_yaml_is_refused_at_the_place_the_parser_stopped() -> None:
    [issue] = refused("stages:\n  - name: lead\n    side: [marketing\n")
    assert issue.problem.startswith("malformed YAML")
    assert issue.line == 4
    assert issue.expected


def test_an_empty_file_and_a_file_that_is_not_a_mapping_are_refused() -> None:
    assert "empty" in refused("")[0].problem
    [issue] = refused("- lead\n- won\n")
    assert where(issue) == (1, 1)
    assert "mapping" in issue.problem


def test_an_unknown_key_suggests_the_right_one() -> None:
    [issue] = refused(stages_yaml(TWO_GOOD_STAGES.replace("  side: sales", "  side: sales\n  dscription: more")))
    assert where(issue) == (7, 5)
    assert issue.problem == "unknown key 'dscription' in a stage"
    assert issue.expected.startswith("did you mean 'description'?")
    top = refused("stage:\n  - name: lead\n")[0]
    assert top.expected.startswith("did you mean 'stages'?")


def test_missing_name_side_and_description_are_each_named() -> None:
    issues = refused(stages_yaml("- side: marketing\n- name: won\n  side: sales\n"))
    assert [(where(issue), issue.problem) for issue in issues] == [
        ((2, 5), "stage 1 has no 'name'"),
        ((2, 5), "stage 1 has no 'description'"),
        ((3, 5), "stage 'won' has no 'description'"),
    ]


def test_a_side_other_than_marketing_or_sales_is_refused_with_a_suggestion() -> None:
    [issue] = refused(stages_yaml(TWO_GOOD_STAGES.replace("side: sales", "side: sale")))
    assert where(issue) == (6, 11)
    assert issue.expected == "did you mean 'sales'? side is marketing or sales"


def test_stage_names_must_be_lower_snake_case() -> None:
    [issue] = refused(stages_yaml(TWO_GOOD_STAGES.replace("name: won", "name: Closed Won")))
    assert where(issue) == (5, 11)
    assert "'closed_won'" in issue.expected


def test_duplicate_stages_name_both_lines() -> None:
    [issue] = refused(stages_yaml(TWO_GOOD_STAGES + TWO_GOOD_STAGES.split("- name: won")[1].join(["- name: lead", ""])))
    assert where(issue) == (8, 11)
    assert "duplicate stage 'lead': defined on line 2 and line 8" in issue.problem


def test_a_funnel_needs_at_least_two_stages() -> None:
    [issue] = refused(stages_yaml(TWO_GOOD_STAGES.split("- name: won")[0]))
    assert "at least two stages" in issue.problem
    assert "at least two" in refused("stages: []\n")[0].problem


def test_after_must_match_the_list_order() -> None:
    text = stages_yaml(TWO_GOOD_STAGES + "- name: churned\n  after: lead\n  side: sales\n  description: Gone.\n")
    [issue] = refused(text)
    assert where(issue) == (9, 12)
    assert issue.problem == "stage 'churned' says it is after 'lead', but it is listed after 'won'"


def test_after_must_name_a_stage() -> None:
    [issue] = refused(stages_yaml(TWO_GOOD_STAGES.replace("- name: won", "- name: won\n  after: leed")))
    assert where(issue) == (6, 12)
    assert issue.expected.startswith("did you mean 'lead'?")


def test_cyclic_stages_are_reported_once_with_their_chain() -> None:
    text = stages_yaml(
        """\
        - name: lead
          after: won
          side: marketing
          description: Someone we can reach.
        - name: mql
          after: lead
          side: marketing
          description: Worth a call.
        - name: won
          after: mql
          side: sales
          description: Signed.
        """
    )
    [issue] = refused(text)
    assert where(issue) == (3, 12)
    assert issue.problem.startswith("cyclic stages: lead -> won -> mql -> lead")


def test_points_must_be_whole_numbers_and_half_life_needs_a_window() -> None:
    text = stages_yaml(TWO_GOOD_STAGES) + textwrap.dedent(
        """\
        scoring:
          fit:
            - when: employees > 5
              points: lots
          behaviour:
            - event: webinar
              points: 2.5
            - event: email_open
              points: 1
              half_life: 7d
        """
    )
    issues = refused(text)
    assert [(where(issue), issue.problem) for issue in issues] == [
        ((11, 15), "'points' in fit rule 1 must be a whole number"),
        ((14, 15), "'points' in behaviour rule 1 must be a whole number"),
        ((17, 7), "behaviour rule 2 has a 'half_life' but no 'within'"),
    ]
    assert issues[0].value == "lots"


def test_several_problems_are_reported_together_in_one_run_in_file_order() -> None:
    text = textwrap.dedent(
        """\
        stages:
          - name: lead
            side: marketing
            descripton: Someone we can reach.
          - name: mql
            side: saless
            description: Worth a call.
            sla: soon
          - name: mql
            side: sales
            description: Signed.
        """
    )
    with pytest.raises(DefinitionsError) as caught:
        load_definitions(text, source_name="funnel.yaml")
    places = [where(issue) for issue in caught.value.issues]
    assert places == [(4, 5), (6, 11), (8, 10), (9, 11)]  # not also "no description": the misspelling says it
    message = str(caught.value)
    assert message.startswith("4 problems in the definitions; nothing was changed.")
    assert "funnel.yaml, line 4, column 5: unknown key 'descripton' in a stage. Hint: did you mean" in message
    assert all(issue.file == "funnel.yaml" for issue in caught.value.issues)


def test_a_definitions_error_is_a_tandem_error_and_a_value_error() -> None:
    from tandem.errors import TandemError

    with pytest.raises(DefinitionsError) as caught:
        load_definitions("stages: 3\n")
    assert isinstance(caught.value, TandemError)
    assert isinstance(caught.value, ValueError)


# --- rules inside the file, at their place in the file -----------------------------------------------------------
def test_an_unknown_attribute_in_a_stage_rule_is_reported_at_its_file_line_and_column() -> None:
    text = stages_yaml(
        TWO_GOOD_STAGES.replace(
            "description: The customer signed.", "description: Signed.\n  rule: employees > 5 and colour = 'red'"
        )
    )
    [issue] = refused(text, columns=LEAD_COLUMNS)
    assert where(issue) == (8, 29)  # `rule: ` starts the value at column 11; colour is the rule's 19th character
    assert "unknown attribute 'colour'" in issue.problem
    assert issue.value == "employees > 5 and colour = 'red'"


def test_a_rule_syntax_error_inside_a_block_scalar_is_reported_at_its_file_line() -> None:
    rule = "  rule: |\n    employees > 5\n    and and country = 'US'\n"
    [issue] = refused(stages_yaml(TWO_GOOD_STAGES + rule), columns=LEAD_COLUMNS)
    assert where(issue) == (10, 11)  # the second `and`, on the rule's second line, indented by 6
    assert issue.problem.startswith("the rule of stage 'won':")


@pytest.mark.parametrize(
    ("rule", "place"),
    [
        ("  rule: employees > 5 and\n    colour = 'x'\n", (9, 7)),  # a plain scalar over two lines
        ("  rule: >\n    employees > 5 and\n    colour = 'x'\n", (10, 7)),  # folded into one line
        ("  rule: |\n    employees > 5 and\n      colour = 'x'\n", (10, 9)),  # literal, more indented
        ("  rule: 'employees > 5 and colour = ''x'''\n", (8, 30)),  # quoted: past the quote
    ],
)
def test_rule_problems_are_placed_in_the_file_whatever_the_yaml_style(rule: str, place: tuple[int, int]) -> None:
    [issue] = refused(stages_yaml(TWO_GOOD_STAGES + rule), columns=LEAD_COLUMNS)
    assert where(issue) == place
    assert "unknown attribute 'colour'" in issue.problem


def test_rule_problems_and_file_problems_come_together_in_one_run() -> None:
    text = stages_yaml(
        TWO_GOOD_STAGES.replace("name: lead", "name: lead\n  rule: employees > 'many'")
        + "  rule: was_webinar('x')\n  sla: soon\n"
    )
    issues = refused(text, columns=LEAD_COLUMNS)
    assert [where(issue) for issue in issues] == [(3, 21), (9, 11), (10, 10), (10, 10)]
    assert "cannot compare 'employees' (a number) with 'many'" in issues[0].problem  # a type error
    assert "unknown function 'was_webinar'" in issues[1].problem
    assert "not a duration" in issues[2].problem
    assert "last stage" in issues[3].problem
    assert all(issue.expected for issue in issues)


def test_rule_syntax_is_checked_even_without_columns() -> None:
    text = stages_yaml(TWO_GOOD_STAGES.replace("name: won", 'name: won\n  rule: "employees >"'))
    [issue] = refused(text)
    assert where(issue) == (6, 23)  # the end of the rule: past the opening quote at column 11 and 12 characters


def test_score_is_allowed_in_stage_rules_only_when_scoring_is_defined() -> None:
    text = stages_yaml(TWO_GOOD_STAGES.replace("name: won", "name: won\n  rule: score >= 50"))
    [issue] = refused(text, columns=LEAD_COLUMNS)
    assert where(issue) == (6, 11)
    assert "scoring" in issue.expected
    scored = text + "scoring:\n  fit:\n    - when: employees > 100\n      points: 10\n"
    assert load_definitions(scored, columns=LEAD_COLUMNS).stage("won").rule == "score >= 50"


def test_fit_rules_are_checked_against_the_columns_too() -> None:
    text = stages_yaml(TWO_GOOD_STAGES) + "scoring:\n  fit:\n    - when: head_count > 100\n      points: 10\n"
    [issue] = refused(text, columns=LEAD_COLUMNS)
    assert where(issue) == (10, 13)
    assert "head_count" in issue.problem


# --- stages given to tandem init, and what changed -------------------------------------------------------------
def test_definitions_from_the_default_stages_split_the_sides_at_the_midpoint() -> None:
    defs = definitions_from_stages(DEFAULT_STAGES)
    assert tuple(defs.stage_names) == DEFAULT_STAGES
    assert [stage.side for stage in defs.stages] == ["marketing", "marketing", "sales", "sales", "sales"]
    assert all(stage.rule is None and stage.sla is None and stage.description for stage in defs.stages)
    assert load_definitions(dump_definitions(defs)) == defs
    assert [stage.side for stage in definitions_from_stages(["signup", "paid"]).stages] == ["marketing", "sales"]


def test_definitions_from_bad_stages_are_refused() -> None:
    with pytest.raises(DefinitionsError) as caught:
        definitions_from_stages(["lead", "Lead Won", "lead"])
    problems = [issue.problem for issue in caught.value.issues]
    assert problems == ["stage name 'Lead Won' is not lower snake_case", "duplicate stage 'lead'"]
    with pytest.raises(DefinitionsError, match="at least two"):
        definitions_from_stages(["lead"])


def test_a_loosened_mql_rule_is_a_rule_change_on_mql() -> None:
    old = load_definitions(FULL_EXAMPLE)
    new = load_definitions(FULL_EXAMPLE.replace("score >= 50", "score >= 40"))
    assert diff_definitions(old, new) == [Change("mql", "rule", "score >= 50", "score >= 40")]
    assert str(diff_definitions(old, new)[0]) == "stage 'mql': rule: score >= 50 -> score >= 40"
    assert diff_definitions(old, old) == []


def test_diff_names_added_removed_and_reordered_stages_sides_slas_and_scoring() -> None:
    old = load_definitions(FULL_EXAMPLE)
    stages = list(old.stages)
    sql = stages.pop(2)
    stages.insert(3, sql.model_copy(update={"side": "marketing", "sla": parse_duration("3d")}))
    stages[4] = StageDefinition(name="closed_won", side="sales", description="Signed.")
    scoring = Scoring(fit=(*(old.scoring.fit if old.scoring else ()), FitRule(when="employees > 500", points=5)))
    new = Definitions(stages=tuple(stages), scoring=scoring)
    changes = diff_definitions(old, new)
    assert Change("won", "removed", "The customer signed.", None) in changes
    assert Change("closed_won", "added", None, "Signed.") in changes
    assert Change("sql", "side", "sales", "marketing") in changes
    assert Change("sql", "sla", "2d", "3d") in changes
    assert (
        Change(
            None, "order", "lead -> mql -> sql -> opportunity -> won", "lead -> mql -> opportunity -> sql -> closed_won"
        )
        in changes
    )
    assert Change(None, "scoring", None, "fit: employees > 500 -> +5") in changes
    assert Change(None, "scoring", "behaviour: webinar -> +10 within 90d, half-life 14d", None) in changes
