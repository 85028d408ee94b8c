"""What the web app keeps between requests: the open workspace, the warehouse's lease, and the result cache.

The server shares the warehouse with the command line, imports and cron (`tandem.warehouse.lease`): it computes one
document at a time under a read lease (`using_warehouse`). On PostgreSQL it gives the lease back after each
computation; on DuckDB it keeps the lease, and the open file with its warm caches, between computations, and gives
it back within `GIVE_WAY_SECONDS` of another process waiting to write. Either way an import from the command line
waits at most for the computation in progress. An import through the web app takes the write lease the same way.

Results are cached by (data version, definition version, question). The data version of a question is the newest
import into each table it reads (an import that created missing leads counts as an import into ``leads``), so an
import invalidates exactly the results it touches: new spend leaves the funnel cached, new stage events do not.
A definition change invalidates everything through the definition version. A question asked "as of now" is
answered as of the moment it is computed and kept for the rest of that clock hour at most (ages and still-open
counts move with time, the data does not), so the page says when its figures were computed.

The versions themselves are re-read at most once a second, by one thread while the others use the previous answer,
and on DuckDB only when the database file changed: an import made by another process (the command line, cron)
shows within a second or two; one made through this server shows at once (`data_changed`). Pages already computed
are served from the cache while an import runs: once versions are known, re-reading them never waits for the
warehouse (an import that holds it has not committed yet, so the versions known are still the data's).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import ibis

from tandem.questions import Question, ask
from tandem.server.uploads import clean_stale
from tandem.warehouse.backends import IMPORT_LOG
from tandem.warehouse.schema import TABLES
from tandem.workspace import Workspace, open_workspace

__all__ = ["ResultCache", "ServerState"]

T = TypeVar("T")
#: How long a read of the data version is trusted before the warehouse is asked again.
DATA_VERSION_SECONDS = 1.0
#: How often a server keeping its DuckDB read lease between requests looks for a process waiting to write.
GIVE_WAY_SECONDS = 0.05
ALL_TABLES: tuple[str, ...] = tuple(TABLES)


class ResultCache:
    """A bounded, thread-safe LRU of computed documents keyed by (data version, definition version, question)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> tuple[bool, Any]:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return True, self._items[key]
            self.misses += 1
            return False, None

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def newest_imports(workspace: Workspace) -> dict[str, int]:
    """The newest import into each table, from the import log, in one query (a Spark warehouse has no log)."""
    warehouse = workspace.warehouse
    if warehouse.backend_name == "pyspark":
        return {}
    log = warehouse.table(IMPORT_LOG)
    created = log.filter(log.created_leads > 0).select(table_name=ibis.literal("leads"), import_id=log.import_id)
    both = ibis.union(log.select("table_name", "import_id"), created, distinct=False)
    rows = both.group_by("table_name").aggregate(newest=both.import_id.max()).to_pyarrow().to_pylist()
    return {row["table_name"]: int(row["newest"]) for row in rows}


class ServerState:
    """The workspace a server process serves, opened once, and the lock every use of its warehouse takes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.workspace: Workspace = open_workspace(path)
        clean_stale(self.workspace.path)  # uploads a killed server left behind
        #: Held by the one thread using the warehouse; its outermost holder gives the lease back on leaving.
        self.warehouse_lock = threading.RLock()
        self._warehouse_depth = 0
        self.workspace.warehouse.release()  # opening checked the layout under a read lease: give it back
        self.workspace.record_missing_imports(wait=False)  # imports a killed process left out of the audit log
        self.workspace.warehouse.on_acquire = self._check_holder
        # On DuckDB the read lease (and its open connection, with its warm caches) is kept between computations
        # and given back as soon as another process waits to write (`_give_way`); reopening the file for every
        # page cost 50 ms and a cold cache. Elsewhere the lease is given back after each computation.
        self._keeps_lease = self.workspace.warehouse.location.kind == "duckdb"
        self._closed = threading.Event()
        if self._keeps_lease:
            threading.Thread(
                target=_give_way_while_alive, args=(weakref.ref(self), self._closed), daemon=True, name="give-way"
            ).start()
        self.cache = ResultCache(int(self.workspace.settings["cache_entries"]))
        self._data_versions: tuple[float, dict[str, int]] = (0.0, {})
        self._data_fingerprint: object = None
        self._compute_locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._compute_locks_guard = threading.Lock()
        self._refreshing = threading.Lock()
        self._definition_version: tuple[float, int] = (0.0, 0)

    @contextlib.contextmanager
    def using_warehouse(self) -> Iterator[Workspace]:
        """Use the warehouse: one thread at a time, and the lease (taken on first use) given back on leaving, so
        other processes (an import, the command line) are never kept waiting between two requests."""
        with self.warehouse_lock:
            self._warehouse_depth += 1
            try:
                yield self.workspace
            finally:
                self._leave_warehouse()

    def _leave_warehouse(self) -> None:
        """The end of one use (under `warehouse_lock`): the outermost gives the lease back, unless it is kept."""
        self._warehouse_depth -= 1
        if self._warehouse_depth == 0 and not self._keeps_lease:
            self.workspace.warehouse.release()

    def _release_if_unused(self) -> None:
        """Give the lease back now if no thread is using the warehouse (without waiting for one that is)."""
        if self.warehouse_lock.acquire(blocking=False):
            try:
                if self._warehouse_depth == 0:
                    self.workspace.warehouse.release()
            finally:
                self.warehouse_lock.release()

    def _give_way(self) -> None:
        """Give the kept read lease back if another process waits to write and no computation is running."""
        warehouse = self.workspace.warehouse
        if warehouse.lease_mode == "read" and warehouse.writer_waiting():
            self._release_if_unused()

    @contextlib.contextmanager
    def _warehouse_if_free(self) -> Iterator[bool]:
        """Like `using_warehouse`, but without waiting: False when another thread computes or imports, or another
        process writes."""
        if not self.warehouse_lock.acquire(blocking=False):
            yield False
            return
        self._warehouse_depth += 1
        try:
            yield self.workspace.warehouse.try_acquire("read")
        finally:
            self._leave_warehouse()
            self.warehouse_lock.release()

    def _check_holder(self, _mode: str) -> None:
        """Refuse a lease taken outside `using_warehouse` while another thread computes: giving it back would close
        the connection under that thread's feet. (Outside any computation, as a notebook or a test does with
        `state.workspace`, it is allowed; the next request gives it back.)"""
        if getattr(self.warehouse_lock, "_is_owned")():  # noqa: B009 - RLock's own check, not exported
            return
        if not self.warehouse_lock.acquire(blocking=False):
            raise RuntimeError("the warehouse was used outside ServerState.using_warehouse() during a computation")
        self.warehouse_lock.release()

    def release_if_idle(self) -> None:
        """Give the lease back if a request used the warehouse outside `using_warehouse` (nothing else holds it);
        a kept DuckDB read lease stays (`_give_way` gives it back when a writer waits)."""
        if not self._keeps_lease or self.workspace.warehouse.lease_mode == "write":
            self._release_if_unused()

    def data_versions(self) -> dict[str, int]:
        """Per canonical table, the newest import that changed it (0: none), re-read at most once a second."""
        read_at, versions = self._data_versions
        if time.monotonic() - read_at < DATA_VERSION_SECONDS:
            return versions
        # One thread re-reads; the others keep the previous answer (at most a second old) instead of queueing on
        # the warehouse lock behind whatever computation holds it. With no answer yet (or after data_changed) wait.
        if not self._refreshing.acquire(blocking=read_at == 0.0):
            return versions
        try:
            read_at, versions = self._data_versions
            if time.monotonic() - read_at < DATA_VERSION_SECONDS:
                return versions
            fingerprint = self.workspace.warehouse.fingerprint()
            if read_at and fingerprint is not None and fingerprint == self._data_fingerprint:
                self._data_versions = (time.monotonic(), versions)  # the file is as it was: nothing was imported
                return versions
            if read_at:  # versions known: never wait for new ones (an import holding the warehouse has not committed)
                with self._warehouse_if_free() as free:
                    if not free:
                        return versions  # ask again on the next request
                    newest = newest_imports(self.workspace)
            else:
                with self.using_warehouse():
                    newest = newest_imports(self.workspace)
            versions = dict.fromkeys(TABLES, 0) | newest
            self._data_fingerprint = fingerprint
            self._data_versions = (time.monotonic(), versions)
            return versions
        finally:
            self._refreshing.release()

    def data_version(self, tables: Sequence[str] = ALL_TABLES) -> tuple[int, ...]:
        versions = self.data_versions()
        return tuple(versions.get(table, 0) for table in tables)

    def data_changed(self) -> None:
        """Called after this process imported: forget the remembered data versions at once."""
        self._data_versions = (0.0, {})

    def definitions_changed(self) -> None:
        """Called after this process changed the definitions: forget the remembered version at once."""
        self._definition_version = (0.0, 0)

    def definition_version(self) -> int:
        """The current definition version, re-read from the application database at most once a second."""
        read_at, version = self._definition_version
        if time.monotonic() - read_at < DATA_VERSION_SECONDS:
            return version
        version = self.workspace.definition_version
        self._definition_version = (time.monotonic(), version)
        return version

    def cached(
        self,
        kind: str,
        question: Any,
        compute: Callable[[], T],
        tables: Sequence[str] = ALL_TABLES,
        check: Callable[[], None] | None = None,
    ) -> T:
        """The document for `question`, computed once per version of the `tables` it reads and of the definitions.

        Concurrent requests for the same uncomputed question wait for one computation rather than all running it.
        """
        key = (
            int(time.time() // 3600),
            self.data_version(tables),
            self.definition_version(),
            kind,
            json.dumps(question, sort_keys=True, default=str),
        )
        found, value = self.cache.get(key)
        if found:
            return value  # type: ignore[no-any-return]
        with self._compute_locks_guard:
            gate = self._compute_locks.setdefault(key, threading.Lock())
        try:
            with gate:
                found, value = self.cache.get(key)
                if not found:
                    with self.using_warehouse():
                        if check is not None:  # only on a miss: a cached question was checked when computed
                            check()
                        value = compute()
                    self.cache.put(key, value)
        finally:  # also when the computation failed: a bad question leaves nothing behind
            with self._compute_locks_guard:
                self._compute_locks.pop(key, None)
        return value  # type: ignore[no-any-return]

    def answer(self, question: Question) -> dict[str, Any]:
        """The question's document (`tandem.questions.ask`), through the cache: keyed by the versions of the tables
        and the application state the question declares it reads."""
        tables = [name for name in question.reads if name in TABLES]
        key = [
            question.key(),
            *(self.state_key(name) for name in question.reads if name in ("goals", "plans", "proposals")),
        ]
        return self.cached(question.kind, key, lambda: ask(self.workspace, question), tables=tables)

    def state_key(self, name: str) -> Any:
        """The application state `name` as stored (cheap reads): part of a key wherever a document reads it."""
        ws = self.workspace
        if name == "goals":
            return [
                [g.period.label, g.dimension, g.value, str(g.amount), g.marketing_share, g.note, g.updated_at]
                for g in ws.goals.all()
            ]
        if name == "plans":
            return [[plan_id, version, str(decided_at)] for plan_id, version, decided_at in ws.plans.accepted()]
        if name == "proposals":  # a version approved to count from a later day leaves the version in force as it was
            deciders = sorted((u.username, str(u.role), u.is_leader, u.disabled) for u in ws.accounts.users())
            return [ws.definitions.fingerprint(), deciders]
        raise KeyError(name)

    def close(self) -> None:
        self._closed.set()
        with self.warehouse_lock:
            self.workspace.close()


def _give_way_while_alive(state: weakref.ref[ServerState], closed: threading.Event) -> None:
    """The thread behind a kept lease: until the server closes (or is dropped), give way to waiting writers."""
    while not closed.wait(GIVE_WAY_SECONDS):
        alive = state()
        if alive is None:
            return
        with contextlib.suppress(Exception):  # a workspace closed under it: the next round ends the thread
            alive._give_way()
        del alive
