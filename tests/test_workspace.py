"""Workspaces: creation, opening, status and upgrade, on SQLite + DuckDB and on PostgreSQL."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import tandem
from tandem import ConfigError, Workspace, WorkspaceError

from .conftest import WorkspaceFactory, write


def test_init_creates_config_application_database_and_empty_warehouse(tmp_path: Path) -> None:
    with tandem.init_workspace(tmp_path / "acme") as ws:
        assert ws.stages == ["lead", "mql", "sql", "opportunity", "won"]
        assert ws.definition_version == 1
    config = tomllib.loads((tmp_path / "acme" / "tandem.toml").read_text())
    assert config["name"] == "acme"
    assert config["database_url"] == "sqlite:///tandem.db"
    assert config["warehouse_url"] == "duckdb:///warehouse.duckdb"
    assert (tmp_path / "acme" / "tandem.db").is_file()
    assert (tmp_path / "acme" / "warehouse.duckdb").is_file()


def test_custom_stages_are_definition_version_one(make_workspace: WorkspaceFactory) -> None:
    ws = make_workspace(stages=["inquiry", "mql", "sal", "sqo", "won"])
    assert ws.stages == ["inquiry", "mql", "sal", "sqo", "won"]
    assert ws.status()["definition_version"] == 1


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (["lead"], "at least two stages"),
        (["lead", "Sales Qualified"], "must be lower snake_case"),
        (["lead", "mql", "lead"], "appear more than once"),
    ],
)
def test_bad_stage_lists_are_refused_and_create_nothing(tmp_path: Path, stages: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tandem.init_workspace(tmp_path / "ws", stages=stages)
    assert not (tmp_path / "ws").exists()


def test_init_refuses_an_existing_workspace(tmp_path: Path) -> None:
    tandem.init_workspace(tmp_path / "ws").close()
    with pytest.raises(WorkspaceError, match="already a tandem workspace"):
        tandem.init_workspace(tmp_path / "ws")


def test_init_refuses_a_postgres_database_that_already_holds_a_workspace(
    postgres_database: str, tmp_path: Path
) -> None:
    tandem.init_workspace(tmp_path / "a", database=postgres_database, warehouse=postgres_database).close()
    with pytest.raises(WorkspaceError, match="already holds a tandem workspace"):
        tandem.init_workspace(tmp_path / "b", database=postgres_database, warehouse=postgres_database)
    assert not (tmp_path / "b").exists()


def test_opening_a_folder_that_is_not_a_workspace_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"not a tandem workspace .*`tandem init DIR`"):
        tandem.open_workspace(tmp_path)


def test_the_workspace_folder_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tandem.init_workspace(tmp_path / "ws").close()
    monkeypatch.setenv("TANDEM_WORKSPACE", str(tmp_path / "ws"))
    with tandem.open_workspace() as ws:
        assert ws.path == tmp_path / "ws"


def test_status_counts_rows_per_table_and_names_the_last_import(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "l.csv", "lead_id,created_at\nL1,2026-01-02\nL2,2026-01-03\n")])
    status = workspace.status()
    assert status["tables"] == {
        "leads": 2,
        "stage_events": 0,
        "opportunities": 0,
        "touches": 0,
        "campaigns": 0,
        "spend": 0,
        "activities": 0,
        "handoffs": 0,
        "accounts": 0,
    }
    assert status["definition_version"] == 1
    assert status["last_import"]["file_name"] == "l.csv"
    assert status["warehouse"]["backend"] in {"duckdb", "postgres"}


def test_postgres_workspace_keeps_its_data_in_postgres(postgres_database: str, tmp_path: Path) -> None:
    with tandem.init_workspace(tmp_path / "ws", database=postgres_database, warehouse=postgres_database) as ws:
        ws.import_files("leads", [write(tmp_path / "l.csv", "lead_id,created_at\nL1,2026-01-02\n")])
    assert sorted(p.name for p in (tmp_path / "ws").iterdir() if not p.name.startswith(".")) == ["tandem.toml"]
    with tandem.open_workspace(tmp_path / "ws") as ws:
        status = ws.status()
    assert status["database"]["backend"] == "postgresql"
    assert status["warehouse"]["backend"] == "postgres"
    assert status["tables"]["leads"] == 1


def test_an_outdated_application_database_asks_for_upgrade(tmp_path: Path) -> None:
    tandem.init_workspace(tmp_path / "ws").close()
    ws = tandem.open_workspace(tmp_path / "ws", check_schema=False)
    from alembic import command

    command.downgrade(ws.store._alembic_config(), "base")
    ws.close()
    with pytest.raises(WorkspaceError, match="run `tandem upgrade`"):
        tandem.open_workspace(tmp_path / "ws")
    with tandem.open_workspace(tmp_path / "ws", check_schema=False) as ws:
        assert ws.upgrade() == ["application database: empty -> 0007"]
    tandem.open_workspace(tmp_path / "ws").close()


def test_the_schema_every_open_expects_is_the_newest_migration(tmp_path: Path) -> None:
    # Opening a workspace checks its schema against HEAD_REVISION without loading Alembic; a new migration
    # must move HEAD_REVISION with it.
    from tandem.store.database import HEAD_REVISION

    with tandem.init_workspace(tmp_path / "ws") as ws:
        assert ws.store.migrations_head() == HEAD_REVISION
        assert ws.store.revision() == HEAD_REVISION


def test_unknown_settings_are_refused(tmp_path: Path) -> None:
    tandem.init_workspace(tmp_path / "ws").close()
    config = tmp_path / "ws" / "tandem.toml"
    config.write_text(config.read_text() + "import_errors_shwn = 10\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        tandem.open_workspace(tmp_path / "ws")


def test_the_public_api_is_flat_and_guarded() -> None:
    assert sorted(tandem.__all__) == sorted(
        [
            "DEFAULT_STAGES",
            "TABLES",
            "ConfigError",
            "ImportResult",
            "ImportValidationError",
            "Issue",
            "Mapping",
            "MappingError",
            "TandemError",
            "Workspace",
            "WorkspaceError",
            "__version__",
            "init_workspace",
            "list_presets",
            "load_mapping",
            "open",
            "open_workspace",
        ]
    )
    for name in tandem.__all__:
        assert hasattr(tandem, name)


def test_a_postgres_warehouse_can_live_in_its_own_schema(postgres_database: str, tmp_path: Path) -> None:
    warehouse = f"{postgres_database}?schema=revenue"
    with tandem.init_workspace(tmp_path / "ws", database=postgres_database, warehouse=warehouse) as ws:
        ws.import_files("leads", [write(tmp_path / "l.csv", "lead_id,created_at\nL1,2026-01-02\n")])
        assert ws.status()["warehouse"]["url"].endswith("?schema=revenue")
    import psycopg

    with psycopg.connect(postgres_database) as conn:
        (count,) = conn.execute("SELECT count(*) FROM revenue.leads").fetchone() or (0,)
    assert count == 1
