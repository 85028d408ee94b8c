"""A file that does not look like its mapping's export is refused (`tandem.warehouse.mapping_checks`), ``--lenient``
lets it through, the same file imported before is named, and ``tandem mappings show`` says what a preset does."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest

from tandem import Workspace
from tandem.errors import MappingError
from tandem.warehouse.mapping import load_mapping
from tandem.warehouse.mapping_checks import check_file, expected_columns, lenient, missing_columns, suggest_preset

from .conftest import write
from .test_cli import run
from .test_mapping_presets import FIXTURES, PRESETS, fixtures, header

#: What the contacts preset expects and a HubSpot deals export lacks (7 of 11: more than half).
NOT_IN_DEALS = "Email, Company Name, Country/Region, Industry, Contact owner, HubSpot Score, Number of Employees"
REFUSED = (
    "hubspot-deals.csv does not look like a file for mapping 'hubspot-contacts': 7 of the 11 columns it expects are "
    f"missing ({NOT_IN_DEALS}); it looks like a HubSpot deals export: use --mapping hubspot-deals (table "
    "opportunities); or pass --lenient to import it anyway"
)


@pytest.fixture
def deals(tmp_path: Path) -> Path:
    return Path(shutil.copy(FIXTURES / "hubspot-deals.csv", tmp_path / "hubspot-deals.csv"))


def test_a_deals_file_imported_as_contacts_is_refused(workspace: Workspace, deals: Path) -> None:
    with pytest.raises(MappingError) as refused:
        workspace.import_files("leads", [deals], mapping="hubspot-contacts")
    assert str(refused.value) == REFUSED
    assert workspace.imports() == []
    assert workspace.status()["tables"]["leads"] == 0


def test_lenient_imports_it_and_names_what_was_missing(workspace: Workspace, deals: Path) -> None:
    (result,) = workspace.import_files("leads", [deals], mapping=lenient("hubspot-contacts"))
    assert (result.added, result.missing_columns) == (4, NOT_IN_DEALS.split(", "))
    assert result.notes() == [
        f"hubspot-deals.csv lacks columns the mapping expects, imported without them: {NOT_IN_DEALS}"
    ]


def test_a_file_missing_a_few_columns_is_accepted_and_told(workspace: Workspace, tmp_path: Path) -> None:
    # Salesforce's custom lead report: 4 of the 10 columns of the preset missing (no more than half).
    path = write(
        tmp_path / "report.csv",
        "Lead ID,First Name,Company,Email,Lead Source,Created Date,Lead Owner\n"
        "00Q1,Ann,Acme,ann@acme.test,Web,2024-02-05T09:41:00Z,Bo\n",
    )
    (result,) = workspace.import_files("leads", [path], mapping="salesforce-leads")
    assert result.missing_columns == ["Country", "Industry", "NumberOfEmployees", "ConvertedAccountId"]
    assert result.notes() == [
        "report.csv lacks columns the mapping expects, imported without them: "
        "Country, Industry, NumberOfEmployees, ConvertedAccountId"
    ]


@pytest.mark.parametrize("path", [p for name in PRESETS for p in fixtures(name)], ids=lambda p: p.name)
def test_every_real_export_passes_its_own_preset(path: Path) -> None:
    mapping = load_mapping(path.name.split(".")[0])
    missing = check_file(mapping, header(path), path)
    assert 2 * len(missing) <= len(expected_columns(mapping))


def test_expected_columns_count_alternatives_once() -> None:
    assert expected_columns(load_mapping("salesforce-lead-history")) == [
        ("LeadId",),
        ("CreatedDate",),
        ("NewValue",),
        ("Field",),
    ]
    # "Deal Stage" gives both stage and status: expected once.
    assert len(expected_columns(load_mapping("hubspot-deals"))) == 8


def test_names_match_as_the_importer_matches_them() -> None:
    mapping = load_mapping("salesforce-lead-history")
    assert missing_columns(mapping, ["leadid", "CREATEDDATE", "newvalue"]) == ["Field"]


def test_no_suggestion_when_no_preset_fits(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as refused:
        check_file(load_mapping("salesforce-opportunities"), ["when", "what"], tmp_path / "x.csv")
    assert str(refused.value) == (
        "x.csv does not look like a file for mapping 'salesforce-opportunities': 7 of the 7 columns it expects are "
        "missing (Id, CreatedDate, StageName, Amount, CloseDate, OwnerId, AccountId); or pass --lenient to import "
        "it anyway"
    )
    assert suggest_preset(["when", "what"]) is None


def test_a_mapping_can_list_what_it_expects(workspace: Workspace, tmp_path: Path) -> None:
    mapping = write(
        tmp_path / "mine.toml",
        'table = "leads"\nlenient = true\nexpect = ["Id", ["Created", "Created At"], "Source"]\n'
        '[columns]\nlead_id = "Id"\ncreated_at = ["Created", "Created At"]\n',
    )
    path = write(tmp_path / "other.csv", "Id,Created At,Region\nL1,2026-01-02,emea\n")
    with pytest.raises(MappingError) as refused:
        workspace.import_files("leads", [write(tmp_path / "bare.csv", "Id,When\nL1,2026-01-02\n")], mapping=mapping)
    assert str(refused.value) == (
        "bare.csv does not look like a file for mapping 'mine': 2 of the 3 columns it expects are missing "
        "(Created, Source); or pass --lenient to import it anyway"
    )
    (result,) = workspace.import_files("leads", [path], mapping=mapping)
    assert (result.added, result.missing_columns) == (1, ["Source"])


# --- the same file again ----------------------------------------------------------------------------------------
BOTH = "lead_id,created_at,touch_id,occurred_at,channel\nL1,2026-01-02,T1,2026-01-03,email\n"


def test_the_same_file_into_another_table_is_warned_about(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "both.csv", BOTH)
    (first,) = workspace.import_files("leads", [path])
    (second,) = workspace.import_files("touches", [path])
    when = f"{workspace.imports()[-1]['finished_at']:%Y-%m-%d %H:%M} UTC"
    assert [(e.import_id, e.tables) for e in second.earlier] == [(1, ("leads",))]
    assert second.notes() == [
        f"warning: the same file (sha256 {first.sha256[:12]}) was imported into leads as import 1 on {when}; "
        "if that was a mistake, undo it with `tandem imports undo 1`"
    ]
    (third,) = workspace.import_files("leads", [path])
    assert (third.added, third.updated, third.unchanged) == (0, 0, 1)
    touches = f"{workspace.imports()[1]['finished_at']:%Y-%m-%d %H:%M} UTC"
    assert third.notes() == [
        f"already imported as import 1 on {when}: nothing changed",
        f"warning: the same file (sha256 {first.sha256[:12]}) was imported into touches as import 2 on {touches}; "
        "if that was a mistake, undo it with `tandem imports undo 2`",
    ]


# --- the command line -------------------------------------------------------------------------------------------
def test_the_command_line_refuses_then_takes_it_with_lenient(tmp_path: Path, deals: Path) -> None:
    ws = tmp_path / "ws"
    assert run("init", ws).returncode == 0
    refused = run("import", "leads", deals, "--mapping", "hubspot-contacts", "-w", ws)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.replace("\n", "") == f"error: {REFUSED}"
    taken = run("import", "leads", deals, "--mapping", "hubspot-contacts", "--lenient", "-w", ws)
    assert taken.returncode == 0, taken.stderr
    assert f"  hubspot-deals.csv lacks columns the mapping expects, imported without them: {NOT_IN_DEALS}\n" in (
        taken.stdout
    )
    again = run("import", "opportunities", deals, "--mapping", "hubspot-deals", "-w", ws)
    assert again.returncode == 0, again.stderr
    assert "  warning: the same file (sha256 " in again.stderr
    assert "was imported into leads as import 1 on " in again.stderr


def test_mappings_show_says_what_a_preset_does() -> None:
    done = run("mappings", "show", "salesforce-lead-history")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "salesforce-lead-history: Salesforce LeadHistory export -> stage_events from Status changes, mapped for "
        "Salesforce's sample lead statuses. Other status names: copy the preset and edit its stage map.",
        "table: stage_events",
        "time zone: UTC",
        "expected columns (4; a file missing more than 2 is refused unless --lenient; alternatives separated by |):",
        "  LeadId",
        "  CreatedDate",
        "  NewValue",
        "  Field",
        "how each column is read:",
        "  lead_id: from 'LeadId'",
        "  occurred_at: from 'CreatedDate'",
        "  source: always 'salesforce'",
        "  stage: from 'NewValue'; values 'Open - Not Contacted' -> 'lead', 'Working - Contacted' -> 'mql', "
        "'Marketing Qualified' -> 'mql', 'Sales Qualified' -> 'sql', 'Closed - Converted' -> 'opportunity'",
        "  rows: only where 'Field' is Status, leadStatus",
        "  other columns: ignored (keep_unmapped = false)",
        "to make it your own: tandem mappings show salesforce-lead-history --toml > my-salesforce-lead-history.toml, "
        "edit it, then tandem import stage_events FILE --mapping my-salesforce-lead-history.toml",
    ]


def test_mappings_show_toml_prints_the_preset_to_copy(tmp_path: Path) -> None:
    done = run("mappings", "show", "hubspot-deals", "--toml")
    preset = resources.files("tandem.warehouse.presets").joinpath("hubspot-deals.toml").read_text(encoding="utf-8")
    assert (done.returncode, done.stdout) == (0, preset)
    copy = write(tmp_path / "my-deals.toml", done.stdout)
    assert load_mapping(copy).columns == load_mapping("hubspot-deals").columns


def test_mappings_show_of_an_unknown_preset_lists_them() -> None:
    done = run("mappings", "show", "hubspot-tickets")
    assert done.returncode == 1
    assert done.stderr.startswith("error: no mapping preset or file called 'hubspot-tickets'; presets: ")
