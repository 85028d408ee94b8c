"""Workspace settings: one table of (name, default, help) drives the config file, `tandem settings` and the docs.

A workspace overrides a setting in the ``[settings]`` table of its ``tandem.toml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from tandem.errors import ConfigError

__all__ = ["SETTINGS", "Setting", "resolve_settings"]


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "currency",
        "USD",
        "ISO 4217 code of the currency the CRM's amounts are in (USD, EUR, GBP...): every page, table and report "
        "shows amounts with its sign; tandem never converts.",
    ),
    Setting("import_errors_shown", 50, "How many problems an import prints before the count of the rest."),
    Setting(
        "import_max_line_bytes",
        8 * 1024 * 1024,
        "Longest CSV record accepted, in bytes (DuckDB reads in buffers of 16 such records).",
    ),
    Setting("import_progress_min_bytes", 20 * 1024 * 1024, "Files at least this large show a progress bar."),
    Setting(
        "import_max_columns",
        500,
        "Most columns a file may have; a wider file is refused from its header, before it is read (docs/import.md).",
    ),
    Setting(
        "import_max_new_attributes",
        50,
        "Most new attribute columns one import may add to a table; map columns explicitly to import a wider file.",
    ),
    Setting(
        "import_earliest_date",
        "1900-01-01",
        "Earliest date or time an import accepts (YYYY-MM-DD); an earlier value is refused with its line.",
    ),
    Setting(
        "import_latest_date",
        "2200-12-31",
        "Latest date an import accepts (YYYY-MM-DD, the whole day); a later value is refused with its line.",
    ),
    Setting(
        "duckdb_memory_gb", 0, "DuckDB memory limit in GB, spilling to disk beyond (0: DuckDB's default, 80% of RAM)."
    ),
    Setting(
        "warehouse_wait_seconds",
        900,
        "Longest a command, page or import waits for another process's import to finish before it gives up "
        '(docs/architecture.md, "Side by side").',
    ),
    Setting("session_hours", 12, "A web sign-in lasts this many hours."),
    Setting("password_min_length", 10, "Shortest password accepted for a user."),
    Setting(
        "login_max_failures",
        5,
        "Failed sign-ins in a row to one account from one address (or one browser that signed in to it before) "
        "after which that address or browser is blocked from the account; others still sign in "
        '(docs/web-app.md, "Sign-in protection").',
    ),
    Setting(
        "login_lockout_minutes",
        15,
        "How long the first block lasts; each next block of the same address or account lasts twice the last.",
    ),
    Setting("login_lockout_max_minutes", 1440, "The longest a sign-in block lasts, however often it recurs."),
    Setting(
        "login_account_limit",
        50,
        "Failed sign-ins in a row to one account from addresses and browsers it does not know, after which only its "
        "known browsers may sign in for a while (growing like login_lockout_minutes); an admin can unlock it.",
    ),
    Setting("login_rate_limit", 20, "Sign-in attempts one address may make per 5-minute window, whoever it tries."),
    Setting(
        "trusted_proxies",
        [],
        "Addresses of the reverse proxies in front of `tandem serve`: only a request from one of them has its "
        "X-Forwarded-For header believed for the client's address (empty: the header is ignored).",
    ),
    Setting("cache_entries", 512, "Computed results the web app keeps in memory (per server process)."),
    Setting("demo_leads", 20_000, "Leads `tandem demo` generates when --leads is not given."),
    Setting("demo_seed", 7, "Random seed `tandem demo` uses when --seed is not given."),
    Setting(
        "definitions_freeze_weeks",
        2,
        "The last N weeks of each calendar quarter in which loosening a marketing-owned stage needs an exec override "
        "(0 turns the guard off).",
    ),
    Setting(
        "signal_window_days",
        14,
        "Days an MQL has to reach the next stage to count as accepted, in the weekly loosening signal.",
    ),
    Setting(
        "sales_sourced_channels",
        [],
        "Lead channels sales sources itself; won revenue from leads of any other channel is marketing-sourced "
        "(the measured share behind marketing's revenue quota, docs/plan.md). Unset, marketing's quota is not "
        "measured; `tandem settings` suggests values from the imported channels.",
    ),
    Setting(
        "pipeline_stages",
        [],
        "The CRM's opportunity stages in the order deals move through them, for `tandem pipeline` and the Funnel "
        "page's pipeline. Unset: HubSpot's default sales pipeline or Salesforce's standard stages when the deals "
        "carry them, else the order of each stage's open deals by age (their deal-weighted mean age bin), "
        "docs/funnel-semantics.md.",
    ),
    Setting("alert_smtp_host", "127.0.0.1", "SMTP server alert emails are sent through (docs/alerts.md)."),
    Setting("alert_smtp_port", 25, "Port of the SMTP server for alert emails."),
    Setting("alert_smtp_from", "tandem@localhost", "From address of alert emails."),
    Setting("alert_smtp_starttls", False, "Upgrade the SMTP connection with STARTTLS before signing in or sending."),
    Setting(
        "alert_smtp_user",
        "",
        "SMTP user to sign in as (empty: no sign-in); the password comes only from $TANDEM_SMTP_PASSWORD.",
    ),
    Setting("alert_attempts", 3, "Tries per alert delivery within one `tandem alerts run`, with backoff between."),
    Setting("alert_max_attempts", 10, "Tries per alert delivery over all runs before it is marked gave_up."),
    Setting("alert_retry_seconds", 2, "Wait before the second try of a delivery in a run; doubled before each next."),
    Setting("alert_timeout_seconds", 10, "Seconds a webhook or SMTP server has to answer before the try fails."),
)

_BY_NAME = {s.name: s for s in SETTINGS}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def resolve_settings(overrides: dict[str, Any]) -> dict[str, Any]:
    """Every setting's value: the workspace's override where given (type-checked), else the default."""
    unknown = sorted(set(overrides) - set(_BY_NAME))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)} in [settings]; known: {', '.join(_BY_NAME)}")
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        value = overrides.get(setting.name, setting.default)
        if isinstance(value, date) and isinstance(setting.default, str):  # a date written unquoted in TOML
            value = value.isoformat()
        if type(value) is not type(setting.default):
            raise ConfigError(f"setting {setting.name} must be {type(setting.default).__name__}, got {value!r}")
        if isinstance(value, list) and not all(isinstance(item, str) for item in value):
            raise ConfigError(f"setting {setting.name} must be a list of strings, got {value!r}")
        values[setting.name] = value
    currency = values["currency"].strip().upper()
    if not _CURRENCY.match(currency):  # the rule of `tandem.money.check_currency`, which this layer cannot import
        raise ConfigError(
            f"setting currency must be an ISO 4217 currency code of three letters, like USD, EUR or GBP "
            f"(got {values['currency']!r})"
        )
    values["currency"] = currency
    dates: list[date] = []
    for name in ("import_earliest_date", "import_latest_date"):
        try:
            if not _DAY.match(values[name]):
                raise ValueError(name)
            dates.append(date.fromisoformat(values[name]))
        except ValueError:
            raise ConfigError(f"setting {name} must be a date written YYYY-MM-DD, got {values[name]!r}") from None
    if dates[0] > dates[1]:
        raise ConfigError("setting import_earliest_date must not be after import_latest_date")
    return values
