"""Rules as Ibis expressions: a checked rule (`tandem.definitions.rules`) compiled to a boolean column.

Apart from parsing and checking so that reading definitions (every question does) does not import Ibis: only the
questions whose SQL is not compiled yet build these expressions (`tandem.engine.compiled`).

The rule's text is never evaluated and never pasted into SQL: every literal becomes an ``ibis.literal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from tandem.definitions.rules import (
    FUNCTIONS,
    And,
    Call,
    Compare,
    EventCount,
    In,
    IsNull,
    Name,
    Node,
    Not,
    Or,
    Rule,
    RuleError,
    RuleLiteral,
    RuleProblem,
    _is_count,
    _parse_date,
    _parse_timestamp,
    _walk,
    check_rule,
    event_counts,
)
from tandem.durations import parse_window
from tandem.warehouse.backends import column_type_of

__all__ = ["compile_rule", "compile_rule_at"]


# --- compiling ----------------------------------------------------------------------------------------------------
def compile_rule(
    rule: Rule,
    leads: ibis.Table,
    *,
    as_of: datetime,
    touches: ibis.Table | None = None,
    activities: ibis.Table | None = None,
) -> ir.BooleanValue:
    """The rule as a boolean column expression on `leads`, never null: ``leads.filter(...)`` keeps the leads meeting it.

    Event functions become ``lead_id IN (subquery)`` semi-joins over the touches or activities in the window, so
    the result stays an expression on `leads` (usable in ``filter`` and ``mutate``) on every backend. The window's
    start is worked out in Python and compared as a timestamp literal: no interval arithmetic, on which the
    backends disagree. A count is
    compared with a number n: the leads with a matching count are looked up among those with at least one event,
    and a lead with none meets the condition exactly when ``0 op n`` holds.
    Raises `RuleError` when the rule does not fit the leads' columns or needs an event table that was not given.
    """
    columns: dict[str, str] = {name: column_type_of(dtype) for name, dtype in leads.schema().items()}
    problems = check_rule(rule, columns)
    sources = {"touches": touches, "activities": activities}
    for node in _walk(rule.ast):
        if isinstance(node, Call) and node.name in FUNCTIONS:
            source = FUNCTIONS[node.name].source
            if source is not None and sources[source] is None:
                problems.append(
                    RuleProblem(node.line, node.column, f"{node.name} needs the {source} table", f"import {source}")
                )
    if problems:
        raise RuleError(problems)
    if as_of.tzinfo is not None:
        as_of = as_of.astimezone(UTC).replace(tzinfo=None)
    compiler = _Compiler(leads, columns, as_of, sources)
    return compiler.condition(rule.ast)


def compile_rule_at(rule: Rule, probe: ibis.Table, *, at: str, counts: Mapping[EventCount, str]) -> ir.BooleanValue:
    """The rule as a never-null boolean on `probe`, a table of (lead, moment) rows, as of each row's moment.

    `compile_rule` answers for one moment (a literal); this answers for a moment per row, which is how
    `tandem.definitions.membership` finds *when* a lead first met a rule. The row's moment is the column `at`; the
    event functions read precomputed counts: ``counts[EventCount(...)]`` names a probe column holding, for the
    row's lead, the number of such events in (moment - within, moment] (0, not null, when there are none).
    ``days_since_created()`` counts from the lead's ``created_at`` to the row's moment.
    Raises `RuleError` when the rule does not fit the probe's columns or a count column is missing.
    """
    hidden = {at, *counts.values()}
    columns: dict[str, str] = {
        name: column_type_of(dtype) for name, dtype in probe.schema().items() if name not in hidden
    }
    problems = check_rule(rule, columns)
    for count in event_counts(rule):
        if count not in counts:
            problems.append(RuleProblem(1, 1, f"no count of {count.kind!r} {count.source} given", "a bug: report it"))
    if problems:
        raise RuleError(problems)
    compiler = _Compiler(probe, columns, datetime.min, {}, at=probe[at], counts=counts)
    return compiler.condition(rule.ast)


_ORDER = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_MIRROR = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class _Compiler:
    """Compiles a checked rule; as of one moment (`as_of`), or of a moment per row (`at` and its `counts`)."""

    def __init__(
        self,
        leads: ibis.Table,
        columns: dict[str, str],
        as_of: datetime,
        sources: dict[str, ibis.Table | None],
        *,
        at: ir.TimestampValue | None = None,
        counts: Mapping[EventCount, str] | None = None,
    ) -> None:
        self.leads = leads
        self.columns = columns
        self.as_of = as_of
        self.sources = sources
        self.at = at if at is not None else ibis.literal(as_of, type="timestamp")
        self.counts = counts

    def condition(self, node: Node) -> ir.BooleanValue:
        """A never-null boolean: a missing value makes a condition unmet."""
        if isinstance(node, Not):
            return ~self.condition(node.operand)
        if isinstance(node, And):
            return ibis.and_(*(self.condition(o) for o in node.operands))
        if isinstance(node, Or):
            return ibis.or_(*(self.condition(o) for o in node.operands))
        if isinstance(node, IsNull):
            value = self.value(node.operand, None)
            return value.notnull() if node.negated else value.isnull()
        if isinstance(node, Call) and FUNCTIONS[node.name].returns == "boolean":
            return self.has(node)
        if isinstance(node, Compare) and (_is_count(node.left) or _is_count(node.right)):
            return self.count_compare(node)
        return self.raw(node).coalesce(ibis.literal(False))

    def raw(self, node: Node) -> ir.BooleanValue:
        """A condition that may be null (a missing value): `condition` coalesces it."""
        if isinstance(node, Compare):
            left_kind = self.kind(node.left)
            right_kind = self.kind(node.right)
            left = self.value(node.left, right_kind)
            right = self.value(node.right, left_kind)
            if {left_kind, right_kind} == {"date", "timestamp"}:
                left, right = left.cast("timestamp"), right.cast("timestamp")
            result: ir.BooleanValue = _ORDER[node.op](left, right)
            return result
        if isinstance(node, In):
            kind = self.kind(node.operand)
            operand = self.value(node.operand, None)
            items = [self.value(item, kind) for item in node.items]
            return operand.notin(items) if node.negated else operand.isin(items)
        value = self.value(node, None)
        return value.cast("boolean") if not isinstance(node, RuleLiteral) else value

    def kind(self, node: Node) -> str:
        if isinstance(node, Name):
            return self.columns[node.name]
        if isinstance(node, RuleLiteral):
            return "text" if node.kind == "string" else node.kind
        if isinstance(node, Call):
            return FUNCTIONS[node.name].returns
        return "boolean"

    def value(self, node: Node, other: str | None) -> Any:
        """The Ibis value of an operand; a literal takes its type from what it is compared with (`other`)."""
        if isinstance(node, Name):
            return self.leads[node.name]
        if isinstance(node, RuleLiteral):
            return _literal(node, other)
        if isinstance(node, Call) and node.name == "days_since_created":
            from tandem.engine.entries import days_between  # here: the engine will import the rules

            return days_between(self.leads.created_at, self.at)
        return self.condition(node)

    def events(self, node: Call) -> ir.Table:
        """The events of `node`'s kind in its window, with a lead."""
        source = self.sources[FUNCTIONS[node.name].source or ""]
        assert source is not None
        kind = node.args[0]
        assert isinstance(kind, RuleLiteral)
        end = ibis.literal(self.as_of, type="timestamp")
        keep = [
            source.kind == ibis.literal(kind.value, type="string"),
            source.occurred_at <= end,
            source.lead_id.notnull(),
        ]
        for keyword in node.keywords:
            assert isinstance(keyword.value, RuleLiteral)
            assert isinstance(keyword.value.value, str)
            duration = parse_window(keyword.value.value)
            assert duration is not None
            keep.append(source.occurred_at > ibis.literal(self.as_of - duration, type="timestamp"))
        return source.filter(*keep)

    def counted(self, node: Call) -> ir.IntegerValue | None:
        """In moment mode, the probe column counting `node`'s events; None as of one moment."""
        if self.counts is None:
            return None
        (count,) = event_counts(Rule(text="", ast=node))
        column: ir.IntegerValue = self.leads[self.counts[count]]
        return column

    def has(self, node: Call) -> ir.BooleanValue:
        counted = self.counted(node)
        if counted is not None:
            return (counted > 0).coalesce(ibis.literal(False))
        found = self.events(node)
        member: ir.BooleanValue = self.leads.lead_id.isin(found.lead_id)
        return member.coalesce(ibis.literal(False))

    def count_compare(self, node: Compare) -> ir.BooleanValue:
        count_left = _is_count(node.left)
        call = node.left if count_left else node.right
        number = node.right if count_left else node.left
        op = node.op if count_left else _MIRROR[node.op]
        assert isinstance(call, Call)
        assert isinstance(number, RuleLiteral)
        assert isinstance(number.value, int | float)
        threshold = ibis.literal(number.value, type="int64" if number.kind == "integer" else "float64")
        counted = self.counted(call)
        if counted is not None:
            return _ORDER[op](counted.coalesce(0), threshold).coalesce(ibis.literal(False))
        found = self.events(call)
        counts = found.group_by("lead_id").aggregate(n=found.count())
        meets = _ORDER[op](counts.n, threshold)
        if _ORDER[op](0, number.value):  # a lead without events meets it: leave out the leads whose count fails
            member: ir.BooleanValue = ~self.leads.lead_id.isin(counts.filter(~meets).lead_id)
        else:
            member = self.leads.lead_id.isin(counts.filter(meets).lead_id)
        return member.coalesce(ibis.literal(False))


def _literal(node: RuleLiteral, other: str | None) -> Any:
    """An ``ibis.literal`` of the right type: the text of the rule never reaches SQL as SQL."""
    if node.kind == "string":
        assert isinstance(node.value, str)
        if other == "date":
            return ibis.literal(_parse_date(node.value), type="date")
        if other == "timestamp":
            return ibis.literal(_parse_timestamp(node.value), type="timestamp")
        return ibis.literal(node.value, type="string")
    if node.kind == "integer":
        return ibis.literal(node.value, type="float64" if other == "float" else "int64")
    if node.kind == "float":
        return ibis.literal(node.value, type="float64")
    if node.kind == "boolean":
        return ibis.literal(node.value, type="boolean")
    return ibis.null()
