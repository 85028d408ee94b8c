"""The warehouse lease: many readers or one writer, a fair queue, a bounded wait that names who holds it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tandem.errors import WorkspaceError
from tandem.warehouse.lease import FileLease, announce_waiting


def lease(tmp_path: Path) -> FileLease:
    return FileLease(tmp_path / "warehouse.duckdb")


def test_readers_share_the_lease_and_a_writer_waits_for_them(tmp_path: Path) -> None:
    first, second, writer = lease(tmp_path), lease(tmp_path), lease(tmp_path)
    first.acquire("read", 1)
    second.acquire("read", 1)  # at once: readers share
    with pytest.raises(WorkspaceError, match=r"still busy after 0.2 s: other tandem processes hold it"):
        writer.acquire("write", 0.2)
    first.release()
    second.release()
    writer.acquire("write", 1)
    assert writer.mode == "write"
    writer.release()


def test_a_reader_waiting_for_a_writer_is_told_who_writes(tmp_path: Path) -> None:
    writer, reader = lease(tmp_path), lease(tmp_path)
    writer.acquire("write", 1)
    told: list[str] = []
    announce_waiting(told.append)
    try:
        with pytest.raises(WorkspaceError) as refused:
            reader.acquire("read", 0.5)
    finally:
        announce_waiting(None)
    message = str(refused.value)
    assert message.startswith(f"the warehouse {tmp_path / 'warehouse.duckdb'} is still busy after 0.5 s: `")
    assert "(process " in message
    assert ", writing since " in message
    assert message.endswith("try again when it has finished, or raise the warehouse_wait_seconds setting")
    assert len(told) == 1
    assert told[0].startswith("waiting for `")
    assert told[0].endswith("to finish with the warehouse...")
    writer.release()
    reader.acquire("read", 1)  # the writer's description went with its lease
    assert reader._holder() is None
    reader.release()


def test_readers_arriving_after_a_waiting_writer_queue_behind_it(tmp_path: Path) -> None:
    """A busy dashboard cannot starve an import: the writer goes before readers that came after it."""
    early = lease(tmp_path)
    early.acquire("read", 1)
    order: list[str] = []

    def write() -> None:
        writer = lease(tmp_path)
        writer.acquire("write", 10)
        order.append("writer")
        time.sleep(0.2)
        writer.release()

    def read() -> None:
        late = lease(tmp_path)
        late.acquire("read", 10)
        order.append("late reader")
        late.release()

    writing = threading.Thread(target=write)
    writing.start()
    time.sleep(0.3)  # the writer now holds the turnstile, waiting for the early reader
    reading = threading.Thread(target=read)
    reading.start()
    time.sleep(0.3)
    assert order == []  # the late reader did not slip in ahead of the writer
    early.release()
    writing.join(5)
    reading.join(5)
    assert order == ["writer", "late reader"]
