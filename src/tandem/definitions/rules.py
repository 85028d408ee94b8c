"""The rule language of funnel stage definitions: text that both teams can read, turned into an Ibis predicate.

A rule is a boolean expression over lead columns (canonical ones and attributes), the lead score and the lead's
events, for example::

    score >= 50 and employees >= 20 and country in ('US', 'CA')
    has_event('demo_request', within='30d') or count_events('webinar', within='90d') >= 2

The text is parsed by a real grammar (Lark, LALR) into small node types, checked against the leads' columns, and
compiled (`tandem.definitions.rule_expressions`) to an Ibis boolean column expression on the leads table, so the
same rule runs on DuckDB, PostgreSQL and Spark. The text is never evaluated and never pasted into SQL: every literal
becomes an ``ibis.literal``. Parsing and checking live here, apart from compiling, so that reading definitions
imports no Ibis.

Language:

- ``and``, ``or``, ``not`` and parentheses; keywords are case-insensitive; ``# comments`` run to the end of a line;
- comparisons ``= == != < <= > >=``; ``x in (...)``, ``x not in (...)``; ``x is null``, ``x is not null``;
- literals: integers, decimals, 'single' or "double" quoted strings (a backslash escapes the next character),
  ``true``, ``false``, ``null``; a string compared with a date or timestamp column is a date ('2026-01-01') or a
  timestamp ('2026-01-01 08:30');
- functions: ``has_event(kind [, within='30d'])`` (a touch of that kind), ``has_activity(kind [, within=...])``
  (a sales activity of that kind), ``count_events(kind [, within=...])`` and ``count_activities(...)`` (integers,
  compared with a number), ``days_since_created()`` (days from created_at to the as-of time, a decimal). An
  event counts when it happened in (as_of - within, as_of]; without ``within``, at any time up to as_of. Durations
  are a whole number of seconds, minutes, hours, days or weeks, as in the definitions file: '90m', '12h',
  '30d', '2w' (`tandem.durations.parse_window`: calendar time, as business hours are for service levels).

Missing values: **a lead whose attribute is missing does not meet a condition on it**, so ``employees >= 20``,
``employees < 20`` and ``country not in ('US')`` are all unmet when the value is missing, and ``not`` of such a
condition is met. Every condition is wrapped in ``coalesce(..., false)``: the predicate is a clean boolean, never
null, which SQL's three-valued logic would otherwise make of ``not (x > 1)``. Test for a missing value with
``is null``.

Errors: `parse_rule` reports every syntax problem it finds (the parser skips the offending token and goes on),
`check_rule` every unknown name, wrong argument, type error and bad duration, each with a 1-based line and column
in the rule text and a hint. `rule_problems` does both for a definitions file; `RuleProblem.at` moves a problem to
where the rule sits in that file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeAlias

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from tandem.durations import parse_window
from tandem.errors import TandemError

__all__ = [
    "FUNCTIONS",
    "And",
    "Call",
    "Compare",
    "EventCount",
    "In",
    "IsNull",
    "Keyword",
    "Name",
    "Node",
    "Not",
    "Or",
    "Rule",
    "RuleError",
    "RuleLiteral",
    "RuleProblem",
    "check_rule",
    "event_counts",
    "parse_rule",
    "rule_problems",
]


# --- problems ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleProblem:
    """One problem in a rule: where (1-based line and column in the rule text), what, and how to fix it."""

    line: int
    column: int
    message: str
    hint: str

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"line {self.line}, column {self.column}: {self.message}{hint}"

    def at(self, line: int, column: int) -> RuleProblem:
        """The problem placed in a file whose rule text starts at `line`, `column`; later lines keep their columns."""
        moved_column = column + self.column - 1 if self.line == 1 else self.column
        return RuleProblem(line + self.line - 1, moved_column, self.message, self.hint)


class RuleError(TandemError, ValueError):
    """A rule that cannot be used; `problems` holds every problem found, not just the first."""

    def __init__(self, problems: Sequence[RuleProblem], where: str = "") -> None:
        self.problems = list(problems)
        self.where = where
        count = len(self.problems)
        head = f"{where}: " if where else ""
        lines = [f"{head}{count} problem{'s' if count != 1 else ''} in the rule:"]
        lines += [f"  {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


# --- syntax tree ------------------------------------------------------------------------------------------------
LiteralKind: TypeAlias = Literal["string", "integer", "float", "boolean", "null"]


@dataclass(frozen=True)
class RuleLiteral:
    """A constant written in the rule: a number, a string, true/false or null."""

    value: str | int | float | bool | None
    kind: LiteralKind
    line: int
    column: int


@dataclass(frozen=True)
class Name:
    """A lead column (canonical or attribute) or ``score``."""

    name: str
    line: int
    column: int


@dataclass(frozen=True)
class Keyword:
    """A named function argument such as ``within='30d'``."""

    name: str
    value: Node
    line: int
    column: int


@dataclass(frozen=True)
class Call:
    """A function call: ``has_event('demo_request', within='30d')``."""

    name: str
    args: tuple[Node, ...]
    keywords: tuple[Keyword, ...]
    line: int
    column: int


@dataclass(frozen=True)
class Compare:
    """``left op right``; ``==`` is read as ``=``."""

    op: str
    left: Node
    right: Node
    line: int
    column: int


@dataclass(frozen=True)
class In:
    """``operand [not] in (items...)``."""

    operand: Node
    items: tuple[RuleLiteral, ...]
    negated: bool
    line: int
    column: int


@dataclass(frozen=True)
class IsNull:
    """``operand is [not] null``."""

    operand: Node
    negated: bool
    line: int
    column: int


@dataclass(frozen=True)
class Not:
    operand: Node
    line: int
    column: int


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]
    line: int
    column: int


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]
    line: int
    column: int


Node: TypeAlias = RuleLiteral | Name | Call | Compare | In | IsNull | Not | And | Or


@dataclass(frozen=True)
class Rule:
    """A parsed rule: its text, its syntax tree, and the column names and functions it uses."""

    text: str
    ast: Node
    attributes: frozenset[str] = field(default_factory=frozenset)
    functions: frozenset[str] = field(default_factory=frozenset)


# --- grammar ----------------------------------------------------------------------------------------------------
GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr
        | or_expr OR and_expr                   -> or_
?and_expr: not_expr
         | and_expr AND not_expr                -> and_
?not_expr: NOT not_expr                         -> not_
         | predicate
?predicate: operand
          | operand comp_op operand             -> compare
          | operand IN LPAR items RPAR          -> in_
          | operand NOT IN LPAR items RPAR      -> not_in
          | operand IS NULL                     -> is_null
          | operand IS NOT NULL                 -> is_not_null
comp_op: EQ | EQEQ | NE | LT | LE | GT | GE
?operand: literal
        | NAME                                  -> name
        | NAME LPAR [arguments] RPAR            -> call
        | LPAR or_expr RPAR
items: literal (COMMA literal)* COMMA?
arguments: argument (COMMA argument)*
?argument: operand
         | NAME EQ operand                      -> keyword
?literal: NUMBER                                -> number
        | STRING                                -> string
        | TRUE                                  -> true
        | FALSE                                 -> false
        | NULL                                  -> null

AND: "and"i
OR: "or"i
NOT: "not"i
IN: "in"i
IS: "is"i
NULL: "null"i
TRUE: "true"i
FALSE: "false"i
NAME: /(?!(and|or|not|in|is|null|true|false)\b)[A-Za-z_][A-Za-z0-9_]*/i
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/
STRING: /"(?:[^"\\\n]|\\.)*"/ | /'(?:[^'\\\n]|\\.)*'/
EQEQ: "=="
EQ: "="
NE: "!="
LE: "<="
GE: ">="
LT: "<"
GT: ">"
LPAR: "("
RPAR: ")"
COMMA: ","
COMMENT: /#[^\n]*/

%ignore /\s+/
%ignore COMMENT
"""

_PARSER = Lark(GRAMMAR, parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=True)

#: How a terminal is named in an error hint.
_TERMINAL_NAMES = {
    "AND": "and",
    "OR": "or",
    "NOT": "not",
    "IN": "in",
    "IS": "is",
    "NULL": "null",
    "TRUE": "true",
    "FALSE": "false",
    "NAME": "a column name",
    "NUMBER": "a number",
    "STRING": "a quoted string",
    "EQEQ": "==",
    "EQ": "=",
    "NE": "!=",
    "LE": "<=",
    "GE": ">=",
    "LT": "<",
    "GT": ">",
    "LPAR": "(",
    "RPAR": ")",
    "COMMA": ",",
    "$END": "the end of the rule",
}
_OPERATORS = {"EQEQ", "EQ", "NE", "LE", "GE", "LT", "GT"}
_VALUES = {"NAME", "NUMBER", "STRING", "TRUE", "FALSE", "NULL"}
#: Stop after this many syntax problems: past it, the parser's recovery mostly reports echoes of the first ones.
_MAX_SYNTAX_PROBLEMS = 10


def parse_rule(text: str) -> Rule:
    """Parse a rule; raises `RuleError` listing every syntax problem found (the parser recovers and goes on)."""
    problems: list[RuleProblem] = []

    def on_error(error: UnexpectedInput) -> bool:
        problem = _syntax_problem(text, error)
        if problem not in problems:
            problems.append(problem)
        if isinstance(error, UnexpectedToken) and error.token.type == "$END":
            return False  # nothing left to skip: stop here
        if isinstance(error, UnexpectedToken):
            _insert_missing(error)
        return len(problems) < _MAX_SYNTAX_PROBLEMS

    if not text.strip():
        raise RuleError([RuleProblem(1, 1, "the rule is empty", "write a condition, e.g. score >= 50")])
    try:
        tree = _PARSER.parse(text, on_error=on_error)
    except UnexpectedInput as error:
        problem = _syntax_problem(text, error)
        if problem not in problems:
            problems.append(problem)
    if problems:
        raise RuleError(problems)
    ast = _build(tree)
    return Rule(text=text, ast=ast, attributes=frozenset(_names(ast)), functions=frozenset(_functions(ast)))


def _insert_missing(error: UnexpectedToken) -> None:
    """Recover from a missing 'and' between two conditions (or ',' between two arguments) by reading one there.

    Otherwise Lark drops the unexpected token and the rest of the condition is reported again as a second problem.
    """
    if error.token.type not in _VALUES | {"LPAR", "NOT"}:
        return
    for kind, text in (("AND", "and"), ("COMMA", ",")):
        missing = Token.new_borrow_pos(kind, text, error.token)
        parser: Any = error.interactive_parser  # Lark leaves copy() and accepts() untyped
        trial = parser.copy()
        try:
            trial.feed_token(missing)
            trial.feed_token(error.token)
        except UnexpectedInput:
            continue
        error.interactive_parser.feed_token(missing)
        error.interactive_parser.feed_token(error.token)
        return


def _end_position(text: str) -> tuple[int, int]:
    """Line and column just after the last non-blank character (where an unfinished rule stops)."""
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return line, column


def _unclosed_parenthesis(text: str) -> tuple[int, int] | None:
    """Position of the last '(' left open, outside quoted strings and comments."""
    opened: list[tuple[int, int]] = []
    line, column, quote, comment = 1, 1, "", False
    escaped = False
    for char in text:
        if comment:
            comment = char != "\n"
        elif quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            comment = True
        elif char == "(":
            opened.append((line, column))
        elif char == ")" and opened:
            opened.pop()
        line, column = (line + 1, 1) if char == "\n" else (line, column + 1)
    return opened[-1] if opened else None


def _expected(names: set[str]) -> str:
    if names & _VALUES and names & {"LPAR"} and len(names - _VALUES - {"LPAR", "NOT"}) == 0:
        return "expected a value, a column name, a function call, 'not' or '('"
    if (
        names
        and names <= _OPERATORS | {"IN", "IS", "NOT", "AND", "OR", "LPAR", "RPAR", "COMMA", "$END"}
        and names & _OPERATORS
    ):
        return "expected an operator (= != < <= > >= in, is null) or 'and' / 'or' between conditions"
    shown = sorted(_TERMINAL_NAMES.get(name, name) for name in names)
    return "expected " + ", ".join(repr(s) if len(s) <= 3 else s for s in shown)


def _accepted(error: UnexpectedToken) -> set[str]:
    """The terminals the parser could take where it stopped (exact, unlike LALR's merged `expected` sets)."""
    try:
        parser: Any = error.interactive_parser
        return set(parser.accepts())
    except Exception:  # a parser state Lark cannot simulate: fall back to its own list
        return set(error.expected)


def _syntax_problem(text: str, error: UnexpectedInput) -> RuleProblem:
    if isinstance(error, UnexpectedCharacters):
        pos = error.pos_in_stream or 0
        char = text[pos] if pos < len(text) else " "
        if char in {"'", '"'}:
            return RuleProblem(error.line, error.column, "a string is not closed", f"end it with {char}")
        hint = "names are letters, digits and _; strings are quoted; operators are = != < <= > >="
        return RuleProblem(error.line, error.column, f"unexpected character {char!r}", hint)
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        token = error.token
        what = _TERMINAL_NAMES.get(token.type, token.type)
        shown = str(token) if token.type == "STRING" else repr(str(token) if token.type in _VALUES else what)
        return RuleProblem(token.line or 1, token.column or 1, f"unexpected {shown}", _expected(_accepted(error)))
    # The rule ended too early.
    line, column = _end_position(text)
    expected = _accepted(error) if isinstance(error, UnexpectedToken) else set()
    opened = _unclosed_parenthesis(text)
    if "RPAR" in expected and opened is not None:
        return RuleProblem(
            line,
            column,
            "the rule ends before a parenthesis is closed",
            f"add ')' to close the '(' at line {opened[0]}, column {opened[1]}",
        )
    return RuleProblem(line, column, "the rule ends too early", _expected(expected))


# --- from Lark's tree to the node types ---------------------------------------------------------------------------
def _position(item: Tree[Token] | Token) -> tuple[int, int]:
    if isinstance(item, Token):
        return item.line or 1, item.column or 1
    return getattr(item.meta, "line", 1), getattr(item.meta, "column", 1)


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def _build(item: Tree[Token] | Token) -> Node:
    """Turn Lark's parse tree into the rule's node types (flattening chains of and / or)."""
    line, column = _position(item)
    if isinstance(item, Token):  # a bare NAME never reaches here: the grammar wraps it
        raise AssertionError(f"unexpected token {item!r}")
    kind = item.data
    children = item.children
    if kind == "operand":  # ( expression ): the parentheses only group
        return _build(children[1])
    if kind == "number":
        text = str(children[0])
        if re.fullmatch(r"[+-]?\d+", text):
            return RuleLiteral(int(text), "integer", line, column)
        return RuleLiteral(float(text), "float", line, column)
    if kind == "string":
        return RuleLiteral(_unquote(str(children[0])), "string", line, column)
    if kind in {"true", "false"}:
        return RuleLiteral(kind == "true", "boolean", line, column)
    if kind == "null":
        return RuleLiteral(None, "null", line, column)
    if kind == "name":
        return Name(str(children[0]), line, column)
    if kind == "call":
        args: list[Node] = []
        keywords: list[Keyword] = []
        arguments = children[2]
        if isinstance(arguments, Tree):
            for argument in arguments.children:
                if isinstance(argument, Token):  # COMMA
                    continue
                if argument.data == "keyword":
                    name = argument.children[0]
                    kline, kcolumn = _position(name)
                    keywords.append(Keyword(str(name), _build(argument.children[2]), kline, kcolumn))
                else:
                    args.append(_build(argument))
        return Call(str(children[0]), tuple(args), tuple(keywords), line, column)
    if kind == "compare":
        op_tree = children[1]
        assert isinstance(op_tree, Tree)
        op = str(op_tree.children[0])
        oline, ocolumn = _position(op_tree.children[0])
        return Compare("=" if op == "==" else op, _build(children[0]), _build(children[2]), oline, ocolumn)
    if kind in {"in_", "not_in"}:
        items_tree = children[-2]
        assert isinstance(items_tree, Tree)
        items = tuple(_build(c) for c in items_tree.children if isinstance(c, Tree))
        keyword_line, keyword_column = _position(children[1])
        return In(
            _build(children[0]),
            tuple(i for i in items if isinstance(i, RuleLiteral)),
            kind == "not_in",
            keyword_line,
            keyword_column,
        )
    if kind in {"is_null", "is_not_null"}:
        kline, kcolumn = _position(children[1])
        return IsNull(_build(children[0]), kind == "is_not_null", kline, kcolumn)
    if kind == "not_":
        return Not(_build(children[1]), line, column)
    if kind in {"and_", "or_"}:
        left, right = _build(children[0]), _build(children[2])
        cls = And if kind == "and_" else Or
        parts: list[Node] = []
        for part in (left, right):
            parts.extend(part.operands if isinstance(part, cls) else (part,))
        return cls(tuple(parts), line, column)
    raise AssertionError(f"unknown rule node {kind!r}")


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Call):
        for arg in node.args:
            yield from _walk(arg)
        for keyword in node.keywords:
            yield from _walk(keyword.value)
    elif isinstance(node, Compare):
        yield from _walk(node.left)
        yield from _walk(node.right)
    elif isinstance(node, In | IsNull | Not):
        yield from _walk(node.operand)
    elif isinstance(node, And | Or):
        for operand in node.operands:
            yield from _walk(operand)


def _names(node: Node) -> set[str]:
    return {n.name for n in _walk(node) if isinstance(n, Name)}


def _functions(node: Node) -> set[str]:
    return {n.name for n in _walk(node) if isinstance(n, Call)}


# --- checking -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Function:
    """A rule function: what it returns, and the event table it reads (None: the leads only)."""

    returns: Literal["boolean", "integer", "float"]
    source: Literal["touches", "activities"] | None
    signature: str


FUNCTIONS: dict[str, Function] = {
    "has_event": Function("boolean", "touches", "has_event(kind [, within='30d'])"),
    "has_activity": Function("boolean", "activities", "has_activity(kind [, within='30d'])"),
    "count_events": Function("integer", "touches", "count_events(kind [, within='30d'])"),
    "count_activities": Function("integer", "activities", "count_activities(kind [, within='30d'])"),
    "days_since_created": Function("float", None, "days_since_created()"),
}

_NUMERIC = {"integer", "float"}
_TEMPORAL = {"date", "timestamp"}


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _parse_timestamp(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


class _Checker:
    """Walks a rule once, inferring each node's type and collecting every problem."""

    def __init__(self, columns: Mapping[str, str]) -> None:
        self.columns = dict(columns)
        self.problems: list[RuleProblem] = []

    def report(self, node: Node | Keyword, message: str, hint: str) -> None:
        self.problems.append(RuleProblem(node.line, node.column, message, hint))

    def condition(self, node: Node) -> None:
        """`node` must be true or false for each lead."""
        kind = self.type_of(node)
        if kind not in {"boolean", "unknown"}:
            self.report(
                node,
                f"{_describe(node)} is {_shown(kind)}, not a condition",
                "compare it with a value, e.g. score >= 50, or test it with 'is null'",
            )

    def type_of(self, node: Node) -> str:
        """The node's type: a column type, 'null', 'text' (a string literal) or 'unknown' (already reported)."""
        if isinstance(node, RuleLiteral):
            return "text" if node.kind == "string" else node.kind
        if isinstance(node, Name):
            if node.name in self.columns:
                return self.columns[node.name]
            close = difflib.get_close_matches(node.name, list(self.columns), n=3, cutoff=0.6)
            if node.name.lower() in FUNCTIONS:
                hint = f"{node.name} is a function: write {FUNCTIONS[node.name.lower()].signature}"
            elif close:
                hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
            else:
                hint = "known columns: " + ", ".join(sorted(self.columns))
            if node.name == "score":
                hint = "the lead score is not available: no scoring is set up"
            self.report(node, f"unknown attribute {node.name!r}", hint)
            return "unknown"
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Compare):
            self.compare(node)
            return "boolean"
        if isinstance(node, In):
            self.membership(node)
            return "boolean"
        if isinstance(node, IsNull):
            if isinstance(node.operand, RuleLiteral | Call):
                self.report(node, "'is null' applies to a column", "write e.g. country is null")
            else:
                self.type_of(node.operand)
            return "boolean"
        if isinstance(node, Not):
            self.condition(node.operand)
            return "boolean"
        for operand in node.operands:
            self.condition(operand)
        return "boolean"

    def call(self, node: Call) -> str:
        function = FUNCTIONS.get(node.name)
        if function is None:
            close = difflib.get_close_matches(node.name, list(FUNCTIONS), n=1)
            known = ", ".join(sorted(FUNCTIONS))
            hint = (f"did you mean {close[0]!r}? " if close else "") + f"known functions: {known}"
            self.report(node, f"unknown function {node.name!r}", hint)
            for arg in node.args:
                self.type_of(arg)
            return "unknown"
        if function.source is None:
            if node.args or node.keywords:
                self.report(node, f"{node.name}() takes no arguments", f"write {function.signature}")
            return function.returns
        if len(node.args) != 1:
            self.report(
                node,
                f"{node.name} takes one event kind, got {len(node.args)} argument{'s' if len(node.args) != 1 else ''}",
                f"write {function.signature}",
            )
        for arg in node.args:
            if not (isinstance(arg, RuleLiteral) and arg.kind == "string"):
                self.report(arg, f"the kind of {node.name} must be a quoted string", f"write {function.signature}")
        for keyword in node.keywords:
            if keyword.name != "within":
                self.report(keyword, f"unknown argument {keyword.name!r} of {node.name}", f"write {function.signature}")
                continue
            value = keyword.value
            if not (isinstance(value, RuleLiteral) and isinstance(value.value, str)):
                self.report(value, "'within' must be a quoted duration", "write e.g. within='30d' (m, h, d or w)")
            elif (duration := parse_window(value.value)) is None or duration <= timedelta(0):
                self.report(
                    value,
                    f"bad duration {value.value!r}",
                    "a duration is a positive whole number of minutes, hours, days or weeks: '90m', '12h', '30d'",
                )
        if len({k.name for k in node.keywords}) != len(node.keywords):
            self.report(node, f"'within' is given twice to {node.name}", f"write {function.signature}")
        return function.returns

    def compare(self, node: Compare) -> None:
        left, right = self.type_of(node.left), self.type_of(node.right)
        if "unknown" in {left, right}:
            return
        if "null" in {left, right}:
            self.report(node, "nothing is equal to null", "write 'x is null' or 'x is not null'")
            return
        if _is_count(node.left) or _is_count(node.right):
            other = node.right if _is_count(node.left) else node.left
            if not (isinstance(other, RuleLiteral) and other.kind in {"integer", "float"}):
                self.report(
                    other,
                    "an event count is compared with a number",
                    "write e.g. count_events('webinar', within='90d') >= 2",
                )
                return
        if node.op not in {"=", "!="} and "boolean" in {left, right}:
            self.report(node, f"'{node.op}' does not order true and false", "use = or != with a condition")
            return
        problem = _mismatch(left, right, node.left, node.right)
        if problem:
            self.report(node, *problem)

    def membership(self, node: In) -> None:
        kind = self.type_of(node.operand)
        kinds = {self.type_of(item) for item in node.items}
        if "null" in kinds:
            self.report(node, "null cannot be in a list", "test missing values with 'is null'")
            kinds.discard("null")
        families = {_plain(k) for k in kinds}
        if len(families) > 1:
            self.report(node, "the list mixes " + " and ".join(sorted(families)), "use values of one type")
            return
        if kind == "boolean" and not isinstance(node.operand, Name):
            self.report(node, "a condition cannot be in a list", "write e.g. country in ('US', 'CA')")
            return
        if kind == "unknown":
            return
        for item in node.items:
            problem = _mismatch(kind, self.type_of(item), node.operand, item) if item.kind != "null" else None
            if problem:
                self.report(item, *problem)


def _is_count(node: Node) -> bool:
    return (
        isinstance(node, Call)
        and node.name in FUNCTIONS
        and FUNCTIONS[node.name].returns == "integer"
        and (FUNCTIONS[node.name].source is not None)
    )


def _plain(kind: str) -> str:
    return {"text": "strings", "integer": "numbers", "float": "numbers", "boolean": "true/false"}.get(kind, kind)


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def _describe(node: Node) -> str:
    if isinstance(node, Name):
        return repr(node.name)
    if isinstance(node, Call):
        return f"{node.name}(...)"
    if isinstance(node, RuleLiteral):
        return "null" if node.kind == "null" else repr(node.value)
    return "this"


def _mismatch(left: str, right: str, left_node: Node, right_node: Node) -> tuple[str, str] | None:
    """Why `left` and `right` cannot be compared (message, hint), or None when they can."""
    kinds = {left, right}
    if kinds <= _NUMERIC or left == right or kinds <= {"string", "text"} or kinds <= _TEMPORAL:
        return None
    if "text" in kinds and kinds & _TEMPORAL:
        column = left if left in _TEMPORAL else right
        literal = right_node if left in _TEMPORAL else left_node
        assert isinstance(literal, RuleLiteral)
        assert isinstance(literal.value, str)
        parsed = _parse_date(literal.value) if column == "date" else _parse_timestamp(literal.value)
        if parsed is None:
            example = "'2026-01-01'" if column == "date" else "'2026-01-01' or '2026-01-01 08:30'"
            return f"{literal.value!r} is not a {column}", f"write a {column} as {example}"
        return None
    names = {left: left_node, right: right_node}
    shown = " with ".join(f"{_describe(names[k])} ({_shown(k)})" for k in (left, right))
    hint = (
        "quote a string value: country = 'US'" if "string" in kinds and kinds & _NUMERIC else "compare like with like"
    )
    if kinds == {"text"} | (kinds & _NUMERIC):
        hint = "a number column is compared with a number: employees >= 20 (no quotes)"
    return f"cannot compare {shown}", hint


def _shown(kind: str) -> str:
    if kind == "null":
        return "missing"
    return "a string" if kind == "text" else ("a number" if kind in _NUMERIC else _article(kind) + " " + kind)


def rule_problems(text: str, columns: Mapping[str, str]) -> list[RuleProblem]:
    """Parse and check in one go: the syntax problems, or (when it parses) every problem against `columns`."""
    try:
        rule = parse_rule(text)
    except RuleError as error:
        return error.problems
    return check_rule(rule, columns)


def check_rule(rule: Rule, columns: Mapping[str, str]) -> list[RuleProblem]:
    """Every problem of `rule` against the leads' `columns` (name -> tandem column type); empty when it is usable.

    ``score`` is a column like the others: the caller passes it when scoring exists.
    """
    checker = _Checker(columns)
    checker.condition(rule.ast)
    return sorted(set(checker.problems), key=lambda p: (p.line, p.column, p.message))


# --- what a rule counts --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventCount:
    """What an event function counts: events of `kind` in `source`, within `within` before the moment (None: ever)."""

    source: Literal["touches", "activities"]
    kind: str
    within: timedelta | None


def event_counts(rule: Rule) -> list[EventCount]:
    """The distinct event counts the rule's functions need, in the order they first appear."""
    found: list[EventCount] = []
    for node in _walk(rule.ast):
        if not (isinstance(node, Call) and node.name in FUNCTIONS and FUNCTIONS[node.name].source is not None):
            continue
        kind = node.args[0]
        assert isinstance(kind, RuleLiteral)
        assert isinstance(kind.value, str)
        within = None
        for keyword in node.keywords:
            assert isinstance(keyword.value, RuleLiteral)
            assert isinstance(keyword.value.value, str)
            within = parse_window(keyword.value.value)
        source = FUNCTIONS[node.name].source
        assert source is not None
        count = EventCount(source, kind.value, within)
        if count not in found:
            found.append(count)
    return found
