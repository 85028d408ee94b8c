"""Money: amounts as people write them (10M, 750k, $1,200,000), refused saying why, and shown back the same way."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tandem.errors import ConfigError
from tandem.money import (
    MAX_AMOUNT,
    check_amount,
    format_amount,
    format_whole,
    from_cents,
    parse_amount,
    to_cents,
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


def test_a_stored_amount_shows_cents_only_when_it_has_some() -> None:
    assert format_amount(Decimal("10000000")) == "10,000,000"
    assert format_amount(Decimal("2465753.42")) == "2,465,753.42"
    assert format_amount(2465753.4) == "2,465,753.40"
    assert format_amount(None) == "-"


def test_a_computed_amount_is_shown_to_the_unit() -> None:
    assert format_whole(412_000.4) == "412,000"
    assert format_whole(Decimal("1234.5")) == "1,234"  # half to even, as Python rounds
    assert format_whole(-38_000.6) == "-38,001"
    assert format_whole(-0.4) == "0"


def test_amounts_are_stored_in_whole_cents() -> None:
    assert to_cents(Decimal("2465753.42")) == 246_575_342
    assert from_cents(246_575_342) == Decimal("2465753.42")
    assert from_cents(to_cents(Decimal("0.01"))) == Decimal("0.01")
