"""Money as people write it and read it: one parser for the amounts they type, one way to show amounts back.

Amounts are typed on the command line (``tandem goal set 2027 10M``), in the plan file (``budget: 40k``), in
scenarios (``deal_size: 120k``) and in the web app's forms; all of them are read by `parse_amount`, so ``2.5M``
means the same everywhere and a refusal reads the same everywhere. An amount is a `Decimal` in whole cents:
a goal is split into months to the cent, and floats would lose cents on the way.

Shown back, every amount goes through `format_money`, with the workspace's currency (the ``currency`` setting, an
ISO 4217 code, default ``USD``): ``$2,465,753``, ``€40,000``, ``CHF 1,200``. Amounts are shown in whole units
(cents mean nothing in a revenue plan) unless they are small (under 100, like a cost per lead of ``$9.50``).
A workspace holds one currency, whichever its CRM uses: tandem never converts.

The currency sign comes from a small table of common codes (`SYMBOLS`; Babel is not a dependency and a revenue
plan needs no locale rules); any other valid code is written before the amount (``CHF 1,200``). The currency in
use is the process's (`use_currency`): the command line and the server set it from the workspace they open.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from tandem.errors import ConfigError

__all__ = [
    "AMOUNT_FORMS",
    "CENT",
    "DEFAULT_CURRENCY",
    "MAX_AMOUNT",
    "SMALL_AMOUNT",
    "SYMBOLS",
    "check_amount",
    "check_currency",
    "currency_in_use",
    "format_amount",
    "format_money",
    "format_whole",
    "from_cents",
    "parse_amount",
    "to_cents",
    "use_currency",
]

AMOUNT_FORMS = "a number like 10000000, 2.5M, 750k or $1,200,000"
#: The largest amount taken: a quadrillion (what a bigint of cents holds with room to spare).
MAX_AMOUNT = Decimal(10) ** 15
CENT = Decimal("0.01")

DEFAULT_CURRENCY = "USD"
#: Amounts under this (in absolute value) keep their cents when shown (a cost per lead); larger ones are whole.
SMALL_AMOUNT = Decimal(100)
#: The sign of common ISO 4217 currencies, written before the amount with no space; other codes are written as
#: themselves with a space (``CHF 1,200``). Signs shared by several currencies carry a prefix (``CA$``, ``A$``).
SYMBOLS: dict[str, str] = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CNY": "CN¥",
    "INR": "₹",
    "KRW": "₩",
    "ILS": "₪",
    "BRL": "R$",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "HKD": "HK$",
    "SGD": "S$",
    "MXN": "MX$",
}
#: Currencies without cents: never shown with decimals.
_NO_MINOR_UNITS = frozenset({"JPY", "KRW", "CLP", "ISK", "VND", "HUF", "TWD"})
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_in_use: str = DEFAULT_CURRENCY

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
        raise ConfigError(f"{what} must be at most {MAX_AMOUNT:,.0f} (got {label})")
    if value != value.quantize(CENT):
        raise ConfigError(f"{what} is in whole cents at most (got {label})")
    return value.quantize(CENT)


def check_currency(code: object, *, where: str = "setting currency") -> str:
    """`code` as an ISO 4217 currency code (three letters, upper-cased: ``usd`` is ``USD``); else a `ConfigError`
    naming `where` and the value."""
    text = code.strip().upper() if isinstance(code, str) else ""
    if not _CURRENCY.match(text):
        raise ConfigError(
            f"{where} must be an ISO 4217 currency code of three letters, like USD, EUR or GBP (got {code!r})"
        )
    return text


def use_currency(code: str) -> str:
    """Show amounts in `code` from now on in this process (`check_currency`); returns the currency used before.

    The command line and the server call it with the workspace's ``currency`` setting when they open it.
    """
    global _in_use
    before, _in_use = _in_use, check_currency(code)
    return before


def currency_in_use() -> str:
    """The ISO code amounts are shown in (`use_currency`; ``USD`` until a workspace says otherwise)."""
    return _in_use


def format_money(amount: Decimal | float | int | None, currency: str | None = None) -> str:
    """``$10,000,000``, ``-€1,250``, ``$9.50``, ``CHF 1,200``: an amount as every page, table and report shows it.

    Whole units, rounded half away from zero, unless the amount is under `SMALL_AMOUNT` and has cents (a cost per
    lead); never ``-$0``. `currency` defaults to the one in use (`use_currency`); ``-`` for no amount.
    """
    if amount is None:
        return "-"
    code = currency_in_use() if currency is None else check_currency(currency)
    value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    cents = value.quantize(CENT, rounding=ROUND_HALF_UP)
    small = abs(cents) < SMALL_AMOUNT and cents != cents.to_integral_value() and code not in _NO_MINOR_UNITS
    shown = cents if small else cents.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    digits = f"{abs(shown):,.2f}" if small else f"{abs(shown):,.0f}"
    sign = "-" if shown < 0 else ""
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{code} {digits}"


def format_amount(amount: Decimal | float | None) -> str:
    """A stored amount (a goal, a budget): `format_money` (kept under its old name for its callers)."""
    return format_money(amount)


def format_whole(amount: float | Decimal) -> str:
    """A computed amount (a forecast, a gap) in a sentence or a table: `format_money` (kept under its old name)."""
    return format_money(amount)


def to_cents(amount: Decimal) -> int:
    """Whole cents, as amounts are stored."""
    return int((amount * 100).to_integral_value())


def from_cents(cents: int) -> Decimal:
    """A stored amount back as a `Decimal` with two decimals."""
    return (Decimal(cents) / 100).quantize(CENT)
