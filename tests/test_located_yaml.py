"""The located-YAML reader: every problem of a hand-written file at once, each at its line and column."""

from __future__ import annotations

from yaml.nodes import ScalarNode

from tandem.errors import Issue
from tandem.located_yaml import YamlReader, compose_yaml, is_null

FILE = """\
stages:
  - name: lead
    sidee: marketing
    name: again
  - rule: "score >= 50 and
      country = 'US'"
    points: ten
    note: ~
"""


def read(text: str) -> tuple[YamlReader, ScalarNode | None]:
    """Read FILE's two stages the way a loader does; returns the reader and the rule's node."""
    reader = YamlReader("f.yaml", text)
    root = compose_yaml(reader, text, "the file", "start with `stages:`")
    assert root is not None
    top = reader.mapping(root, ("stages",), "the file")
    assert top is not None
    first, second = top["stages"][1].value
    stage = reader.mapping(first, ("name", "side"), "a stage")
    assert stage is not None
    assert reader.text(stage, "name", "stage 1", owner=first) == "lead"
    assert reader.text(stage, "side", "stage 1", owner=first) is None  # the misspelling already says it
    rule = reader.mapping(second, ("rule", "points", "note"), "a rule")
    assert rule is not None
    assert reader.integer(rule, "points", "rule 1", second) is None
    assert reader.text(rule, "note", "rule 1") is None
    node = rule["rule"][1]
    assert isinstance(node, ScalarNode)
    return reader, node


def test_every_problem_is_noted_at_its_place_in_file_order() -> None:
    reader, _ = read(FILE)
    assert reader.sorted_issues() == [
        Issue(
            "f.yaml", 3, "5", None, "unknown key 'sidee' in a stage", "did you mean 'side'? A stage takes: name, side"
        ),
        Issue("f.yaml", 4, "5", None, "key 'name' appears twice in a stage (first on line 2)", "keep one"),
        Issue("f.yaml", 7, "13", "ten", "'points' in rule 1 must be a whole number", "e.g. 10 or -5"),
    ]


def test_a_place_inside_a_value_is_found_in_the_file() -> None:
    reader, rule = read(FILE)
    assert rule is not None
    assert reader.position_in(rule, 1, 1) == (5, 12)  # after the opening quote
    assert reader.position_in(rule, 1, 17) == (6, 7)  # `country`, on the folded second line
    block = "rule: |\n  score >= 50\n  and bad\n"
    literal = YamlReader("g.yaml", block)
    root = compose_yaml(literal, block, "the file", "start")
    assert root is not None
    value = root.value[0][1]
    assert literal.position_in(value, 2, 5) == (3, 7)  # `bad`


def test_malformed_or_empty_yaml_is_one_problem_and_no_tree() -> None:
    broken = YamlReader("h.yaml", "a: [1,\n")
    assert compose_yaml(broken, "a: [1,\n", "the file", "start") is None
    assert broken.issues == [
        Issue(
            "h.yaml",
            2,
            "1",
            None,
            "malformed YAML: expected the node content, but found '<stream end>'",
            "check the indentation, colons and quotes around this place",
        )
    ]
    empty = YamlReader("i.yaml", "")
    assert compose_yaml(empty, "", "the plan file", "start with `period:`") is None
    assert empty.issues == [Issue("i.yaml", 1, "1", None, "the plan file is empty", "start with `period:`")]


def test_null_is_yaml_s_null_not_the_word() -> None:
    reader = YamlReader("j.yaml", "")
    root = compose_yaml(reader, "a: ~\nb: 'null'\nc:\n", "the file", "start")
    assert root is not None
    values = [value for _, value in root.value]
    assert [is_null(v) for v in values] == [True, False, True]
