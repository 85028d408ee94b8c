"""The rules file: a good one is read whole; every kind of bad one is refused with file, line, column and a hint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tandem.alerts import SIGNAL_KINDS, AlertRulesError, load_rules

GOOD = """\
destinations:
  revops: {webhook: "https://hooks.example.com/T000/B000"}
  leaders: {email: [maria@example.com, sam@example.com]}
rules:
  - name: goal-at-risk
    signal: goal_chance
    below: 0.5
    min_sample: 1000
    send_to: [revops, leaders]
  - name: mql-behind
    signal: stage_pace
    subject: mql
    below: 0.85
    min_sample: 30
    send_to: [revops]
  - name: big-gap
    signal: revenue_gap
    above: 250000
    send_to: leaders
"""


def problems(text: str) -> str:
    with pytest.raises(AlertRulesError) as caught:
        load_rules(text, source_name="alerts.yaml")
    return str(caught.value)


def test_a_good_file_is_read_whole() -> None:
    rules = load_rules(GOOD)
    assert [r.name for r in rules.rules] == ["goal-at-risk", "mql-behind", "big-gap"]
    goal, mql, gap = rules.rules
    assert (goal.signal, goal.direction, goal.threshold, goal.min_sample) == ("goal_chance", "below", 0.5, 1000)
    assert goal.send_to == ("revops", "leaders")
    assert goal.subject is None
    assert (mql.subject, mql.threshold) == ("mql", 0.85)
    assert (gap.direction, gap.threshold, gap.min_sample, gap.send_to) == ("above", 250000, 0, ("leaders",))
    assert rules.destinations["revops"].channel == "webhook"
    assert rules.destinations["revops"].target == "https://hooks.example.com/..."  # the secret path is not shown
    assert rules.destinations["leaders"].email == ("maria@example.com", "sam@example.com")


def test_a_file_is_read_from_its_path_and_a_missing_one_says_how_to_start(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    with pytest.raises(AlertRulesError, match=r"alerts\.yaml: there is no alert rules file.*destinations:"):
        load_rules(path)
    path.write_text(GOOD.replace("below: 0.85", "below: lots"), encoding="utf-8")
    with pytest.raises(AlertRulesError, match=rf"{re.escape(str(path))}, line 13, column 12: rule 2 'below'"):
        load_rules(path)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # each: (text replaced -> replacement), and what the message must say (line and column included)
        (
            ("    signal: stage_pace\n", "    signal: stage_speed\n"),
            r"line 11, column 13: rule 2 'signal': input should be .*'stage_speed'.*Hint: one of: goal_chance, "
            r"stage_pace, revenue_gap, bottleneck",
        ),
        (
            ("    below: 0.85\n", "    below: 0.85\n    above: 1.2\n"),
            r"line 10, column 5: rule 2: give exactly one of below or above.*Hint: write `below: 0.5`",
        ),
        (
            ("    below: 0.85\n", ""),
            r"line 10, column 5: rule 2: give exactly one of below or above",
        ),
        (
            ("    min_sample: 30\n", "    min_samples: 30\n"),
            r"line 14, column 5: unknown key 'min_samples' in rule 2.*Hint: a rule takes: name, signal, subject",
        ),
        (
            ("    min_sample: 30\n", "    min_sample: -3\n"),
            r"line 14, column 17: rule 2 'min_sample': input should be greater than or equal to 0 \('-3'\)",
        ),
        (
            ("    send_to: [revops]\n", "    send_to: [revops, sales]\n"),
            r"line 15, column 23: rule 'mql-behind' sends to 'sales', which is not a destination \('sales'\).*"
            r"Hint: one of the names under `destinations:` \(revops, leaders\)",
        ),
        (
            ("  - name: big-gap\n", "  - name: goal-at-risk\n"),
            r"line 16, column 11: rule name 'goal-at-risk' appears twice \(first as rule 1\)",
        ),
        (
            ("  - name: big-gap\n", "  - name: Big Gap\n"),
            r"line 16, column 11: rule 3 'name': must be lower-case letters",
        ),
        (
            ('{webhook: "https://hooks.example.com/T000/B000"}', '{webhook: "ftp://hooks.example.com/x"}'),
            r"line 2, column 21: destination 'revops' 'webhook': must be an http:// or https:// URL",
        ),
        (
            ("{email: [maria@example.com, sam@example.com]}", "{email: [maria@example.com, sam]}"),
            r"line 3, column 40: destination 'leaders' 'email': 'sam' is not an email address \('sam'\)",
        ),
        (
            ("{email: [maria@example.com, sam@example.com]}", "{email: [maria@example.com], webhook: http://x.io}"),
            r"line 3, column 12: destination 'leaders': give exactly one of webhook or email",
        ),
        (
            ("    send_to: [revops]\n", ""),
            r"line 10, column 5: rule 2 has no 'send_to'.*Hint: a list of destination names",
        ),
        (
            (
                "rules:\n",
                "rules:\n  - name: x\n    signal: goal_chance\n    below: 1\n    send_to: [revops]\n    send_to: []\n",
            ),
            r"line 9, column 5: key 'send_to' appears twice \(first on line 8\)",
        ),
        (
            ("destinations:\n", "destination:\n"),
            r"line 1, column 1: unknown key 'destination' in the alert rules file.*Hint: the file takes: "
            r"destinations, rules",
        ),
        (
            ("    below: 0.85\n", "    below: [0.85\n"),
            r"line 14, column \d+: malformed YAML",
        ),
    ],
)
def test_each_kind_of_bad_file_is_refused_at_its_place(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    message = problems(GOOD.replace(old, new, 1))
    assert message.startswith("1 problem in the alert rules; nothing was sent.\nalerts.yaml, "), message
    assert re.search(expected, message, re.S), message


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    text = GOOD.replace("signal: goal_chance", "signal: chance").replace("min_sample: 30", "min_sample: many")
    message = problems(text)
    assert message.splitlines()[0] == "2 problems in the alert rules; nothing was sent."
    assert "line 6, column 13" in message.splitlines()[1]
    assert "line 14, column 17" in message.splitlines()[2]


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "- a list\n"])
def test_an_empty_or_shapeless_file_says_how_to_start(text: str) -> None:
    assert "destinations:" in problems(text)


def test_the_known_signal_kinds_are_the_forecasts_and_the_handoffs() -> None:
    assert SIGNAL_KINDS == ("goal_chance", "stage_pace", "revenue_gap", "bottleneck", "sla_at_risk", "sla_breach")
