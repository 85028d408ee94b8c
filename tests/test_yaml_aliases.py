"""YAML anchors and aliases are refused in every file tandem reads, at the first one's place, before anything is built.

A "billion laughs" file of a few hundred bytes nests aliases nine deep: 9**9 (387 million) strings once expanded.
Composed or loaded as PyYAML does by default, then walked or validated, it runs for minutes; refused at its first
anchor it costs one line of parsing. The refusal is what bounds these tests: were it missing, they would hang.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tandem
from tandem.alerts.rules import AlertRulesError, load_rules
from tandem.definitions.model import DefinitionsError, load_definitions
from tandem.definitions.rule_builder import _scalar, with_stage_rule
from tandem.errors import ConfigError
from tandem.located_yaml import YamlAliasError, load_yaml
from tandem.plan.proposals import PlanFileError, load_plan
from tandem.plan.scenarios import load_scenarios

from .test_cli_accounts import failed, tandem_cli

LAUGHS = ["lol: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
]
#: Nine levels of nine: the first anchor is `&a`, on line 2 at column 6 (after the comment line and `lol: `).
BOMB = "# a billion laughs\n" + "\n".join(LAUGHS) + "\n"

PROBLEM = "YAML anchors and aliases (&name, *name) are not accepted (&a)"
HINT = "write the value out in full everywhere it is used"


def test_the_bomb_is_a_few_hundred_bytes() -> None:
    # 19 (the comment) + 54 (`lol: &a [...]`) + 8 x 43 (`b: &b [*a, ... *a]` to `i: ...`)
    assert len(BOMB.encode()) == 417
    assert BOMB.splitlines()[1][:8] == "lol: &a "


def test_the_alert_rules_file_refuses_it_at_the_first_anchor(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(BOMB, encoding="utf-8")
    with pytest.raises(AlertRulesError) as refused:
        load_rules(path)
    assert str(refused.value) == (
        f"1 problem in the alert rules; nothing was sent.\n{path}, line 2, column 6: {PROBLEM}. Hint: {HINT}"
    )


def test_tandem_alerts_check_refuses_it_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    tandem.init_workspace(folder).close()
    (folder / "alerts.yaml").write_text(BOMB, encoding="utf-8")
    shown = failed(tandem_cli(folder, "alerts", "check"))
    assert f"alerts.yaml, line 2, column 6: {PROBLEM}. Hint: {HINT}" in shown
    assert "Traceback" not in shown


def test_the_definitions_file_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "definitions.yaml"
    path.write_text(BOMB, encoding="utf-8")
    with pytest.raises(DefinitionsError) as refused:
        load_definitions(path)
    assert str(refused.value) == (
        f"1 problem in the definitions; nothing was changed.\n{path}, line 2, column 6: {PROBLEM}. Hint: {HINT}"
    )


def test_the_plan_file_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(BOMB, encoding="utf-8")
    with pytest.raises(PlanFileError) as refused:
        load_plan(path)
    assert str(refused.value) == (
        f"1 problem in the plan; nothing was stored.\n{path}, line 2, column 6: {PROBLEM}. Hint: {HINT}"
    )


def test_a_scenarios_file_refuses_it_in_one_line() -> None:
    with pytest.raises(ConfigError) as refused:
        load_scenarios(BOMB, "what-ifs.yaml")
    assert str(refused.value) == f"what-ifs.yaml, line 2, column 6: {PROBLEM}; {HINT}"


def test_an_alias_is_refused_where_it_stands_even_without_its_anchor() -> None:
    text = "scenarios:\n  - name: flat\n    budget: 250k\n  - <<: *flat\n"
    with pytest.raises(YamlAliasError) as refused:
        load_scenarios(text, "s.yaml")
    assert str(refused.value) == f"s.yaml, line 4, column 9: {PROBLEM.replace('(&a)', '(*flat)')}; {HINT}"
    assert (refused.value.line, refused.value.column, refused.value.token) == (4, 9, "*flat")


def test_the_rule_builder_refuses_it_in_the_file_it_edits_and_quotes_a_rule_that_looks_like_one() -> None:
    with pytest.raises(YamlAliasError) as refused:
        with_stage_rule(BOMB, "mql", "score >= 50")
    assert str(refused.value) == f"the definitions file, line 2, column 6: {PROBLEM}; {HINT}"
    assert _scalar("*star") == '"*star"'
    assert _scalar("&anchor x") == '"&anchor x"'
    assert _scalar("score >= 50") == "score >= 50"


def test_a_file_without_anchors_loads_as_before() -> None:
    assert load_yaml("a: [1, 2]\nb: {c: 'x & y', d: '*z'}\n", "f.yaml") == {"a": [1, 2], "b": {"c": "x & y", "d": "*z"}}


#: Every way PyYAML reads YAML text, which must go through `tandem.located_yaml` instead.
DIRECT_READS = re.compile(
    r"\byaml\.(safe_load|load|full_load|unsafe_load|load_all|safe_load_all|compose|compose_all|parse|scan)\s*\("
    r"|\b(SafeLoader|FullLoader|UnsafeLoader|CSafeLoader|CLoader|BaseLoader)\s*\("
    r"|from yaml import .*\b(safe_load|load|compose)\b"
)


def test_no_module_reads_yaml_except_through_the_one_loader() -> None:
    package = Path(tandem.__file__).parent
    found = [
        f"{path.relative_to(package)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "located_yaml.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if DIRECT_READS.search(line)
    ]
    assert found == []
