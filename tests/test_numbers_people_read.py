"""Numbers people read: the pipeline in CRM order with totals, the sales-sourced channels suggested from the data,
the formats of counts and expected values, and the funnel chart showing the groups its table lists."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tandem.errors import ConfigError
from tandem.exports import format_number
from tandem.money import use_currency
from tandem.plan.goals import sales_sourced_advice, suggest_sales_sourced
from tandem.questions.pipeline import (
    CRM_PIPELINES,
    ORDER_FROM_DATA,
    ORDER_FROM_SETTING,
    crm_pipeline,
    order_advice,
    ordered_pipeline,
)
from tandem.server.routes.funnel import funnel_charts
from tandem.settings import SETTINGS, resolve_settings

from .conftest import write
from .test_cli import run


# --- counts and expected values -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "style", "shown"),
    [
        (1101.9, "int", "1,102"),  # a count is whole, whatever arithmetic made it
        (1101.9, "expected", "≈ 1,102"),
        (0.34, "expected", "≈ 0.3"),  # under 10 a tenth of a deal still says something
        (5.8, "expected", "≈ 5.8"),
        (5.0, "expected", "≈ 5"),
        (19.4, "expected", "≈ 19"),
        (2.5, "int", "3"),  # half away from zero
        (-0.3, "int", "0"),  # never -0
        (20_000, "int", "20,000"),
        (None, "int", ""),
        (172_222.22, "money", "$172,222"),
        (0.1449, "pct", "14.5%"),
        (3.25, "days", "3.2"),
    ],
)
def test_a_number_is_formatted_once_for_every_table_and_page(value: Any, style: str, shown: str) -> None:
    before = use_currency("USD")
    try:
        assert format_number(value, style) == shown
    finally:
        use_currency(before)


# --- the pipeline's order and totals ------------------------------------------------------------------------------
def _row(stage: str | None, age_bin: str, deals: int, amount: float) -> dict[str, Any]:
    return {"stage": stage, "age_bin": age_bin, "deals": deals, "amount": amount, "unknown_deals": 0}


def test_stages_come_in_the_order_of_their_deals_age_and_age_bins_in_age_order() -> None:
    # Sorted by name (as the engine's rows come): Demo, Discovery, Negotiation; 180+ before 30-60 as text.
    document = {
        "breakdown": [],
        "rows": [
            _row("Demo", "0-30", 1, 3000.0),
            _row("Demo", "30-60", 1, 4000.0),
            _row("Discovery", "0-30", 2, 3000.0),
            _row("Negotiation", "180+", 1, 1000.0),
            _row("Negotiation", "90-180", 1, 5000.0),
            {**_row(None, "0-30", 1, 0.0), "unknown_deals": 1},
        ],
    }
    ordered = ordered_pipeline(document)
    # Mean age-bin positions: Discovery 0, Demo (0 + 1) / 2 = 0.5, Negotiation (3 + 4) / 2 = 3.5; unknown last.
    assert ordered["stage_order"] == ["Discovery", "Demo", "Negotiation", None]
    assert ordered["stage_order_from"] == ORDER_FROM_DATA
    assert [(r["stage"], r["age_bin"]) for r in ordered["rows"]] == [
        ("Discovery", "0-30"),
        ("Demo", "0-30"),
        ("Demo", "30-60"),
        ("Negotiation", "90-180"),
        ("Negotiation", "180+"),
        (None, "0-30"),
    ]
    assert ordered["age_bins"] == ["0-30", "30-60", "60-90", "90-180", "180+"]
    assert ordered["stage_totals"] == [
        {"stage": "Discovery", "deals": 2, "amount": 3000.0, "unknown_deals": 0},
        {"stage": "Demo", "deals": 2, "amount": 7000.0, "unknown_deals": 0},
        {"stage": "Negotiation", "deals": 2, "amount": 6000.0, "unknown_deals": 0},
        {"stage": None, "deals": 1, "amount": 0.0, "unknown_deals": 1},
    ]
    assert ordered["total"] == {"deals": 7, "amount": 16000.0, "unknown_deals": 1}


def test_the_pipeline_stages_setting_orders_the_stages_it_lists_first() -> None:
    rows = [_row("Demo", "0-30", 1, 1.0), _row("Discovery", "0-30", 1, 1.0), _row("Proposal", "60-90", 1, 1.0)]
    ordered = ordered_pipeline({"breakdown": [], "rows": rows}, ["Proposal", "Discovery", "Closed"])
    assert ordered["stage_order"] == ["Proposal", "Discovery", "Demo"]  # Demo is not listed: after, from the data
    assert ordered["stage_order_from"] == f"{ORDER_FROM_SETTING}, then {ORDER_FROM_DATA}"
    every = ordered_pipeline({"breakdown": [], "rows": list(rows)}, ["Demo", "Discovery", "Proposal"])
    assert every["stage_order_from"] == ORDER_FROM_SETTING


HUBSPOT = "HubSpot's default sales pipeline"
SALESFORCE = "Salesforce's standard opportunity stages"


def test_hubspot_stages_come_in_hubspots_default_pipeline_order_with_nothing_set() -> None:
    """The HubSpot stages by name would be Appointment, Contract, Decision, Presentation, Qualified; all in one age
    bin, the data cannot order them either. Labels in either case and internal names are the same stages."""
    rows = [
        _row(stage, "90-180", 1, amount)
        for stage, amount in [
            ("Appointment Scheduled", 10.0),
            ("Contract Sent", 14.0),
            ("Decision Maker Bought-In", 13.0),
            ("presentationscheduled", 12.0),
            ("Qualified to buy", 11.0),
        ]
    ]
    ordered = ordered_pipeline({"breakdown": [], "rows": rows})
    assert ordered["stage_order"] == [
        "Appointment Scheduled",
        "Qualified to buy",
        "presentationscheduled",
        "Decision Maker Bought-In",
        "Contract Sent",
    ]
    assert ordered["stage_order_from"] == HUBSPOT
    assert order_advice(ordered) is None  # nothing to set


def test_salesforce_stages_come_in_salesforces_order_and_a_stage_of_its_own_after_them() -> None:
    rows = [
        _row("Negotiation/Review", "0-30", 1, 1.0),
        _row("Id. Decision Makers", "0-30", 1, 1.0),
        _row("Prospecting", "60-90", 1, 1.0),  # older, but Salesforce's first stage
        _row("Legal Review", "0-30", 1, 1.0),  # the org's own stage: after, from the data
    ]
    ordered = ordered_pipeline({"breakdown": [], "rows": rows})
    assert ordered["stage_order"] == ["Prospecting", "Id. Decision Makers", "Negotiation/Review", "Legal Review"]
    assert ordered["stage_order_from"] == f"{SALESFORCE}, then {ORDER_FROM_DATA}"
    assert order_advice(ordered) == (
        "to list the stages in your CRM's order, set pipeline_stages under [settings] in tandem.toml (see "
        '`tandem settings`), e.g. pipeline_stages = ["Prospecting", "Id. Decision Makers", "Negotiation/Review", '
        '"Legal Review"], reordered as your CRM\'s pipeline lists them'
    )


def test_a_crm_order_needs_half_of_the_stages_and_yields_to_the_setting() -> None:
    assert (
        crm_pipeline(["Qualification", "Discovery", "Demo", "Proposal"]) is None
    )  # one of four: a pipeline of its own
    assert crm_pipeline(["Qualification", "Prospecting", "Demo", "Proposal"]) == (
        SALESFORCE,
        ["Prospecting", "Qualification"],
    )
    assert crm_pipeline(["contractsent", "Demo"]) == (HUBSPOT, ["contractsent"])
    rows = [_row("Contract Sent", "0-30", 1, 1.0), _row("Appointment Scheduled", "0-30", 1, 1.0)]
    ordered = ordered_pipeline({"breakdown": [], "rows": rows}, ["Contract Sent", "Appointment Scheduled"])
    assert (ordered["stage_order"], ordered["stage_order_from"]) == (
        ["Contract Sent", "Appointment Scheduled"],
        ORDER_FROM_SETTING,
    )


@pytest.mark.parametrize(("preset", "pipeline"), [("hubspot-deals", HUBSPOT), ("salesforce-opportunities", SALESFORCE)])
def test_the_presets_name_the_pipeline_order_they_get(preset: str, pipeline: str) -> None:
    """The order lives in `CRM_PIPELINES` (a mapping holds no settings); each preset says it, in the same order."""
    text = (resources.files("tandem.warehouse.presets") / f"{preset}.toml").read_text(encoding="utf-8")
    said = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    said = said[said.index("Pipeline order:") :]
    positions = [said.find(stage) for stage in CRM_PIPELINES[pipeline]]
    if preset == "hubspot-deals":  # by internal name: appointmentscheduled, qualifiedtobuy...
        positions = [said.find(re.sub(r"[\W_]+", "", s.lower())) for s in CRM_PIPELINES[pipeline]]
    assert -1 not in positions
    assert positions == sorted(positions)


def test_the_settings_help_says_how_the_pipeline_is_ordered_unset() -> None:
    help_text = next(s.help for s in SETTINGS if s.name == "pipeline_stages")
    assert "deal-weighted mean age bin" in help_text
    assert "median" not in help_text
    assert "HubSpot's default sales pipeline" in help_text


def test_a_breakdown_keeps_its_groups_and_orders_stages_within_each() -> None:
    rows = [
        {**_row("Demo", "30-60", 1, 10.0), "region": "EU"},
        {**_row("Discovery", "0-30", 1, 20.0), "region": "EU"},
        {**_row("Demo", "30-60", 2, 30.0), "region": "US"},
        {**_row("Discovery", "0-30", 1, 40.0), "region": "US"},
    ]
    ordered = ordered_pipeline({"breakdown": ["region"], "rows": rows})
    assert [(r["region"], r["stage"]) for r in ordered["rows"]] == [
        ("EU", "Discovery"),
        ("EU", "Demo"),
        ("US", "Discovery"),
        ("US", "Demo"),
    ]
    assert ordered["stage_totals"][3] == {
        "region": "US",
        "stage": "Demo",
        "deals": 2,
        "amount": 30.0,
        "unknown_deals": 0,
    }


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hand-made CRM export: HubSpot-like channels, four open deals in three stages and a won one (not open)."""
    root = tmp_path_factory.mktemp("numbers")
    folder = root / "ws"
    assert run("init", folder).returncode == 0
    leads = write(
        root / "leads.csv",
        "lead_id,created_at,channel\n"
        "L1,2026-01-05,Organic Search\nL2,2026-01-06,Offline Sources\nL3,2026-01-07,Direct Traffic\n"
        "L4,2026-01-08,Outbound\nL5,2026-01-09,cold-calling\nL6,2026-01-10,\n",
    )
    today = datetime.now(UTC).date()  # deals are seen as of now: an as-of day before the import knows none of them

    def ago(days: int) -> str:
        return (today - timedelta(days=days)).isoformat()

    deals = write(
        root / "deals.csv",
        "opportunity_id,created_at,status,stage,amount,close_date,lead_id\n"
        f"O1,{ago(7)},open,Discovery,1000,,L1\n"  # 0-30 days old
        f"O2,{ago(12)},open,Discovery,2000,,L2\n"  # 0-30
        f"O3,{ago(17)},open,Demo,3000.4,,L3\n"  # 0-30
        f"O4,{ago(47)},open,Demo,4000,,L4\n"  # 30-60
        f"O5,{ago(137)},open,Negotiation,5000,,L5\n"  # 90-180
        f"O6,{ago(200)},won,Closed Won,9000,{ago(100)},L1\n",  # won: not open
    )
    for kind, path in (("leads", leads), ("opportunities", deals)):
        done = run("import", kind, path, "-w", folder)
        assert done.returncode == 0, done.stderr
    return folder


def test_tandem_pipeline_lists_stages_in_pipeline_order_with_a_total_row(crm: Path) -> None:
    done = run("pipeline", "-w", crm)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("│")]
    cells = [[cell.strip() for cell in line.strip("│").split("│")] for line in lines]
    assert cells == [
        ["Discovery", "0-30", "2", "$3,000", "0"],
        ["Demo", "0-30", "1", "$3,000", "0"],  # 3,000.40: whole dollars
        ["Demo", "30-60", "1", "$4,000", "0"],
        ["Demo", "subtotal", "2", "$7,000", "0"],  # a stage in more than one age bin: its subtotal
        ["Negotiation", "90-180", "1", "$5,000", "0"],
        ["total", "", "5", "$15,000", "0"],
    ]
    footer = " ".join(done.stdout[done.stdout.index("stages in pipeline order") :].split())  # unwrapped
    assert footer == (
        f"stages in pipeline order, from {ORDER_FROM_DATA} "
        "to list the stages in your CRM's order, set pipeline_stages under [settings] in tandem.toml (see "
        '`tandem settings`), e.g. pipeline_stages = ["Discovery", "Demo", "Negotiation"], reordered as your '
        "CRM's pipeline lists them"
    )


def test_the_pipeline_document_carries_its_order_and_totals(crm: Path) -> None:
    done = run("pipeline", "--format", "json", "-w", crm)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["stage_order"] == ["Discovery", "Demo", "Negotiation"]
    assert [(r["stage"], r["age_bin"], r["deals"]) for r in document["rows"]] == [
        ("Discovery", "0-30", 2),
        ("Demo", "0-30", 1),
        ("Demo", "30-60", 1),
        ("Negotiation", "90-180", 1),
    ]
    assert document["total"] == {"deals": 5, "amount": 15000.4, "unknown_deals": 0}
    assert [(t["stage"], t["deals"], t["amount"]) for t in document["stage_totals"]] == [
        ("Discovery", 2, 3000.0),
        ("Demo", 2, 7000.4),
        ("Negotiation", 1, 5000.0),
    ]


# --- the sales-sourced channels -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "suggested"),
    [
        (["Outbound", "Organic Search", "Paid Search"], ["Outbound"]),
        (["Offline Sources", "Direct Traffic", "Email Marketing", "Social Media"], ["Offline Sources"]),
        (
            ["outbound_sdr", "Sales Prospecting", "Cold call", "cold-calling", "webinar"],
            [
                "Cold call",
                "Sales Prospecting",
                "cold-calling",
                "outbound_sdr",
            ],
        ),
        (["Direct", "direct sales", "Direct Mail", "Directory listing"], ["Direct", "direct sales"]),
        (["Salesforce AppExchange listing"], []),  # a word containing "sales" is not the word
        ([None, "", "Referrals", "Partner"], []),
    ],
)
def test_channel_values_that_look_sales_sourced_are_suggested(values: list[str | None], suggested: list[str]) -> None:
    assert suggest_sales_sourced(values) == suggested


def test_the_advice_writes_the_setting_line_to_copy() -> None:
    assert sales_sourced_advice(["Offline Sources", "Outbound"]) == (
        "set sales_sourced_channels under [settings] in tandem.toml (see `tandem settings`), "
        'e.g. sales_sourced_channels = ["Offline Sources", "Outbound"] (the imported channels that look sales-sourced)'
    )
    assert sales_sourced_advice([]) == (
        "set sales_sourced_channels under [settings] in tandem.toml (see `tandem settings`): "
        "the lead channels sales sources itself"
    )


def test_status_and_settings_suggest_the_sales_sourced_channels_from_the_imported_leads(crm: Path) -> None:
    status = run("status", "--format", "json", "-w", crm)
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["currency"] == "USD"
    found = document["sales_sourced_channels"]
    assert found["set"] == []
    assert found["suggested"] == ["Offline Sources", "Outbound", "cold-calling"]
    line = (
        "marketing's revenue quota is not measured: the sales-sourced channels are not set; set "
        "sales_sourced_channels under [settings] in tandem.toml (see `tandem settings`), e.g. sales_sourced_channels "
        '= ["Offline Sources", "Outbound", "cold-calling"] (the imported channels that look sales-sourced)'
    )
    assert line in run("status", "-w", crm).stdout
    settings = run("settings", "-w", crm)
    assert settings.returncode == 0, settings.stderr
    assert line in settings.stdout


# --- the funnel chart shows the table's groups --------------------------------------------------------------------
def test_the_stage_volume_chart_draws_every_group_the_table_lists() -> None:
    """Nine channels (the chart once kept seven and folded the rest into "(other)", the best one among them when
    it had few leads), and a missing channel: the chart's series are exactly the table's groups, in its order."""
    stages = ["lead", "mql", "won"]
    reached = {f"ch{i}": (100 - 10 * i, 5, i) for i in range(9)}  # ch8 has the fewest leads and the most won
    reached[None] = (3, 0, 0)  # type: ignore[index]
    rows = [
        {"channel": channel, "stage": stage, "reached": n}
        for channel, counts in reached.items()
        for stage, n in zip(stages, counts, strict=True)
    ]
    document = {"stages": stages, "breakdown": ["channel"], "rows": rows, "period": None}
    spec = funnel_charts(document, ["channel"], None)["stage-volumes"]
    values = spec["data"]["values"]
    table_groups = list(dict.fromkeys("(missing)" if r["channel"] is None else r["channel"] for r in rows))
    assert list(dict.fromkeys(v["series"] for v in values)) == table_groups
    assert {(v["series"], v["stage"]): v["reached"] for v in values} == {
        ("(missing)" if r["channel"] is None else r["channel"], r["stage"]): r["reached"] for r in rows
    }
    assert spec["encoding"]["color"]["sort"] == table_groups


def test_a_breakdown_by_two_columns_draws_one_series_per_pair() -> None:
    rows = [
        {"channel": "email", "region": "EU", "stage": "lead", "reached": 4},
        {"channel": "email", "region": "US", "stage": "lead", "reached": 3},
        {"channel": "webinar", "region": "EU", "stage": "lead", "reached": 2},
    ]
    document = {"stages": ["lead"], "breakdown": ["channel", "region"], "rows": rows, "period": None}
    spec = funnel_charts(document, ["channel", "region"], None)["stage-volumes"]
    assert [(v["series"], v["reached"]) for v in spec["data"]["values"]] == [
        ("email · EU", 4),
        ("email · US", 3),
        ("webinar · EU", 2),
    ]
    assert spec["title"] == "Leads reaching each stage by channel · region"


# --- the currency setting -----------------------------------------------------------------------------------------
def test_the_currency_setting_is_an_iso_code_upper_cased() -> None:
    assert resolve_settings({})["currency"] == "USD"
    assert resolve_settings({"currency": "eur"})["currency"] == "EUR"
    with pytest.raises(ConfigError) as refused:
        resolve_settings({"currency": "euro"})
    assert str(refused.value) == (
        "setting currency must be an ISO 4217 currency code of three letters, like USD, EUR or GBP (got 'euro')"
    )
    with pytest.raises(ConfigError, match="setting currency must be str, got 978"):
        resolve_settings({"currency": 978})
    assert resolve_settings({})["sales_sourced_channels"] == []  # no demo default
    assert resolve_settings({})["pipeline_stages"] == []
