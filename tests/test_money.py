"""Money: amounts as people write them (10M, 750k, $1,200,000), refused saying why, and shown back the same way."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tandem.errors import ConfigError
from tandem.money import (
    MAX_AMOUNT,
    check_amount,
    check_currency,
    currency_in_use,
    format_amount,
    format_money,
    format_whole,
    from_cents,
    parse_amount,
    to_cents,
    use_currency,
)


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1M", "1000000"),
        ("10k", "10000"),
        ("2.5m", "2500000"),
        ("750K", "750000"),
        ("$1,200,000", "1200000"),
        ("1 200", "1200"),
        (".5k", "500"),
        ("1234.56", "1234.56"),
    ],
)
def test_amounts_are_read_as_people_write_them(text: str, amount: str) -> None:
    assert parse_amount(text) == Decimal(amount)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ten million", "'ten million' is not an amount; use a number like 10000000, 2.5M, 750k or $1,200,000"),
        ("10MM", "'10MM' is not an amount; use a number like 10000000, 2.5M, 750k or $1,200,000"),
        ("1,2000", "'1,2000' is not an amount; use a number like 10000000, 2.5M, 750k or $1,200,000"),
        ("-5M", "'-5M' is not an amount; use a number like 10000000, 2.5M, 750k or $1,200,000"),
        ("10B", "'10B' is not an amount; use a number like 10000000, 2.5M, 750k or $1,200,000"),
        ("0", "an amount must be more than zero (got '0')"),
        ("1.005", "an amount is in whole cents at most (got '1.005')"),
        ("2000000000M", "an amount must be at most 1,000,000,000,000,000 (got '2000000000M')"),
    ],
)
def test_other_forms_are_a_config_error_saying_why(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_amount(text)
    assert str(refused.value) == message


def test_a_refusal_names_what_the_amount_is_for() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_amount("0", what="a goal")
    assert str(refused.value) == "a goal must be more than zero (got '0')"


def test_numbers_are_checked_like_text() -> None:
    assert check_amount(1200) == Decimal("1200.00")
    assert check_amount(0.1) == Decimal("0.10")
    assert check_amount(MAX_AMOUNT) == Decimal("1000000000000000.00")
    with pytest.raises(ConfigError) as refused:
        check_amount(1000.005)
    assert str(refused.value) == "an amount is in whole cents at most (got 1,000.005)"
    with pytest.raises(ConfigError, match="more than zero"):
        check_amount(float("nan"))


@pytest.fixture
def dollars() -> Iterator[None]:
    """Amounts shown in USD for the test, whatever the process used before."""
    before = use_currency("USD")
    yield
    use_currency(before)


@pytest.mark.usefixtures("dollars")
def test_an_amount_is_shown_in_whole_units_with_the_currency_sign() -> None:
    assert format_money(Decimal("10000000")) == "$10,000,000"
    assert format_money(Decimal("172222.22")) == "$172,222"  # a derived target: cents mean nothing in a plan
    assert format_money(2465753.5) == "$2,465,754"  # half away from zero
    assert format_money(Decimal("1234.5")) == "$1,235"
    assert format_money(-38_000.6) == "-$38,001"
    assert format_money(-0.004) == "$0"  # never -$0
    assert format_money(None) == "-"
    assert format_amount(Decimal("2465753.42")) == "$2,465,753"
    assert format_whole(412_000.4) == "$412,000"


@pytest.mark.usefixtures("dollars")
def test_a_small_amount_keeps_its_cents() -> None:
    assert format_money(9.5) == "$9.50"  # a cost per lead
    assert format_money(Decimal("99.99")) == "$99.99"
    assert format_money(99.995) == "$100"  # 100.00 once rounded to the cent: no longer small
    assert format_money(12) == "$12"
    assert format_money(-0.3) == "-$0.30"
    assert format_money(9.5, "JPY") == "¥10"  # a currency without cents never shows them


@pytest.mark.parametrize(
    ("currency", "shown"),
    [
        ("USD", "$1,200"),
        ("EUR", "€1,200"),
        ("GBP", "£1,200"),
        ("JPY", "¥1,200"),
        ("CAD", "CA$1,200"),
        ("AUD", "A$1,200"),
        ("chf", "CHF 1,200"),  # no sign in the table: the ISO code, then a space
        ("SEK", "SEK 1,200"),
    ],
)
def test_the_currency_is_a_sign_or_else_its_iso_code(currency: str, shown: str) -> None:
    assert format_money(1200, currency) == shown
    assert format_money(-1200, currency) == "-" + shown


def test_the_currency_in_use_is_the_workspaces() -> None:
    before = use_currency("eur")
    try:
        assert currency_in_use() == "EUR"
        assert format_money(40_000) == "€40,000"
        assert format_amount(Decimal("1500.25")) == "€1,500"
    finally:
        use_currency(before)
    assert currency_in_use() == before


@pytest.mark.parametrize("code", ["US", "dollars", "U$D", "", 840])
def test_a_currency_that_is_not_an_iso_code_is_refused(code: object) -> None:
    with pytest.raises(ConfigError) as refused:
        check_currency(code, where="setting currency")
    assert str(refused.value) == (
        f"setting currency must be an ISO 4217 currency code of three letters, like USD, EUR or GBP (got {code!r})"
    )


def test_amounts_are_stored_in_whole_cents() -> None:
    assert to_cents(Decimal("2465753.42")) == 246_575_342
    assert from_cents(246_575_342) == Decimal("2465753.42")
    assert from_cents(to_cents(Decimal("0.01"))) == Decimal("0.01")
