"""The mapping presets shipped with tandem, and the example mappings, against the exports they are for.

Every preset has fixtures in ``tests/data/presets/``: ``NAME.csv`` is the main export it is written for, and
``NAME.<variant>.csv`` are other real shapes of the same export (older labels, report exports). Each fixture's
header is the one the product writes, so a misspelled column name in a preset fails here instead of on a
user's file.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest

from tandem.errors import MappingError
from tandem.warehouse.mapping import ColumnSource, Mapping, list_presets, load_mapping
from tandem.warehouse.schema import TABLES, attribute_name

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "data" / "presets"
EXAMPLES = ROOT / "examples"

PRESETS = {
    "hubspot-contacts": "leads",
    "hubspot-deals": "opportunities",
    "hubspot-lifecycle": "stage_events",
    "salesforce-leads": "leads",
    "salesforce-opportunities": "opportunities",
    "salesforce-lead-history": "stage_events",
    "hubspot-handoffs": "handoffs",
    "salesforce-lead-handoffs": "handoffs",
}


def fixtures(name: str) -> list[Path]:
    """The main fixture of preset `name` first, then its variants."""
    return [FIXTURES / f"{name}.csv", *sorted(FIXTURES.glob(f"{name}.*.csv"))]


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


def chosen(source: ColumnSource, columns: list[str]) -> str | None:
    """The source column a mapping takes from a file with these columns: the first alternative present."""
    assert source.column is not None
    return next((c for c in source.column if c in columns), None)


def mapped(source: ColumnSource, value: str) -> str:
    """A cell after the value map: a mapped value, else `otherwise`, else the cell as it is."""
    if value in source.values:
        return source.values[value]
    return source.otherwise if source.otherwise is not None else value


def source_columns(mapping: Mapping) -> set[str]:
    """Every source column name a mapping refers to."""
    names = {name for source in mapping.columns.values() for name in source.column or []}
    names |= set(mapping.stage_columns.values())
    if mapping.filter is not None:  # a name, or alternatives (an API export's and a report's)
        names |= set(_names(mapping.filter.column))
    return names


def _is_iso(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


# --- every preset ----------------------------------------------------------------------------------------


def test_every_preset_file_is_listed_and_described():
    presets = list_presets()
    assert set(presets) == set(PRESETS)
    assert all(description.strip() for description in presets.values())


@pytest.mark.parametrize(("name", "kind"), PRESETS.items())
def test_preset_loads_for_its_table(name: str, kind: str):
    mapping = load_mapping(name)
    assert mapping.name == name
    assert mapping.table == kind
    mapping.check_table(kind)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_maps_every_required_column(name: str):
    mapping = load_mapping(name)
    table = TABLES[mapping.table or ""]
    covered = set(mapping.columns)
    if mapping.stage_columns:
        covered |= {"stage", "occurred_at"}
    assert set(table.required) <= covered


@pytest.mark.parametrize("name", PRESETS)
def test_every_column_a_preset_names_is_in_a_real_export_header(name: str):
    mapping = load_mapping(name)
    paths = fixtures(name)
    assert paths[0].is_file(), f"missing fixture {paths[0]}"
    seen = {column for path in paths for column in header(path)}
    assert source_columns(mapping) - seen == set()


@pytest.mark.parametrize("name", PRESETS)
def test_main_export_provides_every_mapped_column(name: str):
    mapping = load_mapping(name)
    columns = header(fixtures(name)[0])
    missing = [c for c, s in mapping.columns.items() if s.column is not None and chosen(s, columns) is None]
    assert missing == []
    assert set(mapping.stage_columns.values()) <= set(columns)


@pytest.mark.parametrize("path", [p for name in PRESETS for p in fixtures(name)[1:]], ids=lambda p: p.name)
def test_other_export_shapes_provide_the_required_columns(path: Path):
    mapping = load_mapping(path.name.split(".")[0])
    columns = header(path)
    required = TABLES[mapping.table or ""].required
    missing = [
        c for c in required if (s := mapping.columns.get(c)) is not None and s.column and chosen(s, columns) is None
    ]
    assert missing == []


@pytest.mark.parametrize("name", PRESETS)
def test_fixtures_are_small(name: str):
    for path in fixtures(name):
        assert 3 <= len(read(path)) <= 5, path.name


# --- dates -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hubspot-contacts", "hubspot-deals"])
def test_hubspot_dates_parse_with_the_preset_format(name: str):
    mapping = load_mapping(name)
    for path in fixtures(name):
        rows = read(path)
        for canonical in ("created_at", "close_date"):
            source = mapping.columns.get(canonical)
            if source is None:
                continue
            column = chosen(source, list(rows[0]))
            assert source.format is not None
            for row in rows:
                datetime.strptime(row[column], source.format)


def test_hubspot_lifecycle_dates_parse_with_the_preset_format():
    mapping = load_mapping("hubspot-lifecycle")
    assert mapping.date_format is not None
    for row in read(fixtures("hubspot-lifecycle")[0]):
        for column in mapping.stage_columns.values():
            if row[column]:
                datetime.strptime(row[column], mapping.date_format)


@pytest.mark.parametrize("name", ["salesforce-leads", "salesforce-opportunities", "salesforce-lead-history"])
def test_salesforce_api_exports_are_iso_and_utc(name: str):
    mapping = load_mapping(name)
    assert mapping.timezone == "UTC"
    rows = read(fixtures(name)[0])
    for canonical in ("created_at", "occurred_at", "close_date"):
        source = mapping.columns.get(canonical)
        if source is None:
            continue
        assert source.format is None
        column = chosen(source, list(rows[0]))
        assert all(_is_iso(row[column]) for row in rows if row[column])


@pytest.mark.parametrize("name", ["hubspot-contacts", "hubspot-deals", "hubspot-lifecycle"])
def test_hubspot_presets_leave_the_time_zone_to_the_user(name: str):
    text = (ROOT / "src" / "tandem" / "warehouse" / "presets" / f"{name}.toml").read_text(encoding="utf-8")
    assert "\ntimezone" not in text
    assert "time zone" in load_mapping(name).description


# --- values ----------------------------------------------------------------------------------------------


def test_hubspot_deal_stages_give_won_lost_and_open():
    status = load_mapping("hubspot-deals").columns["status"]
    rows = read(fixtures("hubspot-deals")[0])
    column = chosen(status, list(rows[0]))
    assert [mapped(status, row[column]) for row in rows] == ["won", "open", "lost", "open"]


@pytest.mark.parametrize("path", fixtures("salesforce-opportunities"), ids=lambda p: p.name)
def test_salesforce_stage_names_give_won_lost_and_open(path: Path):
    status = load_mapping("salesforce-opportunities").columns["status"]
    rows = read(path)
    column = chosen(status, list(rows[0]))
    assert {row[column]: mapped(status, row[column]) for row in rows} == {
        row[column]: {"Closed Won": "won", "Closed Lost": "lost"}.get(row[column], "open") for row in rows
    }
    assert {"won", "lost", "open"} <= {mapped(status, row[column]) for row in rows}


def test_deal_stage_is_kept_as_the_stage_too():
    for name in ("hubspot-deals", "salesforce-opportunities"):
        mapping = load_mapping(name)
        assert mapping.columns["stage"].column == mapping.columns["status"].column
        assert mapping.columns["stage"].values == {}


def test_hubspot_employee_ranges_become_numbers():
    employees = load_mapping("hubspot-contacts").columns["employees"]
    for path in fixtures("hubspot-contacts"):
        for row in read(path):
            value = row[chosen(employees, list(row)) or ""]
            if value:
                assert mapped(employees, value).isdigit(), (path.name, value)


def test_salesforce_lead_history_keeps_status_changes_only():
    mapping = load_mapping("salesforce-lead-history")
    assert mapping.filter is not None
    rows = [
        r for r in read(fixtures("salesforce-lead-history")[0]) if r[mapping.filter.column] in mapping.filter.values
    ]
    stage = mapping.columns["stage"]
    assert [mapped(stage, r[chosen(stage, list(r)) or ""]) for r in rows] == ["mql", "opportunity"]


def test_salesforce_lead_history_maps_to_default_stages():
    stage = load_mapping("salesforce-lead-history").columns["stage"]
    assert set(stage.values.values()) <= {"lead", "mql", "sql", "opportunity", "won"}
    assert "copy" in load_mapping("salesforce-lead-history").description


def test_hubspot_lifecycle_stages_are_the_default_stages():
    mapping = load_mapping("hubspot-lifecycle")
    assert list(mapping.stage_columns) == ["lead", "mql", "sql", "opportunity", "won"]


# --- the Maven example ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "kind"), [("maven-opportunities.toml", "opportunities"), ("maven-accounts.toml", "accounts")]
)
def test_example_mapping_loads(file: str, kind: str):
    mapping = load_mapping(EXAMPLES / file)
    assert mapping.table == kind
    mapping.check_table(kind)


def test_maven_deal_stages_give_won_lost_and_open():
    status = load_mapping(EXAMPLES / "maven-opportunities.toml").columns["status"]
    assert {s: mapped(status, s) for s in ("Won", "Lost", "Engaging", "Prospecting")} == {
        "Won": "won",
        "Lost": "lost",
        "Engaging": "open",
        "Prospecting": "open",
    }


def test_maven_accounts_use_the_name_as_key_and_name():
    mapping = load_mapping(EXAMPLES / "maven-accounts.toml")
    assert mapping.columns["account_id"].column == mapping.columns["name"].column == ["account"]


# --- bad mappings ----------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_time_zone_names_the_file_and_the_zone(tmp_path: Path):
    path = write(tmp_path, 'table = "leads"\ntimezone = "Europe/Pariss"\n[columns]\nlead_id = "Id"\n')
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert str(path) in message
    assert "timezone" in message
    assert "unknown time zone 'Europe/Pariss'" in message


def test_column_and_constant_together_are_refused(tmp_path: Path):
    path = write(tmp_path, 'table = "leads"\n[columns]\nchannel = { column = "Lead Source", constant = "web" }\n')
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert str(path) in message
    assert "columns.channel" in message
    assert "exactly one of `column`" in message


def test_unknown_setting_is_refused(tmp_path: Path):
    path = write(tmp_path, 'table = "leads"\ntime_zone = "UTC"\n')
    with pytest.raises(MappingError, match="time_zone"):
        load_mapping(path)


def test_invalid_toml_names_the_file(tmp_path: Path):
    path = write(tmp_path, 'table = "leads"\n[columns]\nlead_id = Record ID\n')
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    assert str(path) in str(caught.value)
    assert "not valid TOML" in str(caught.value)


def test_canonical_column_the_table_lacks_is_refused_by_check_table(tmp_path: Path):
    path = write(tmp_path, 'table = "leads"\n[columns]\nlead_id = "Id"\namount = "Amount"\n', name="my-leads.toml")
    mapping = load_mapping(path)
    with pytest.raises(MappingError) as caught:
        mapping.check_table("leads")
    message = str(caught.value)
    assert "'my-leads'" in message
    assert "'amount'" in message
    assert "lead_id, created_at" in message


def test_mapping_for_another_table_is_refused(tmp_path: Path):
    mapping = load_mapping(write(tmp_path, 'table = "leads"\n'))
    with pytest.raises(MappingError, match="is for table 'leads', not 'opportunities'"):
        mapping.check_table("opportunities")


def test_stage_columns_outside_stage_events_are_refused(tmp_path: Path):
    mapping = load_mapping(write(tmp_path, '[stage_columns]\nmql = "Became an MQL"\n'))
    with pytest.raises(MappingError, match=r"\[stage_columns\] only applies to stage_events"):
        mapping.check_table("leads")


def test_missing_mapping_file_is_named(tmp_path: Path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping(path)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(MappingError) as caught:
        load_mapping("hubspot-contact")
    assert "hubspot-contacts" in str(caught.value)


# --- derived tables: the stage events a preset writes from the same file ------------------------------------------
#: The exports whose headers a preset's derived mappings read: its own, and HubSpot contacts exported with the
#: "Became a ... Date" properties (the hubspot-lifecycle fixtures are such exports).
DERIVED_HEADERS = {
    "hubspot-contacts": ["hubspot-contacts", "hubspot-lifecycle"],
    "hubspot-deals": ["hubspot-deals"],
    "salesforce-leads": ["salesforce-leads"],
    "salesforce-opportunities": ["salesforce-opportunities"],
}


def _names(wanted: str | list[str]) -> list[str]:
    return [wanted] if isinstance(wanted, str) else list(wanted)


@pytest.mark.parametrize(("name", "exports"), DERIVED_HEADERS.items())
def test_every_column_a_derived_mapping_names_is_in_a_real_export_header(name: str, exports: list[str]):
    mapping = load_mapping(name)
    assert [d.table for d in mapping.derived] == ["stage_events"] * len(mapping.derived)
    seen = {column for export in exports for path in fixtures(export) for column in header(path)}
    for derived in mapping.derived:
        names = {n for source in derived.columns.values() for n in source.column or []}
        names |= {n for column in derived.stage_columns.values() for n in _names(column)}
        names |= {n for rule in [*derived.stage_when.values(), derived.filter] if rule for n in _names(rule.column)}
        # Each alternative is a different export's label: at least one of each is in a real header.
        groups = [source.column for source in derived.columns.values() if source.column]
        groups += [_names(c) for c in derived.stage_columns.values()]
        assert [g for g in groups if not set(g) & seen] == [], derived.name
        assert names & seen, derived.name


def test_a_salesforce_opportunity_finds_its_lead_through_the_leads_attribute():
    """The lookup names the attribute salesforce-leads keeps ConvertedOpportunityId under, in both header styles."""
    lookup = load_mapping("salesforce-opportunities").columns["lead_id"].lookup
    assert lookup is not None
    assert lookup.table == "leads"
    kept = {attribute_name(c) for path in fixtures("salesforce-leads") for c in header(path)}
    assert "convertedopportunityid" in kept
    assert lookup.columns == ["convertedopportunityid", "converted_opportunity_id"]
    assert attribute_name("Converted Opportunity ID") == "converted_opportunity_id"


def test_a_hubspot_deal_takes_its_first_contact_as_its_lead():
    mapping = load_mapping("hubspot-deals")
    lead = mapping.columns["lead_id"]
    assert (lead.column, lead.split, lead.keep) == (["Associated Contact IDs"], ";", "first")
    # ... and every contact gets the deal's stage events.
    each = mapping.derived[0].columns["lead_id"]
    assert (each.column, each.split, each.keep) == (["Associated Contact IDs"], ";", "each")
    assert "51234567;51234890" in {r["Associated Contact IDs"] for r in read(fixtures("hubspot-deals")[0])}
