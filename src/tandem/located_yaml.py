"""Reading the YAML files people write, with the line and column of every value, to report every problem at once.

The definitions file, the plan file and the alert rules file are written by hand and reviewed like code. A
problem in one is reported with its place (file, 1-based line and column), the value when it helps, and a hint,
and all the problems of a file in one run: the person fixing it wants the whole list, not one per try.

How: `compose_yaml` parses the text into PyYAML's node tree, which keeps each node's start and end marks, instead
of plain Python values, which do not. A `YamlReader` walks that tree: `mapping`, `text` and `integer` turn nodes
into plain values and note a problem (an `Issue`) for anything missing, misspelt, duplicated or of the wrong type,
so the caller builds its objects only from what was read cleanly and raises once, with `sorted_issues`.

Every YAML tandem reads goes through `load_yaml` or `compose_node` here, which refuse anchors and aliases
(`&name`, `*name`): a few hundred bytes of nested aliases ("billion laughs") expand to a tree that takes hours
to walk or validate, and no tandem file needs them. The refusal is one line naming the file, line and column.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import yaml
from yaml.events import AliasEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from tandem.errors import ConfigError, Issue

__all__ = [
    "Entries",
    "YamlAliasError",
    "YamlReader",
    "compose_node",
    "compose_yaml",
    "is_null",
    "load_yaml",
    "node_value",
]

#: What a refused anchor or alias is reported as, and how to fix it.
ALIAS_PROBLEM = "YAML anchors and aliases (&name, *name) are not accepted"
ALIAS_HINT = "write the value out in full everywhere it is used"


class YamlAliasError(ConfigError):
    """A YAML text uses an anchor or alias: refused before anything is built from it, at the first one's place."""

    def __init__(self, source: str, line: int, column: int, token: str) -> None:
        super().__init__(f"{source}, line {line}, column {column}: {ALIAS_PROBLEM} ({token}); {ALIAS_HINT}")
        self.source = source
        self.line = line
        self.column = column
        self.token = token


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader that stops at the first anchor or alias instead of composing it."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source = source

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, NodeEvent) and event.anchor is not None:
            token = f"*{event.anchor}" if isinstance(event, AliasEvent) else f"&{event.anchor}"
            line, column = (0, 0) if event.start_mark is None else (event.start_mark.line, event.start_mark.column)
            raise YamlAliasError(self.source, line + 1, column + 1, token)
        node: Node | None = super().compose_node(parent, index)
        return node


def load_yaml(text: str, source: str) -> Any:
    """The plain Python value of a YAML text (safe tags only); `YamlAliasError` at its first anchor or alias,
    `yaml.YAMLError` when it is not YAML. `source` names the text in the refusal (a file name)."""
    loader = _NoAliasLoader(text, source)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def compose_node(text: str, source: str) -> Node | None:
    """The YAML node tree of a text, lines and columns kept (None when empty); refusals as `load_yaml`'s."""
    loader = _NoAliasLoader(text, source)
    try:
        root: Node | None = loader.get_single_node()
        return root
    finally:
        loader.dispose()


def node_value(node: Node) -> Any:
    """The plain Python value of a node that `compose_node` or `compose_yaml` composed (so free of aliases): a part
    of a file read with its places, handed whole to code that checks plain values (a team's calendar)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


#: A mapping's entries as read: key -> (the key's node, the value's node).
Entries = dict[str, tuple[Node, Node]]


def is_null(node: ScalarNode) -> bool:
    """Whether the scalar is YAML's null (``~``, ``null`` or nothing at all)."""
    return node.tag == "tag:yaml.org,2002:null"


class YamlReader:
    """Turns YAML nodes into plain values, noting each problem with its 1-based line and column in `issues`."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = text.splitlines()
        self.issues: list[Issue] = []
        self.misspelled: dict[int, set[str]] = {}  # id(mapping node) -> keys suggested for its unknown keys

    def problem(self, node: Node, problem: str, hint: str, *, value: str | None = None) -> None:
        """A problem at `node`'s place in the file."""
        mark = node.start_mark
        self.add(mark.line + 1, mark.column + 1, problem, hint, value=value)

    def add(self, line: int | None, column: int | None, problem: str, hint: str, *, value: str | None = None) -> None:
        """A problem at a 1-based `line` and `column` (None where the place is unknown or the whole file)."""
        self.issues.append(
            Issue(
                file=self.source,
                line=line,
                column=None if column is None else str(column),
                value=value,
                problem=problem,
                expected=hint,
            )
        )

    def sorted_issues(self) -> list[Issue]:
        """The problems in the order of the file, as they are reported."""
        return sorted(self.issues, key=lambda issue: (issue.line or 0, int(issue.column or 0)))

    def mapping(self, node: Node, allowed: Sequence[str], what: str) -> Entries | None:
        """The entries of a mapping with only `allowed` keys; unknown keys (with a close match to suggest) and
        duplicated keys are problems and left out. None, with a problem, when `node` is not a mapping."""
        if not isinstance(node, MappingNode):
            self.problem(node, f"{what} must be a mapping of keys to values", f"{what} takes: {', '.join(allowed)}")
            return None
        entries: Entries = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, f"a key in {what} must be a plain word", f"{what} takes: {', '.join(allowed)}")
                continue
            key = key_node.value
            if key in entries:
                first = entries[key][0].start_mark.line + 1
                self.problem(key_node, f"key {key!r} appears twice in {what} (first on line {first})", "keep one")
                continue
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.misspelled.setdefault(id(node), set()).update(close)
                takes = f"{what[0].upper()}{what[1:]} takes: {', '.join(allowed)}"
                self.problem(key_node, f"unknown key {key!r} in {what}", hint + takes)
                continue
            entries[key] = (key_node, value_node)
        return entries

    def text(self, entries: Entries, key: str, what: str, *, owner: Node | None = None) -> str | None:
        """The key's value as text; a problem (at `owner`) when missing, if `owner` is given, or when not text."""
        if key not in entries:
            if owner is not None and key not in self.misspelled.get(id(owner), ()):  # the misspelling says it
                self.problem(owner, f"{what} has no {key!r}", f"add `{key}: ...` to {what}")
            return None
        value_node = entries[key][1]
        if not isinstance(value_node, ScalarNode):
            self.problem(value_node, f"{key!r} in {what} must be text, not a list or mapping", f"write `{key}: ...`")
            return None
        if is_null(value_node) or not value_node.value.strip():
            if owner is not None:
                self.problem(value_node, f"{key!r} in {what} is empty", f"give {key!r} a value")
            return None
        return str(value_node.value)

    def integer(self, entries: Entries, key: str, what: str, owner: Node) -> int | None:
        """The key's value as a whole number; a problem when it is missing or anything else."""
        if key not in entries:
            if key not in self.misspelled.get(id(owner), ()):
                self.problem(owner, f"{what} has no {key!r}", f"add `{key}: <whole number>` to {what}")
            return None
        value_node = entries[key][1]
        if not (isinstance(value_node, ScalarNode) and value_node.tag == "tag:yaml.org,2002:int"):
            shown = value_node.value if isinstance(value_node, ScalarNode) else None
            self.problem(value_node, f"{key!r} in {what} must be a whole number", "e.g. 10 or -5", value=shown)
            return None
        return int(load_yaml(value_node.value, self.source))

    def position_in(self, node: ScalarNode, line: int, column: int) -> tuple[int, int]:
        """File line and column (1-based) of the place at `line`, `column` (1-based) within a scalar's text.

        What a problem inside a value (a rule's syntax error) is reported at. A literal block (`|`) keeps the
        value's lines as they are; a folded block (`>`) and a plain or quoted scalar over several lines join the
        lines with one space, so the column is walked back across them. Quoted text with escapes is the one case
        where the column can be off by the escapes before it.
        """
        first, start = node.start_mark.line, node.start_mark.column  # 0-based
        if node.style == "|" or (node.style == ">" and line > 1):
            content = [self._line(index) for index in range(first + 1, node.end_mark.line + 1)]
            source = next((text for text in content if text.strip()), "")  # the block's indentation
            return first + line + 1, len(source) - len(source.lstrip(" ")) + column
        if node.style == ">":
            segments = [(index, self._line(index)) for index in range(first + 1, node.end_mark.line + 1)]
            segments = [(index, text) for index, text in segments if text.strip()]
        else:
            quote = 1 if node.style in ("'", '"') else 0
            segments = [(first, " " * (start + quote) + self._line(first)[start + quote :])]
            segments += [(index, self._line(index)) for index in range(first + 1, node.end_mark.line + 1)]
            if line > 1 or node.end_mark.line == first:
                return first + line, (start + quote + column if line == 1 else column)
        remaining = column
        for index, source in segments:
            indent = len(source) - len(source.lstrip(" "))
            length = len(source.strip())
            if remaining <= length + 1 or index == segments[-1][0]:
                return index + 1, indent + remaining
            remaining -= length + 1
        return first + 1, start + column  # pragma: no cover - an empty scalar has no place to report

    def _line(self, index: int) -> str:
        return self.lines[index] if 0 <= index < len(self.lines) else ""


def compose_yaml(reader: YamlReader, text: str, what: str, start: str) -> Node | None:
    """The YAML node tree of `text` (lines and columns kept), or None with the reason added to `reader`'s issues:
    malformed YAML or an anchor or alias at its place, or an empty file (`what` is empty: `start` says how to
    begin)."""
    try:
        root = compose_node(text, reader.source)
    except YamlAliasError as exc:
        reader.add(exc.line, exc.column, f"{ALIAS_PROBLEM} ({exc.token})", ALIAS_HINT)
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = f"malformed YAML: {exc.problem or exc.context or 'cannot be read'}"
        hint = "check the indentation, colons and quotes around this place"
        reader.add(None if mark is None else mark.line + 1, None if mark is None else mark.column + 1, problem, hint)
        return None
    except yaml.YAMLError as exc:
        reader.add(None, None, f"malformed YAML: {exc}", "check the file is YAML text")
        return None
    if root is None:
        reader.add(1, 1, f"{what} is empty", start)
    return root
