"""Money as people write it and read it: one parser for the amounts they type, one way to show amounts back.

Amounts are typed on the command line (``tandem goal set 2027 10M``), in the plan file (``budget: 40k``), in
scenarios (``deal_size: 120k``) and in the web app's forms; all of them are read by `parse_amount`, so ``2.5M``
means the same everywhere and a refusal reads the same everywhere. An amount is a `Decimal` in whole cents:
a goal is split into months to the cent, and floats would lose cents on the way.

Shown back, a stored amount keeps its cents only when it has some (`format_amount`: ``2,465,753.42``,
``10,000,000``); a computed one (a forecast, a revenue gap, a budget) is rounded to the unit (`format_whole`).
No currency sign is shown: a workspace holds one currency, whichever its CRM uses.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from tandem.errors import ConfigError

__all__ = [
    "AMOUNT_FORMS",
    "CENT",
    "MAX_AMOUNT",
    "check_amount",
    "format_amount",
    "format_whole",
    "from_cents",
    "parse_amount",
    "to_cents",
]

AMOUNT_FORMS = "a number like 10000000, 2.5M, 750k or $1,200,000"
#: The largest amount taken: a quadrillion (what a bigint of cents holds with room to spare).
MAX_AMOUNT = Decimal(10) ** 15
CENT = Decimal("0.01")

_AMOUNT = re.compile(r"^\$?(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?P<suffix>[kKmM]?)$")
_SUFFIX = {"": Decimal(1), "k": Decimal(1000), "m": Decimal(1_000_000)}


def parse_amount(text: str, *, what: str = "an amount") -> Decimal:
    """An amount as people write it: ``10000000``, ``10M``, ``2.5M``, ``750k``, ``$1,200,000``.

    k is a thousand, M a million (either case); commas only between groups of three digits; then `check_amount`.
    Anything else (``ten million``, ``10MM``, ``-5M``, ``10B``) is a `ConfigError` naming the value and the forms;
    `what` names the amount in the refusals of `check_amount` ("a goal must be more than zero").
    """
    cleaned = text.strip().replace(" ", "")
    match = _AMOUNT.match(cleaned)
    if match is None:
        raise ConfigError(f"{text!r} is not an amount; use {AMOUNT_FORMS}")
    amount = Decimal(match.group("number").replace(",", "")) * _SUFFIX[match.group("suffix").lower()]
    return check_amount(amount, text, what=what)


def check_amount(amount: Decimal | float | int, shown: object = None, *, what: str = "an amount") -> Decimal:
    """`amount` as a `Decimal` if it is more than zero, at most `MAX_AMOUNT` and in whole cents; else `ConfigError`.

    `shown` is the value as the person wrote it, for the message (default: the amount itself).
    """
    try:
        value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    except InvalidOperation:
        raise ConfigError(f"{shown if shown is not None else amount!r} is not an amount; use {AMOUNT_FORMS}") from None
    label = repr(shown) if shown is not None else f"{value:,}"
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{what} must be more than zero (got {label})")
    if value > MAX_AMOUNT:
        raise ConfigError(f"{what} must be at most {format_amount(MAX_AMOUNT)} (got {label})")
    if value != value.quantize(CENT):
        raise ConfigError(f"{what} is in whole cents at most (got {label})")
    return value.quantize(CENT)


def format_amount(amount: Decimal | float | None) -> str:
    """``10,000,000`` or ``2,465,753.42``: cents only when there are some; ``-`` for no amount."""
    if amount is None:
        return "-"
    value = Decimal(str(amount)).quantize(CENT)
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def format_whole(amount: float | Decimal) -> str:
    """``412,000``: a computed amount in a sentence or a table, to the unit, thousands separated (never ``-0``)."""
    text = f"{amount:,.0f}"
    return "0" if text == "-0" else text


def to_cents(amount: Decimal) -> int:
    """Whole cents, as amounts are stored."""
    return int((amount * 100).to_integral_value())


def from_cents(cents: int) -> Decimal:
    """A stored amount back as a `Decimal` with two decimals."""
    return (Decimal(cents) / 100).quantize(CENT)
