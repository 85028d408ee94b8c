"""The history table: migration 0006 adds and removes it; the database itself refuses a second row per alert."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

import tandem
from tandem.store.models import AlertDelivery
from tandem.workspace import Workspace


def row(destination: str = "revops") -> AlertDelivery:
    moment = datetime(2026, 11, 26, 15, 30)
    return AlertDelivery(
        rule="goal-at-risk",
        signal_key="goal_chance::2026Q4",
        destination=destination,
        kind="goal_chance",
        subject="",
        period="2026Q4",
        channel="webhook",
        target="https://hooks.example.com/...",
        status="sending",
        attempts=0,
        last_error="",
        payload={"text": "..."},
        fired_at=moment,
        claimed_at=moment,
    )


def test_one_row_per_rule_signal_and_destination(workspace: Workspace) -> None:
    with workspace.store.session() as s, s.begin():
        s.add_all([row("revops"), row("leaders")])
    with pytest.raises(IntegrityError), workspace.store.session() as s, s.begin():
        s.add(row("revops"))


def test_migration_0006_adds_the_history_and_takes_it_away(tmp_path: Path) -> None:
    tandem.init_workspace(tmp_path / "ws").close()
    with tandem.open_workspace(tmp_path / "ws", check_schema=False, needs_warehouse=False) as ws:
        assert "alert_deliveries" in inspect(ws.store.engine).get_table_names()
        command.downgrade(ws.store._alembic_config(), "0005")
        assert "alert_deliveries" not in inspect(ws.store.engine).get_table_names()
        command.upgrade(ws.store._alembic_config(), "0006")
        assert ws.store.revision() == "0006"
        assert "alert_deliveries" in inspect(ws.store.engine).get_table_names()
