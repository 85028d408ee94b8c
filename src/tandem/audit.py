"""The audit log: every change appended with who, when and what, in a hash chain.

Each entry's hash covers its own fields and the previous entry's hash, so editing an entry, deleting one from the
middle, or reordering them breaks the chain, and `verify` names the first entry where it breaks. Deleting the
newest entries leaves a shorter valid chain: to catch that, keep the head hash `verify` prints somewhere else
(a ticket, a wiki page) and pass it back with ``--expect-head``.

Entries are written inside the transaction of the change they record, so a change and its entry commit together
or not at all. The one exception is an import: it commits in the warehouse, a different database, and its entry
follows in the application database while the import still holds the warehouse. A process killed between the two
leaves an import the log does not hold; the next import, undo or server start records it late
(`record_missing_imports`), and `verify` reports any such import until then (`missing_imports`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tandem.store.models import AuditEntry

__all__ = [
    "GENESIS",
    "IMPORT_ACTIONS",
    "AuditProblem",
    "AuditVerification",
    "audited_imports",
    "entry_hash",
    "import_entries",
    "missing_imports",
    "record",
    "record_missing_imports",
    "verify_chain",
]

#: The previous hash of the first entry.
GENESIS = "0" * 64
#: PostgreSQL advisory lock held by a transaction appending to the log ("tandem" in ASCII), released at its end.
_APPEND_LOCK = 0x74616E64656D


def _canonical(value: Any) -> Any:
    """JSON-safe, deterministic details: what is hashed is exactly what the database gives back."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def entry_hash(*, seq: int, at: datetime, actor: str, action: str, target: str, details: Any, prev_hash: str) -> str:
    body = json.dumps(
        {
            "seq": seq,
            "at": at.isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "target": target,
            "details": details,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record(session: Session, actor: str, action: str, target: str = "", details: Any = None) -> AuditEntry:
    """Append an entry inside the caller's transaction (see `tandem.store.AppStore.write` for the retry).

    On PostgreSQL appenders queue on an advisory lock before reading the head, so concurrent changes extend the
    chain one after the other instead of colliding on ``seq`` (SQLite's writers queue on its write lock).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_APPEND_LOCK)))
    last = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = datetime.now(UTC).replace(tzinfo=None)
    clean = _canonical(details if details is not None else {})
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=clean,
        prev_hash=prev_hash,
        hash=entry_hash(seq=seq, at=at, actor=actor, action=action, target=target, details=clean, prev_hash=prev_hash),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditProblem:
    """One problem `verify` found: at audit entry `seq`, or in the import log when `seq` is 0."""

    seq: int
    message: str


@dataclass
class AuditVerification:
    entries: int
    head_hash: str
    problems: list[AuditProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    entries: Iterator[AuditEntry] | Sequence[AuditEntry], expect_head: str | None = None
) -> AuditVerification:
    """Walk the chain in order and report every break: an edited entry, a missing one, a broken link."""
    problems: list[AuditProblem] = []
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            problems.append(AuditProblem(entry.seq, f"entries {expected_seq}..{entry.seq - 1} are missing (deleted?)"))
        if entry.prev_hash != prev_hash:
            problems.append(AuditProblem(entry.seq, "does not link to the entry before it"))
        recomputed = entry_hash(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            details=entry.details,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.hash:
            problems.append(AuditProblem(entry.seq, "its content does not match its hash (edited?)"))
        prev_hash, expected_seq = entry.hash, entry.seq + 1
    if expect_head is not None and prev_hash != expect_head:
        problems.append(
            AuditProblem(
                expected_seq - 1,
                f"the chain ends at {prev_hash[:12]}, not at the expected head {expect_head[:12]} "
                "(newest entries deleted, or a different log)",
            )
        )
    return AuditVerification(entries=count, head_hash=prev_hash, problems=problems)


# ---------------------------------------------------------------------------------------------------------------
# Imports: the warehouse's import log against the audit log
# ---------------------------------------------------------------------------------------------------------------
#: The actions that record a warehouse import, and the detail naming the import number each records.
IMPORT_ACTIONS: dict[str, str] = {"data.import": "import_id", "data.undo": "undo_id"}


def import_entries(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """The (action, target, details) entries the import log's rows of one import number are recorded under: what
    the import wrote at the time (one per table for an import, one for an undo)."""
    first = rows[0]
    if first.get("undo_of") is not None:
        tables = ", ".join(str(row["table_name"]) for row in rows)
        details = {
            "import_id": int(first["undo_of"]),
            "undo_id": int(first["import_id"]),
            "file": first["file_name"],
            "sha256": first["sha256"],
            "removed": {str(row["table_name"]): int(row.get("removed") or 0) for row in rows},
            "restored": {str(row["table_name"]): int(row.get("updated") or 0) for row in rows},
        }
        return [("data.undo", tables, details)]
    return [
        (
            "data.import",
            str(row["table_name"]),
            {
                "import_id": int(row["import_id"]),
                "file": row["file_name"],
                "sha256": row["sha256"],
                **{key: row.get(key) for key in ("added", "updated", "unchanged", "rejected")},
            },
        )
        for row in rows
    ]


def audited_imports(session: Session) -> set[int]:
    """The import numbers the audit log holds an entry for (an undo is logged under its own number)."""
    found: set[int] = set()
    rows = session.execute(
        select(AuditEntry.action, AuditEntry.details).where(AuditEntry.action.in_(list(IMPORT_ACTIONS)))
    )
    for action, details in rows:
        number = details.get(IMPORT_ACTIONS[action]) if isinstance(details, dict) else None
        if isinstance(number, int):
            found.add(number)
    return found


def missing_imports(session: Session, log: Sequence[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The imports of the import log that committed without an audit entry: their rows by number, oldest first."""
    audited = audited_imports(session)
    missing: dict[int, list[dict[str, Any]]] = {}
    for row in sorted(log, key=lambda row: (int(row["import_id"]), str(row["table_name"]))):
        if int(row["import_id"]) not in audited:
            missing.setdefault(int(row["import_id"]), []).append(row)
    return missing


def record_missing_imports(session: Session, log: Sequence[dict[str, Any]]) -> list[int]:
    """Record, late, every import of `log` the audit log misses; returns their numbers.

    Each entry is the one the import would have written, under its own actor, marked ``recorded_late`` with the
    moment the import committed. Run under the warehouse's write lease, so no import in progress is recorded twice.
    """
    if session.get_bind().dialect.name == "postgresql":  # the same queue as `record`, before reading what is there
        session.execute(select(func.pg_advisory_xact_lock(_APPEND_LOCK)))
    missing = missing_imports(session, log)
    for rows in missing.values():
        finished = rows[0].get("finished_at")
        late = {"recorded_late": True, "committed_at": finished.isoformat() if finished else None}
        for action, target, details in import_entries(rows):
            record(session, str(rows[0].get("actor") or "unknown"), action, target, details | late)
    return list(missing)
