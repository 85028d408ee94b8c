"""The audit log's hash chain, on SQLite and on PostgreSQL: tampering is found, concurrent writers do not fork it.

Tampering is done the way someone with database access would: SQL on the ``audit_log`` table.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tandem.accounts import AccountError
from tandem.audit import GENESIS, record
from tandem.store.models import AuditEntry, User
from tandem.workspace import Workspace


def fill(workspace: Workspace, entries: int = 5) -> None:
    for i in range(1, entries + 1):
        workspace.record("maria", "test.change", f"target-{i}", {"i": i})


def tamper(workspace: Workspace, *statements: Any) -> None:
    def change(s: Session) -> None:
        for statement in statements:
            s.execute(statement)

    workspace.store.write(change)


def problems(workspace: Workspace, expect_head: str | None = None) -> list[tuple[int, str]]:
    return [(p.seq, p.message) for p in workspace.verify_audit(expect_head).problems]


def entry(seq: int) -> Any:
    return update(AuditEntry).where(AuditEntry.seq == seq)


def test_an_untouched_chain_verifies_and_names_its_head(workspace: Workspace) -> None:
    fill(workspace)
    result = workspace.verify_audit()
    assert result.ok
    assert result.entries == 5
    assert result.head_hash == workspace.audit_log(1)[0]["hash"]


def test_an_empty_log_verifies_with_the_genesis_head(workspace: Workspace) -> None:
    result = workspace.verify_audit()
    assert (result.ok, result.entries, result.head_hash) == (True, 0, GENESIS)


def test_entries_link_each_to_the_one_before(workspace: Workspace) -> None:
    fill(workspace, 3)
    with workspace.store.session() as s:
        chain = s.execute(select(AuditEntry.seq, AuditEntry.prev_hash, AuditEntry.hash).order_by(AuditEntry.seq)).all()
    assert [seq for seq, _, _ in chain] == [1, 2, 3]
    assert chain[0].prev_hash == GENESIS
    assert chain[1].prev_hash == chain[0].hash
    assert chain[2].prev_hash == chain[1].hash


def test_details_of_every_kind_verify_as_stored(workspace: Workspace) -> None:
    details = {"name": "Zoë 🎯", "amount": 1234.5, "day": date(2026, 3, 1), "nested": {"b": [1, None], "a": True}}
    workspace.record("maria", "test.change", "ünïcode target", details)
    workspace.record("maria", "test.nothing")
    assert workspace.verify_audit().ok
    newest, first = workspace.audit_log(2)
    assert first["details"]["day"] == "2026-03-01", "stored as JSON: what is hashed is what is read back"
    assert newest["details"] == {}


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("details", {"i": 99}),
        ("actor", "someone-else"),
        ("at", datetime(2020, 1, 1, 12, 0)),
        ("action", "test.other"),
        ("target", "target-99"),
    ],
)
def test_editing_an_entry_is_found_at_that_entry(workspace: Workspace, column: str, value: Any) -> None:
    fill(workspace)
    tamper(workspace, entry(3).values({column: value}))
    assert problems(workspace) == [(3, "its content does not match its hash (edited?)")]


def test_moving_an_entry_in_time_by_a_microsecond_is_found(workspace: Workspace) -> None:
    fill(workspace)
    (second,) = [e for e in workspace.audit_log() if e["seq"] == 2]
    tamper(workspace, entry(2).values(at=second["at"] + timedelta(microseconds=1)))
    assert problems(workspace) == [(2, "its content does not match its hash (edited?)")]


def test_editing_an_entry_and_rehashing_it_is_found_at_the_next_one(workspace: Workspace) -> None:
    from tandem.audit import entry_hash

    fill(workspace)
    with workspace.store.session() as s:
        third = s.get(AuditEntry, 3)
        assert third is not None
        forged = entry_hash(
            seq=3,
            at=third.at,
            actor="someone-else",
            action=third.action,
            target=third.target,
            details=third.details,
            prev_hash=third.prev_hash,
        )
    tamper(workspace, entry(3).values(actor="someone-else", hash=forged))
    assert problems(workspace) == [(4, "does not link to the entry before it")]


def test_deleting_a_middle_entry_is_found_where_the_gap_is(workspace: Workspace) -> None:
    fill(workspace)
    tamper(workspace, delete(AuditEntry).where(AuditEntry.seq == 3))
    assert problems(workspace) == [
        (4, "entries 3..3 are missing (deleted?)"),
        (4, "does not link to the entry before it"),
    ]


def test_swapping_two_entries_is_found_from_the_first_of_them(workspace: Workspace) -> None:
    fill(workspace)
    tamper(workspace, entry(2).values(seq=1000), entry(3).values(seq=2), entry(1000).values(seq=3))
    assert problems(workspace) == [
        (2, "does not link to the entry before it"),
        (2, "its content does not match its hash (edited?)"),
        (3, "does not link to the entry before it"),
        (3, "its content does not match its hash (edited?)"),
        (4, "does not link to the entry before it"),
    ]


def test_deleting_the_newest_entry_is_found_only_against_the_head_kept_elsewhere(workspace: Workspace) -> None:
    fill(workspace)
    kept_head = workspace.verify_audit().head_hash
    tamper(workspace, delete(AuditEntry).where(AuditEntry.seq == 5))
    shorter = workspace.verify_audit()
    assert shorter.ok, "a shorter chain is still a valid chain"
    assert shorter.entries == 4
    (problem,) = problems(workspace, expect_head=kept_head)
    assert problem[0] == 4
    assert f"not at the expected head {kept_head[:12]}" in problem[1]


def test_the_head_kept_elsewhere_matches_while_nothing_was_deleted(workspace: Workspace) -> None:
    fill(workspace)
    kept_head = workspace.verify_audit().head_hash
    assert workspace.verify_audit(expect_head=kept_head).ok
    workspace.record("maria", "test.change", "later")
    assert not workspace.verify_audit(expect_head=kept_head).ok, "a newer head is a different head"


def test_eight_writers_at_once_extend_one_chain_without_gaps(workspace: Workspace) -> None:
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                workspace.record(f"writer-{n}", "test.concurrent", f"{n}-{i}")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    entries = workspace.audit_log(1000)
    assert sorted(e["seq"] for e in entries) == list(range(1, 81))
    assert sorted(e["target"] for e in entries) == sorted(f"{n}-{i}" for n in range(8) for i in range(10))
    result = workspace.verify_audit()
    assert (result.ok, result.entries) == (True, 80)


def test_a_write_that_finds_its_seq_taken_runs_again_on_the_new_head(workspace: Workspace) -> None:
    fill(workspace, 2)
    attempts: list[int] = []

    def change(s: Session) -> None:
        attempts.append(1)
        if len(attempts) == 1:  # as if another writer had appended seq 2 between our read and our insert
            record(s, "other", "test.race", "lost")
            s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(seq=2))
        record(s, "maria", "test.change", "retried")

    workspace.store.write(change)
    assert len(attempts) == 2
    assert [(e["seq"], e["target"]) for e in workspace.audit_log(1)] == [(3, "retried")]
    assert workspace.verify_audit().ok


def test_a_change_and_its_audit_entry_commit_together_or_not_at_all(workspace: Workspace) -> None:
    fill(workspace, 1)

    def change(s: Session) -> None:
        s.add(User(username="ghost", role="viewer", password_hash="x", created_at=datetime(2026, 1, 1)))
        record(s, "maria", "user.create", "ghost")
        raise AccountError("refused after both were written in the transaction")

    with pytest.raises(AccountError, match="refused after both"):
        workspace.store.write(change)
    with workspace.store.session() as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 1
    assert workspace.verify_audit().ok
