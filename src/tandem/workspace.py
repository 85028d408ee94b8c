"""Workspaces: a folder with a ``tandem.toml`` that says where the application database and the warehouse live.

    my-company/
      tandem.toml        name, database URL, warehouse URL, [settings]
      tandem.db          application state (SQLite by default)
      warehouse.duckdb   canonical tables (DuckDB by default)

With PostgreSQL URLs the folder holds only ``tandem.toml``; everything else lives in PostgreSQL.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import tomllib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only what every question needs is imported here. The engine's expressions (and Ibis with them) are imported by
# the functions that build a question's SQL, which run only when it is not compiled yet (tandem.engine.compiled);
# the other domains (accounts, audit, the application store and its migrations, governance and impact, goals, plans,
# alerts, imports) inside the methods that use them, so that a command loads only what it asks for
# (tests/test_cli_startup.py).
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tandem.definitions.counting import Counting, counting_in_force, counting_under
from tandem.definitions.model import Definitions
from tandem.engine.result import Result
from tandem.engine.spec import FunnelSpec, as_of_or_now, to_timestamp
from tandem.errors import ConfigError, WorkspaceError
from tandem.settings import resolve_settings
from tandem.warehouse.backends import IMPORT_LOG, SCHEMA_VERSION, Warehouse
from tandem.warehouse.schema import DEFAULT_STAGES, attribute_name

if TYPE_CHECKING:
    import ibis
    from sqlalchemy.orm import Session

    from tandem.accounts import Accounts, Principal
    from tandem.alerts import Alerts
    from tandem.audit import AuditProblem, AuditVerification
    from tandem.definitions.governance import Governance, VersionInfo
    from tandem.definitions.guard import Measured
    from tandem.definitions.impact import ImpactReport
    from tandem.engine.quality import QualityReport
    from tandem.plan.goals import CreditMeasure, Goals
    from tandem.plan.proposals import PlanDocument, Plans
    from tandem.store.database import AppStore
    from tandem.warehouse.importer import ImportResult
    from tandem.warehouse.mapping import Mapping as ColumnMapping
    from tandem.warehouse.undo import UndoResult

__all__ = ["CONFIG_FILE", "Workspace", "WorkspaceConfig", "init_workspace", "open_workspace", "resolve_path"]

CONFIG_FILE = "tandem.toml"
DEFAULT_DATABASE = "sqlite:///tandem.db"
DEFAULT_WAREHOUSE = "duckdb:///warehouse.duckdb"


class WorkspaceConfig(BaseModel):
    """The contents of ``tandem.toml``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    created_at: str
    database_url: str = DEFAULT_DATABASE
    warehouse_url: str = DEFAULT_WAREHOUSE
    settings: dict[str, Any] = Field(default_factory=dict)

    def to_toml(self) -> str:
        # JSON string literals are valid TOML basic strings.
        lines = [
            "# tandem workspace. URLs: sqlite:///FILE, duckdb:///FILE (relative to this folder) or postgresql://...",
            f"name = {json.dumps(self.name)}",
            f"created_at = {json.dumps(self.created_at)}",
            f"database_url = {json.dumps(self.database_url)}",
            f"warehouse_url = {json.dumps(self.warehouse_url)}",
            "",
            "[settings]",
        ]
        lines += [f"{key} = {json.dumps(value)}" for key, value in self.settings.items()]
        return "\n".join(lines) + "\n"


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """The workspace folder: the argument, else $TANDEM_WORKSPACE, else the current folder."""
    if path is not None:
        return Path(path)
    env = os.environ.get("TANDEM_WORKSPACE")
    return Path(env) if env else Path.cwd()


def current_actor() -> str:
    """Who is acting, for the import log and definitions: $TANDEM_USER, else the login name."""
    try:
        return os.environ.get("TANDEM_USER") or getpass.getuser()
    except OSError:
        return "unknown"


def cli_actor() -> str:
    """The audit log's name for someone acting from the command line (whoever can reach the workspace files)."""
    return f"cli:{current_actor()}"


def _validate_stages(stages: Sequence[str]) -> list[str]:
    cleaned = [s.strip() for s in stages if s.strip()]
    if len(cleaned) < 2:
        raise ConfigError("a funnel needs at least two stages, e.g. --stages lead,mql,sql,opportunity,won")
    for stage in cleaned:
        if attribute_name(stage) != stage:
            raise ConfigError(
                f"stage name {stage!r} must be lower snake_case (letters, digits, _), e.g. {attribute_name(stage)!r}"
            )
    duplicates = sorted({s for s in cleaned if cleaned.count(s) > 1})
    if duplicates:
        raise ConfigError(f"stage(s) {', '.join(duplicates)} appear more than once in --stages")
    return cleaned


def _sqlite_relative(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def init_workspace(
    path: str | os.PathLike[str],
    *,
    stages: Sequence[str] = DEFAULT_STAGES,
    database: str | None = None,
    warehouse: str | None = None,
    name: str | None = None,
) -> Workspace:
    """Create a workspace: config file, application database (migrated) and an empty warehouse."""
    folder = Path(path)
    if (folder / CONFIG_FILE).exists():
        raise WorkspaceError(f"{folder} is already a tandem workspace ({CONFIG_FILE} exists)")
    stage_list = _validate_stages(stages)
    created_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    existed = set(folder.iterdir())
    config = WorkspaceConfig(
        name=name or folder.resolve().name,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        database_url=database or DEFAULT_DATABASE,
        warehouse_url=warehouse or DEFAULT_WAREHOUSE,
    )
    workspace = Workspace(folder, config)
    try:
        store = workspace.store
        if store.revision() is not None:
            raise WorkspaceError(
                f"the application database {_hide_password(config.database_url)} already holds a tandem "
                "workspace; give --database an empty database"
            )
        store.upgrade()
        from tandem.definitions.model import definitions_from_stages, dump_definitions

        first = dump_definitions(definitions_from_stages(stage_list))
        store.create_first_definitions(stage_list, first, current_actor())
        new_warehouse = workspace._open_warehouse(create=True)
        new_warehouse.create_schema()
        new_warehouse.release()  # the new workspace is shared from the start: hold no lease until it is used
        (folder / CONFIG_FILE).write_text(config.to_toml(), encoding="utf-8")
    except BaseException:
        # Leave the folder as it was: remove the files this call created.
        workspace.close()
        if created_folder:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for created in set(folder.iterdir()) - existed:
                if created.is_dir():
                    shutil.rmtree(created)
                else:
                    created.unlink(missing_ok=True)
        raise
    return workspace


def open_workspace(
    path: str | os.PathLike[str] | None = None, *, check_schema: bool = True, needs_warehouse: bool = True
) -> Workspace:
    """Open an existing workspace (see `resolve_path` for where it is looked for).

    With ``needs_warehouse=False`` only the application database is checked: users, tokens and the audit log are
    managed without touching the warehouse (not even for the brief read lease that checks its layout).
    """
    folder = resolve_path(path)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise WorkspaceError(
            f"{folder} is not a tandem workspace (no {CONFIG_FILE}); create one with `tandem init DIR`, "
            "or point to one with --workspace DIR or $TANDEM_WORKSPACE"
        )
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        config = WorkspaceConfig.model_validate(data)
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"{config_path}: {exc}") from None
    workspace = Workspace(folder, config)
    if check_schema:
        try:
            workspace.store.check_current()
            version = workspace.warehouse.schema_version() if needs_warehouse else SCHEMA_VERSION
            if version != SCHEMA_VERSION:
                raise WorkspaceError(
                    f"the warehouse is at layout {version}, this tandem expects {SCHEMA_VERSION}; run `tandem upgrade`"
                )
        except BaseException:
            workspace.close()
            raise
    return workspace


class Workspace:
    """An open workspace: the entry point of the Python API.

    >>> ws = tandem.open_workspace("acme")            # doctest: +SKIP
    >>> ws.import_files("leads", ["leads.csv"])       # doctest: +SKIP
    """

    def __init__(self, path: Path, config: WorkspaceConfig) -> None:
        self.path = path
        self.config = config
        self.settings = resolve_settings(config.settings)

    @cached_property
    def store(self) -> AppStore:
        from tandem.store.database import AppStore

        return AppStore(_sqlite_relative(self.config.database_url, self.path))

    def _open_warehouse(self, *, create: bool = False) -> Warehouse:
        memory_gb = int(self.settings["duckdb_memory_gb"])
        warehouse = Warehouse(
            self.config.warehouse_url,
            self.path,
            create=create,
            duckdb_memory_gb=memory_gb,
            wait_seconds=float(self.settings["warehouse_wait_seconds"]),
        )
        self.__dict__["warehouse"] = warehouse
        return warehouse

    @cached_property
    def warehouse(self) -> Warehouse:
        return self._open_warehouse()

    @cached_property
    def accounts(self) -> Accounts:
        """Users, sign-in and API tokens (`tandem.accounts`)."""
        from tandem.accounts import Accounts

        return Accounts(self.store, self.settings)

    # --- audit log --------------------------------------------------------------------------------------------
    def record(self, actor: str, action: str, target: str = "", details: Any = None) -> None:
        """Append an entry to the audit log on its own (changes in the application database record their own)."""
        from tandem.audit import record

        self.store.write(lambda s: record(s, actor, action, target, details))

    def audit_log(self, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        """The newest audit entries first (before sequence number `before`, for paging)."""
        from sqlalchemy import select

        from tandem.store.models import AuditEntry

        query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
        if before is not None:
            query = query.where(AuditEntry.seq < before)
        with self.store.session() as s:
            return [
                {
                    "seq": e.seq,
                    "at": e.at,
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "details": e.details,
                    "hash": e.hash,
                }
                for e in s.scalars(query)
            ]

    def verify_audit(self, expect_head: str | None = None) -> AuditVerification:
        """Walk the whole audit chain: edited, deleted or reordered entries are reported (`tandem.audit`)."""
        from sqlalchemy import select

        from tandem.audit import verify_chain
        from tandem.store.models import AuditEntry

        with self.store.session() as s:
            entries = s.scalars(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000))
            verification = verify_chain(entries, expect_head)
            verification.problems += self._imports_without_audit(s)
        return verification

    def _imports_without_audit(self, session: Session) -> list[AuditProblem]:
        """The import log checked against the audit log: imports committed without an entry, numbers given twice."""
        from collections import Counter

        from tandem.audit import AuditProblem, missing_imports

        if self.warehouse.location.kind == "spark":  # a Parquet warehouse has no import log
            return []
        try:
            log = self.warehouse.imports(None)
        finally:
            self.warehouse.release()
        problems = [
            AuditProblem(
                0,
                f"import {number} ({', '.join(str(row['table_name']) for row in rows)}, file {rows[0]['file_name']}, "
                f"by {rows[0]['actor']}, committed {str(rows[0]['finished_at'])[:19]} UTC) has no audit entry: the "
                "process was stopped between the two; the next import or `tandem serve` records it late",
            )
            for number, rows in missing_imports(session, log).items()
        ]
        # One import's rows (a file's derived tables, an undo's tables) share a number, a start and an actor.
        runs = Counter((int(row["import_id"]), row["started_at"], row["actor"]) for row in log)
        tables = Counter((int(row["import_id"]), row["table_name"]) for row in log)
        numbers = Counter(number for number, _, _ in runs)
        twice = sorted({n for n, c in numbers.items() if c > 1} | {n for (n, _), c in tables.items() if c > 1})
        problems += [
            AuditProblem(0, f"import number {number} was given to more than one import in the warehouse's log")
            for number in twice
        ]
        return problems

    # --- definitions ------------------------------------------------------------------------------------------
    @property
    def stages(self) -> list[str]:
        """The funnel's stages, in order, under the current definition version."""
        return list(self.store.current_definitions().stages)

    @property
    def definition_version(self) -> int:
        """The version results computed now are counted under: the one in force today (`definitions_in_force`)."""
        return self.definitions_in_force().version

    @cached_property
    def definitions(self) -> Governance:
        """Proposals, approvals and versions of the definitions (`tandem.definitions.governance`).

        Proposals are checked against the leads' columns, read from the warehouse only when a proposal is made; the
        quarter-end guard's window is the `definitions_freeze_weeks` setting, and it measures loosening as the
        leads a proposal adds to each stage on the warehouse's data (`tandem.definitions.impact`).
        """
        from tandem.definitions.governance import Governance

        return Governance(
            self.store,
            lambda: self.warehouse.columns("leads"),
            freeze_weeks=int(self.settings["definitions_freeze_weeks"]),
            added_leads=self._added_leads,
        )

    def _added_leads(self, current: Definitions, proposed: Definitions) -> Measured | None:
        """`proposed` measured against `current` on the warehouse (`tandem.definitions.impact`): the leads it adds
        to each stage over all history, and each stage's volume over the guard's window under both; None without
        leads (the guard then reads the text)."""
        from tandem.definitions.guard import Measured, resolve_rules
        from tandem.definitions.impact import measure_impact

        if int(self.warehouse.table("leads").count().execute()) == 0:
            return None
        days = resolve_rules(current, int(self.settings["definitions_freeze_weeks"])).window_days
        report = measure_impact(self, current, proposed, base_version=0, recent_days=days)
        return Measured(added=report.added, recent=report.recent)

    def proposal_impact(self, proposal_id: int, *, as_of: date | datetime | str | None = None) -> ImpactReport:
        """What proposal `proposal_id` would change, measured against the version it was proposed on."""
        from tandem.definitions.impact import measure_impact
        from tandem.definitions.model import load_definitions

        proposal = self.definitions.proposal(proposal_id)
        base = self.definitions.version(proposal.base_version)
        proposed = load_definitions(proposal.document, source_name=f"proposal #{proposal_id}")
        return measure_impact(
            self,
            base.definitions,
            proposed,
            base_version=base.version,
            as_of=to_timestamp(as_of),
            proposal_id=proposal_id,
        )

    # --- goals ------------------------------------------------------------------------------------------------
    @cached_property
    def goals(self) -> Goals:
        """The revenue goals both teams share, their derived targets, quotas and attainment (`tandem.plan.goals`).

        Won revenue is measured on the warehouse (`revenue`) only when a goal is shown; marketing's measured share
        counts leads of any channel but the `sales_sourced_channels` setting's.
        """
        from tandem.plan.goals import Goals

        return Goals(
            self.store,
            self._won_revenue,
            sales_sourced_channels=list(self.settings["sales_sourced_channels"]),
            marketing_credit=self._marketing_credit,
        )

    # --- plans ------------------------------------------------------------------------------------------------
    @cached_property
    def plans(self) -> Plans:
        """The marketing plan of each period as a proposal sales leaders accept (`tandem.plan.proposals`).

        Each proposed version is run forward through the funnel model from history against the period's goal
        (`plan_sufficiency`) before it is stored.
        """
        from tandem.plan.proposals import Plans

        return Plans(self.store, self.plan_sufficiency, lambda: self.stages)

    def plan_sufficiency(self, plan: PlanDocument) -> dict[str, Any]:
        """Will the plan do? `tandem.plan.forward.sufficiency` on the workspace's model, goal and channel costs."""
        from tandem.plan.calculator import Given, goal_by_month, plan_model
        from tandem.plan.forward import sufficiency
        from tandem.plan.history import channel_costs
        from tandem.plan.proposals import PlanError

        try:
            goal = goal_by_month(self, plan.period)
        except ConfigError:
            label = plan.period.label
            raise PlanError(
                f"no goal for {label} to check the plan against: an exec or admin sets one "
                f"(`tandem goal set {label} AMOUNT --as USER`); propose again then"
            ) from None
        model = plan_model(Given({}, {}), self)
        costs = channel_costs(self)
        checked = sufficiency(model, plan.programs, goal, period_end=plan.period.end - timedelta(days=1), costs=costs)
        return checked.as_dict()

    def _won_revenue(self, by: str | None, start: date, end: date) -> dict[str | None, float]:
        """Won revenue in [start, end) as of now, in total ({None: amount}) or by one column."""
        rows = self.revenue(by=[by] if by else [], start=start, end=end).rows()
        if by is None:
            return {None: float(sum(row["won_revenue"] or 0.0 for row in rows))}
        return {row[by]: float(row["won_revenue"] or 0.0) for row in rows}

    def _marketing_credit(self, start: date, end: date) -> CreditMeasure:
        """Won revenue closed in [start, end) credited by channel under the attribution model in force when the
        window ends (or now, when it ends later): the share marketing earns under the model agreed for the period
        the quota is for, measured on the year before it (docs/attribution.md, "The approved model")."""
        from tandem.attribution.credit import ModelStretch, credit_by_item
        from tandem.attribution.report import model_stretches
        from tandem.plan.goals import CreditMeasure

        moment = datetime.now(UTC).replace(tzinfo=None)
        low, high = datetime.combine(start, time()), datetime.combine(end, time())
        (in_force,) = model_stretches(self.counting(min(high, moment)).stretches[-1:])
        whole = ModelStretch(in_force.version, in_force.model, in_force.approved)
        table = credit_by_item(self.warehouse, [whole], moment, start=low, end=high)
        rows = self.warehouse.con.to_pyarrow(table).to_pylist()
        return CreditMeasure(
            by_channel={str(row["item"]): float(row["value"] or 0.0) for row in rows},
            models=(f"definitions version {whole.version}: {whole.model.label}",),
            approved=whole.approved,
        )

    # --- alerts -----------------------------------------------------------------------------------------------
    @cached_property
    def alerts(self) -> Alerts:
        """Alert rules (``alerts.yaml`` in the workspace folder) and the history of what they sent (`tandem.alerts`)."""
        from tandem.alerts import Alerts

        return Alerts(self.store, self.path, workspace=self.config.name, settings=self.settings)

    # --- data -------------------------------------------------------------------------------------------------
    def import_files(
        self,
        kind: str,
        files: Sequence[str | os.PathLike[str]],
        *,
        mapping: str | os.PathLike[str] | ColumnMapping | None = None,
        skip_invalid: bool = False,
        create_missing: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
        actor: str | None = None,
        origin: str | None = None,
    ) -> list[ImportResult]:
        """Import source files into canonical table `kind`: validated, atomic (all files or none), idempotent.

        `origin` is logged instead of the files' path (an upload says who uploaded it). Each import is then written
        to the audit log. The import itself commits in the warehouse first (its own
        import log is part of that transaction); the audit entry follows in the application database while the
        write lease is still held, and an import whose entry a killed process never wrote is recorded late by
        the next one (`tandem.audit.record_missing_imports`).
        """
        from tandem.warehouse.importer import ImportLimits, import_files
        from tandem.warehouse.mapping import Mapping as ColumnMapping
        from tandem.warehouse.mapping import load_mapping

        resolved = mapping if isinstance(mapping, ColumnMapping) else load_mapping(mapping)
        who = actor or cli_actor()
        try:
            self.record_missing_imports()
            results = import_files(
                self.warehouse,
                kind,
                [Path(f) for f in files],
                resolved,
                stages=self.stages,
                skip_invalid=skip_invalid,
                create_missing=create_missing,
                actor=who,
                max_line_bytes=self.settings["import_max_line_bytes"],
                errors_shown=self.settings["import_errors_shown"],
                progress=progress,
                limits=ImportLimits.from_settings(self.settings),
                origin=origin,
            )
            for result in results:
                self.record(
                    who,
                    "data.import",
                    result.table,
                    {
                        "import_id": result.import_id,
                        "file": Path(result.file).name if origin else result.file,
                        "sha256": result.sha256,
                        "added": result.added,
                        "updated": result.updated,
                        "unchanged": result.unchanged,
                        "rejected": result.rejected,
                    },
                )
        finally:  # the write lease ends with the import and its audit entries: readers behind it go on at once
            self.warehouse.release()
        return results

    def undo_import(self, import_id: int, *, actor: str | None = None, dry_run: bool = False) -> UndoResult:
        """Undo import `import_id` (`tandem.warehouse.undo`), audited like an import: the entry is written while the
        write lease is held, after any import a killed process left unrecorded."""
        from tandem.warehouse.undo import undo_import

        try:
            if not dry_run:
                self.record_missing_imports()
            return undo_import(
                self.warehouse, import_id, actor=actor or cli_actor(), record=self.record, dry_run=dry_run
            )
        finally:
            self.warehouse.release()

    def decide_handoff(
        self,
        principal: Principal,
        lead_id: str,
        decision: str,
        *,
        reason: str | None = None,
        note: str | None = None,
    ) -> ImportResult:
        """Sales' decision on a lead handed over and waiting (`tandem.handoffs.decisions`): checked, then written
        as a one-row import into `handoffs` under the person deciding (audited, undone like any import)."""
        import tempfile

        from tandem.handoffs.decisions import check_decision, decision_csv
        from tandem.handoffs.service import measure, rows_of

        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        with measure(self.warehouse, self.counting(now), now) as measured:
            clocks = measured.clocks
            waiting = rows_of(
                self.warehouse,
                clocks.filter(clocks.clock == "accept", clocks.decision.isnull(), clocks.lead_id == lead_id).select(
                    "charged_to"
                ),
                1,
            )
        holder = str(waiting[0]["charged_to"]) if waiting else None
        check_decision(
            principal,
            measured.contract,
            lead_id=lead_id,
            holder=holder,
            decision=decision,
            reason=reason,
            note=note,
        )
        assert holder is not None
        text = decision_csv(
            lead_id=lead_id,
            at=now,
            decision=decision,
            owner=holder,
            reason=reason,
            note=note,
            actor=principal.username,
        )
        with tempfile.TemporaryDirectory(prefix="tandem-decision-") as folder:
            path = Path(folder) / f"{decision}-{now:%Y%m%dT%H%M%S}.csv"
            path.write_text(text, encoding="utf-8")
            (result,) = self.import_files(
                "handoffs",
                [path],
                actor=principal.username,
                origin=f"{decision} in tandem by {principal.username}: lead {lead_id}",
            )
        return result

    def record_missing_imports(self, *, wait: bool = True) -> list[int]:
        """Record, late, any import that committed in the warehouse without its audit entry (a process killed
        between the two commits); returns their numbers. Under the write lease, so no import is in progress: with
        ``wait=False`` nothing is done if another process holds the warehouse (its own import will do it)."""
        from tandem.audit import missing_imports, record_missing_imports

        warehouse = self.warehouse
        if warehouse.location.kind == "spark":
            return []
        if wait:
            warehouse.acquire("write")
        elif not warehouse.try_acquire("write"):
            return []
        try:
            log = warehouse.imports(None)
            with self.store.session() as session:
                if not missing_imports(session, log):
                    return []
            return self.store.write(lambda s: record_missing_imports(s, log))
        finally:
            if not wait:
                warehouse.release()

    def definitions_in_force(
        self, as_of: date | datetime | str | None = None, version: int | None = None
    ) -> VersionInfo:
        """The definitions a result as of `as_of` (default now) is computed under, or version `version` if given.

        A version is in force from its effective date (the approval day unless the proposal named a later one)
        until the next version's: a version approved today to take effect next month leaves this month's results
        under the one before. Version 1, from `tandem init`, has no date and is in force from the start.
        """
        if version is not None:
            return self.definitions.version(version)
        moment = as_of_or_now(as_of)
        versions = self.definitions.versions()
        in_force = [v for v in versions if v.effective_from is None or v.effective_from <= moment.date()]
        return in_force[-1] if in_force else versions[0]

    def counting(self, as_of: date | datetime | str | None = None, version: int | None = None) -> Counting:
        """Which version counts which stretch of time for a result as of `as_of` (default now): each version the
        stretch it was in force (`tandem.definitions.counting`), or `version` throughout when given."""
        if version is not None:
            return counting_under(self.definitions.version(version))
        return counting_in_force(self.definitions.versions(), as_of_or_now(as_of))

    def stage_events(self, definitions: Definitions, as_of: datetime, *, since: datetime | None = None) -> ibis.Table:
        """The imported stage events plus the first moment each lead met each stage rule of `definitions`.

        What every funnel metric reads as "stage events" (`tandem.definitions.membership`): a lead reaches a
        stage with an event for it or by meeting its rule; with `since`, the first moment on or after it. An
        undated event yields to the lead's dated ones (`tandem.engine.quality.prefer_dated`).
        """
        from tandem.definitions.membership import rule_entries, with_rule_entries
        from tandem.engine.quality import prefer_dated
        from tandem.engine.usable import usable

        wh = self.warehouse
        entries = rule_entries(
            definitions,
            leads=wh.table("leads"),
            touches=wh.table("touches"),
            activities=wh.table("activities"),
            as_of=as_of,
            since=since,
        )
        # Only an event a figure can use may outweigh an undated one (`tandem.engine.usable`).
        events = prefer_dated(usable(wh.table("stage_events"), "stage_events"), definitions.stage_names)
        return with_rule_entries(events, entries, definitions)

    def counted_stage_events(self, counting: Counting, as_of: datetime) -> ibis.Table:
        """The stage events as `counting` counts them: each version's events (and rule entries, from its effective
        date on) within the stretch it counts, in one table (`tandem.definitions.counting`)."""
        if not counting.split:
            return self.stage_events(counting.current.definitions, as_of)
        import ibis

        parts = []
        for stretch in counting.stretches:
            events = self.stage_events(stretch.version.definitions, as_of, since=stretch.start)
            if stretch.start is not None:
                events = events.filter(events.occurred_at >= ibis.literal(stretch.start, type="timestamp"))
            if stretch.end is not None:
                events = events.filter(events.occurred_at < ibis.literal(stretch.end, type="timestamp"))
            parts.append(events)
        return ibis.union(*parts, distinct=False)

    # --- metrics ----------------------------------------------------------------------------------------------
    def funnel_spec(self, *, version: int | None = None, **question: Any) -> FunnelSpec:
        """A funnel question on the stages in force at its as-of time, or of `version` (`FunnelSpec` fields)."""
        in_force = self.definitions_in_force(question.get("as_of"), version)
        return FunnelSpec(stages=tuple(in_force.definitions.stage_names), **question)

    def _question(self, version: int | None, **question: Any) -> tuple[FunnelSpec, Counting]:
        """The spec and how it is counted (the stage events are read when the SQL is built): each stretch of time
        under the version in force then, or under `version` throughout."""
        as_of = as_of_or_now(question.pop("as_of", None))
        counting = self.counting(as_of, version)
        return FunnelSpec(stages=tuple(counting.current.definitions.stage_names), as_of=as_of, **question), counting

    def _result(
        self,
        kind: str,
        spec: FunnelSpec,
        build: Callable[[FunnelSpec], ibis.Table],
        counting: Counting | None = None,
        shape: tuple[Any, ...] = (),
    ) -> Result:
        """`kind`'s result for `spec`, its SQL compiled once per shape and reused (`tandem.engine.compiled`).

        A question over stage events (`counting` given) reads the tables `stage_events` reads, and its SQL
        depends on the versions counting it, their stretches, stages and rules; the others read opportunities
        and leads.
        """
        wh = self.warehouse
        if counting is not None:
            reads: tuple[str, ...] = ("leads", "stage_events", "touches", "activities")
            shape = (*counting.shape(), *shape)
        else:
            reads = ("opportunities", "leads")
        result = Result.for_question(
            kind,
            wh,
            spec,
            build,
            reads=reads,
            shape=shape,
            definition_version=counting.current.version if counting is not None else self.definition_version,
            backend=wh.backend_name,
        )
        result.counting = counting
        return result

    def funnel(
        self,
        by: Sequence[str] = (),
        period: str | None = None,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        *,
        strict: bool = False,
        window_days: int | None = None,
        horizon_days: int | None = None,
        as_of: date | datetime | str | None = None,
        version: int | None = None,
    ) -> Result:
        """Volumes, conversion and velocity per stage, by breakdown and period (docs/funnel-semantics.md).

        Computed under the definitions in force at `as_of`, or under `version` to recompute any period as another
        version would have counted it. The SQL is compiled once per shape of question and reused with a new
        `as_of`, `start` and `end` (`tandem.engine.compiled`).
        """
        spec, counting = self._question(
            version,
            by=tuple(by),
            period=period,
            start=start,
            end=end,
            strict=strict,
            window_days=window_days,
            horizon_days=horizon_days,
            **_as_of(as_of),
        )

        def build(spec: FunnelSpec) -> ibis.Table:
            from tandem.engine.funnel import funnel_table

            events = self.counted_stage_events(counting, spec.as_of)
            return funnel_table(self.warehouse.table("leads"), events, spec)

        return self._result("funnel", spec, build, counting)

    def revenue(
        self,
        by: Sequence[str] = (),
        period: str | None = None,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        *,
        as_of: date | datetime | str | None = None,
    ) -> Result:
        """Won revenue, deal size, win rate, open pipeline and sales cycle from opportunities."""
        spec = self.funnel_spec(by=tuple(by), period=period, start=start, end=end, **_as_of(as_of))

        def build(spec: FunnelSpec) -> ibis.Table:
            from tandem.engine.revenue import revenue_table

            wh = self.warehouse
            return revenue_table(wh.table("opportunities"), wh.table("leads"), spec, imports=self._import_log())

        return self._result("revenue", spec, build)

    def pipeline(self, by: Sequence[str] = (), *, as_of: date | datetime | str | None = None) -> Result:
        """Open pipeline at `as_of` by CRM stage and age."""
        spec = self.funnel_spec(by=tuple(by), **_as_of(as_of))

        def build(spec: FunnelSpec) -> ibis.Table:
            from tandem.engine.revenue import pipeline_table

            wh = self.warehouse
            return pipeline_table(
                wh.table("opportunities"), wh.table("leads"), spec.by, spec.as_of, imports=self._import_log()
            )

        return self._result("pipeline", spec, build)

    def _import_log(self) -> ibis.Table:
        """When each row was written, for as-of views (`tandem.engine.known`). On Spark, the folder's
        ``import_log.parquet`` (`Warehouse.export_parquet` writes it), or an empty log when it has none."""
        return self.warehouse.table(IMPORT_LOG)

    def velocity(
        self,
        from_stage: str,
        to_stage: str | None = None,
        by: Sequence[str] = (),
        period: str | None = None,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        *,
        strict: bool = False,
        as_of: date | datetime | str | None = None,
        version: int | None = None,
    ) -> Result:
        """Days from `from_stage` to `to_stage` (default: the next one; the last stage: the sales cycle), binned."""
        spec, counting = self._question(
            version, by=tuple(by), period=period, start=start, end=end, strict=strict, **_as_of(as_of)
        )

        def build(spec: FunnelSpec) -> ibis.Table:
            from tandem.engine.velocity import velocity_table

            events = self.counted_stage_events(counting, spec.as_of)
            return velocity_table(self.warehouse.table("leads"), events, spec, from_stage, to_stage)

        return self._result("velocity", spec, build, counting, shape=(from_stage, to_stage))

    def leads(
        self,
        stage: str,
        where: Mapping[str, str | None] | None = None,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        *,
        strict: bool = False,
        limit: int | None = 1000,
        as_of: date | datetime | str | None = None,
        version: int | None = None,
    ) -> Result:
        """The leads behind a number: those that entered `stage` in range and match `where`."""
        spec, counting = self._question(version, start=start, end=end, strict=strict, **_as_of(as_of))
        filters = dict(where or {})

        def build(spec: FunnelSpec) -> ibis.Table:
            from tandem.engine.drilldown import leads_table

            events = self.counted_stage_events(counting, spec.as_of)
            return leads_table(self.warehouse.table("leads"), events, spec, stage, filters, limit)

        return self._result("leads", spec, build, counting, shape=(stage, tuple(filters.items()), limit))

    def quality(self, *, as_of: date | datetime | str | None = None, examples: int = 5) -> QualityReport:
        """The data-quality report: out-of-order events, re-entries, unknown leads, negative durations."""
        from tandem.engine.quality import quality_report

        spec = self.funnel_spec(**_as_of(as_of))
        wh = self.warehouse
        report = quality_report(wh.table("leads"), wh.table("stage_events"), spec.stages, spec.as_of, examples)
        report.definition_version = self.definition_version
        report.backend = wh.backend_name
        return report

    def imports(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recent imports, newest first."""
        return self.warehouse.imports(limit)

    def status(self) -> dict[str, Any]:
        """Counts per table, definition version, backends and the last import (what `tandem status` shows)."""
        in_force = self.definitions_in_force()
        newest = self.definitions.current()
        last = self.warehouse.last_import()
        return {
            "workspace": str(self.path.resolve()),
            "name": self.config.name,
            "definition_version": in_force.version,
            "stages": in_force.definitions.stage_names,
            "next_definition_version": (
                {"version": newest.version, "effective_from": newest.effective_from}
                if newest.version != in_force.version
                else None
            ),
            "database": {"backend": self.store.engine.dialect.name, "url": _hide_password(self.store.url)},
            "warehouse": {"backend": self.warehouse.backend_name, "url": self.warehouse.display_url},
            "tables": self.warehouse.counts(),
            "last_import": last,
        }

    def upgrade(self) -> list[str]:
        """Bring an older workspace forward: application migrations, then warehouse layout. Returns what was done."""
        done: list[str] = []
        before = self.store.revision()
        self.store.upgrade()
        after = self.store.revision()
        if before != after:
            done.append(f"application database: {before or 'empty'} -> {after}")
        version = self.warehouse.schema_version()
        if version != SCHEMA_VERSION:  # pragma: no cover - no older warehouse layout exists yet
            raise WorkspaceError(f"no migration from warehouse layout {version} to {SCHEMA_VERSION}")
        return done

    def close(self) -> None:
        if "warehouse" in self.__dict__:
            self.__dict__.pop("warehouse").close()
        if "store" in self.__dict__:
            self.__dict__.pop("store").dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_of(as_of: date | datetime | str | None) -> dict[str, Any]:
    """The spec's as_of argument: absent means now (the spec's default)."""
    return {} if as_of is None else {"as_of": as_of}


def _hide_password(url: str) -> str:
    head, sep, tail = url.partition("://")
    if "@" in tail and ":" in tail.split("@", 1)[0]:
        user = tail.split("@", 1)[0].split(":", 1)[0]
        return f"{head}{sep}{user}:***@{tail.split('@', 1)[1]}"
    return url
