"""The Imports page and its REST endpoints: uploads go through the same validation as `tandem import`.

An upload is streamed to a fresh temporary folder under its own name (reduced to a safe base name), so problems,
the import log and the rejected rows name the file the user knows; the folder is deleted once the import is done.
While the server runs, this is how data comes into a DuckDB workspace (see `tandem.server.state`).

Every route here caps its request body while it streams in (`CappedRoute`), before anything parses it: the CSRF
check of a browser post reads the form, so a cap applied later would come after the bytes were spooled to disk.

The import log is a question (`tandem.questions.ImportsQuestion`): ``GET /api/imports`` answers the document
``tandem imports --format json`` prints, through the cache keyed by the newest import into each table.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Message, Receive

from tandem.accounts import Permission, Principal
from tandem.errors import ImportValidationError, TandemError
from tandem.questions import ImportsQuestion, StatusQuestion
from tandem.questions.admin import MAX_IMPORTS
from tandem.server.access import GuardedRoute, access, principal_of
from tandem.server.pages import render
from tandem.server.refusals import INVALID, MAX_ID, explain
from tandem.server.state import ServerState
from tandem.server.uploads import upload_folder
from tandem.warehouse.importer import ImportResult
from tandem.warehouse.mapping import list_presets
from tandem.warehouse.mapping_checks import lenient as lenient_mapping
from tandem.warehouse.schema import TABLES
from tandem.warehouse.undo import UndoResult

#: The largest data file an upload may carry (streamed to disk, never held in memory).
MAX_UPLOAD_BYTES = 1024**3
#: The largest mapping file: a TOML of column rules is a few kilobytes.
MAX_MAPPING_BYTES = 1024**2
#: What a request may carry beyond its data file: the mapping file, the form fields, the multipart framing.
FORM_ALLOWANCE = MAX_MAPPING_BYTES + 64 * 1024
DATA_SUFFIXES = (".csv", ".parquet", ".txt", ".tsv")
#: At most this many rejected rows are shown (the count says how many there were).
REJECTS_SHOWN = 50
HISTORY_SHOWN = 50
CHUNK_BYTES = 1024 * 1024

_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


class UploadRefused(TandemError):
    """An upload tandem will not take (too large, a wrong kind of file, an unknown preset); says what would do."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


def _too_large_message() -> str:
    return (
        f"the upload is larger than {_size(MAX_UPLOAD_BYTES)}, the most the web app takes in one file; "
        "split the file into smaller ones and import each (an import of the same rows twice changes nothing)"
    )


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


class _BodyTooLarge(Exception):
    """The request body went past the cap while streaming in."""


class _Meter:
    """Counts the bytes of a request body as they arrive and stops the request at the first byte past `limit`."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.seen = 0
        self.exceeded = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                self.exceeded = True
                raise _BodyTooLarge()
        return message


class CappedRoute(GuardedRoute):
    """A guarded route whose request body may not exceed the upload cap plus the form around it.

    A declared ``Content-Length`` over the cap is refused before a byte is read; a body sent without one is
    stopped at the first chunk past it, wherever it is being read (the CSRF check, the form parser).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def capped(request: Request) -> Response:
            limit = MAX_UPLOAD_BYTES + FORM_ALLOWANCE
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                return _refusal(request, UploadRefused(_too_large_message(), 413))
            meter = _Meter(request.receive, limit)
            try:
                return await handler(Request(request.scope, meter.receive))
            except Exception:
                if meter.exceeded:
                    return _refusal(request, UploadRefused(_too_large_message(), 413))
                raise

        return capped


router = APIRouter(route_class=CappedRoute, responses=INVALID)


def _refusal(request: Request, refused: UploadRefused) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": str(refused)}, status_code=refused.status_code)
    return render(
        request,
        "error.html",
        refused.status_code,
        title="Upload refused",
        heading="Upload refused",
        detail=str(refused),
    )


# ---------------------------------------------------------------------------------------------------------------
# Running an import from an upload
# ---------------------------------------------------------------------------------------------------------------
def safe_file_name(name: str | None, suffixes: tuple[str, ...], what: str) -> str:
    """The upload's own name as a plain base name: no folders, no leading dots, letters, digits, ``._-`` only.

    The name matters: it is what the import log, the problems and the rejected rows show. Only the last path
    segment a browser or client sent is kept (``../../etc/passwd.csv`` becomes ``passwd.csv``).
    """
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_CHARACTERS.sub("_", base).lstrip(".")
    stem, dot, suffix = base.rpartition(".")
    allowed = ", ".join(suffixes)
    if not dot or f".{suffix.lower()}" not in suffixes:
        raise UploadRefused(f"{what} {name or '(no name)'!r} is not one tandem imports: its name must end in {allowed}")
    return f"{stem[:120] or 'upload'}.{suffix.lower()}"


def _save(upload: UploadFile, target: Path, limit: int, too_large: str) -> Path:
    """Copy an upload to `target` in chunks, refusing it once it passes `limit` bytes."""
    written = 0
    with target.open("xb") as out:
        while chunk := upload.file.read(CHUNK_BYTES):
            written += len(chunk)
            if written > limit:
                raise UploadRefused(too_large, 413)
            out.write(chunk)
    return target


def _chosen_mapping(preset: str, upload: UploadFile | None, folder: Path) -> str | Path | None:
    """A preset by name (only those shipped: a name is never read as a server path), an uploaded TOML, or none."""
    if upload is not None and upload.filename:
        if preset:
            raise UploadRefused("choose a mapping preset or upload a mapping file, not both")
        name = safe_file_name(upload.filename, (".toml",), "mapping file")
        (folder / "mapping").mkdir()
        too_large = f"the mapping file is over {_size(MAX_MAPPING_BYTES)}; a mapping is a few kilobytes of TOML"
        return _save(upload, folder / "mapping" / name, MAX_MAPPING_BYTES, too_large)
    if not preset:
        return None
    presets = list_presets()
    if preset not in presets:
        raise UploadRefused(f"no mapping preset called {preset!r}; presets: {', '.join(presets)}")
    return preset


@dataclass
class Imported:
    """What an upload did: the results as `tandem import --format json` gives them, and the first rejected rows."""

    imports: list[dict[str, Any]]
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)


def _without_folder(text: str, folder: Path) -> str:
    """A message about the upload, naming files as the user knows them (not by their temporary path)."""
    for prefix in {str(folder), str(folder.resolve())}:
        text = text.replace(prefix + os.sep, "")
    return text


def _summary(result: ImportResult) -> dict[str, Any]:
    return {
        "import_id": result.import_id,
        "table": result.table,
        "file": Path(result.file).name,
        "sha256": result.sha256,
        "rows_read": result.rows_read,
        "added": result.added,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rejected": result.rejected,
        "filtered": result.filtered,
        "created_leads": result.created_leads,
        "new_attributes": result.new_attributes,
        "missing_columns": result.missing_columns,
        "notes": result.notes(),
        "derived": result.derived,
        "left_out": result.left_out,
        "unknown_leads": result.unknown_leads,
        "note": result.note,
    }


def _first_rejects(result: ImportResult) -> list[dict[str, Any]]:
    """The first rejected rows of an import with skip-invalid, read from the file the importer wrote beside it."""
    if not result.rejects_path:
        return []
    rows: list[dict[str, Any]] = []
    with Path(result.rejects_path).open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader, None)  # header: line, reason, then the file's own columns
        try:
            for record in reader:
                rows.append({"file": Path(result.file).name, "line": int(record[0]), "reason": record[1]})
                if len(rows) == REJECTS_SHOWN:
                    break
        except csv.Error:  # a record too long for the reader: the count still says how many there were
            pass
    return rows


def import_upload(
    state: ServerState,
    principal: Principal,
    *,
    kind: str,
    file: UploadFile | None,
    mapping: str = "",
    mapping_file: UploadFile | None = None,
    skip_invalid: bool = False,
    lenient: bool = False,
) -> Imported:
    """Save the upload under its own name in a fresh folder, import it as `principal`, then delete the folder.

    Raises `ImportValidationError` (nothing imported; files named as uploaded) or another `TandemError`.
    """
    if file is None or not file.filename:
        raise UploadRefused("choose a file to import (CSV or Parquet)")
    if kind not in TABLES:
        raise UploadRefused(f"no table called {kind!r}; tables: {', '.join(TABLES)}")
    with upload_folder(state.workspace.path) as folder:
        name = safe_file_name(file.filename, DATA_SUFFIXES, "file")
        data = _save(file, folder / name, MAX_UPLOAD_BYTES, _too_large_message())
        chosen: Any = _chosen_mapping(mapping.strip(), mapping_file, folder)
        if lenient:  # a file missing most of the columns its mapping expects, imported on purpose
            try:
                chosen = lenient_mapping(chosen)
            except TandemError as exc:
                raise UploadRefused(_without_folder(str(exc), folder)) from None
        try:
            with state.using_warehouse():
                try:
                    results = state.workspace.import_files(
                        kind,
                        [data],
                        mapping=chosen,
                        skip_invalid=skip_invalid,
                        actor=principal.username,
                        origin=f"uploaded by {principal.username}: {data.name}",
                    )
                finally:
                    state.data_changed()
        except ImportValidationError as exc:
            raise ImportValidationError(
                [replace(issue, file=_without_folder(issue.file, folder)) for issue in exc.issues],
                exc.total,
                shown=len(exc.issues),
                by_problem={_without_folder(label, folder): count for label, count in exc.by_problem.items()},
            ) from None
        except UploadRefused:
            raise
        except TandemError as exc:
            raise UploadRefused(_without_folder(str(exc), folder)) from None
        rejected = [row for result in results for row in _first_rejects(result)][:REJECTS_SHOWN]
        return Imported([_summary(result) for result in results], rejected)


def _problems(exc: ImportValidationError) -> dict[str, Any]:
    total = exc.total
    return {
        "detail": f"{total:,} problem{'s' if total != 1 else ''} found; nothing was imported",
        "problems": total,
        "issues": [asdict(issue) for issue in exc.issues],
        "by_problem": exc.by_problem,
    }


# ---------------------------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------------------------
def _history(state: ServerState, limit: int) -> dict[str, Any]:
    """The import log's document, newest first (cached until the next import into any table)."""
    return state.answer(ImportsQuestion.parse(limit=limit))


def _imports_page(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    state: ServerState = request.app.state.tandem
    principal = principal_of(request)
    return render(
        request,
        "imports.html",
        status_code,
        title="Imports",
        history=_history(state, HISTORY_SHOWN)["imports"],
        # What the funnel can and cannot show yet (`tandem.questions.status.funnel_findings`), as `tandem status`.
        findings=state.answer(StatusQuestion())["findings"],
        can_import=principal.may(Permission.IMPORT),
        tables=list(TABLES),
        presets=list_presets(),
        suffixes=DATA_SUFFIXES,
        max_upload=_size(MAX_UPLOAD_BYTES),
        chosen=context.pop("chosen", {}),
        **context,
    )


@router.get("/imports", response_class=HTMLResponse, openapi_extra=access(Permission.READ), include_in_schema=False)
def imports_page(request: Request) -> HTMLResponse:
    return _imports_page(request)


@router.post("/imports", response_class=HTMLResponse, openapi_extra=access(Permission.IMPORT), include_in_schema=False)
def upload_from_page(
    request: Request,
    kind: Annotated[str, Form(max_length=100)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    mapping: Annotated[str, Form(max_length=200)] = "",
    mapping_file: Annotated[UploadFile | None, File()] = None,
    skip_invalid: Annotated[bool, Form()] = False,
    lenient: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    chosen = {"kind": kind, "mapping": mapping, "skip_invalid": skip_invalid, "lenient": lenient}
    try:
        done = import_upload(
            request.app.state.tandem,
            principal_of(request),
            kind=kind,
            file=file,
            mapping=mapping,
            mapping_file=mapping_file,
            skip_invalid=skip_invalid,
            lenient=lenient,
        )
    except ImportValidationError as exc:
        return _imports_page(request, 422, chosen=chosen, problems=_problems(exc))
    except UploadRefused as exc:
        return _imports_page(request, exc.status_code, chosen=chosen, error=str(exc))
    except TandemError as exc:  # pragma: no cover - import_upload turns every TandemError into one of the above
        return _imports_page(request, 400, chosen=chosen, error=str(exc))
    files = ", ".join(f"{r['file']} ({r['table']})" for r in done.imports)
    return _imports_page(request, chosen=chosen, imported=done, message=f"Imported {files}.")


# ---------------------------------------------------------------------------------------------------------------
# REST
# ---------------------------------------------------------------------------------------------------------------
@router.get("/api/imports", openapi_extra=access(Permission.READ), tags=["imports"])
def api_imports(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_IMPORTS, description="How many, newest first.")] = HISTORY_SHOWN,
) -> dict[str, Any]:
    """Past imports, newest first, as `tandem imports --format json`: when, who, table, file, sha256, rows
    added/updated/unchanged/rejected."""
    return _history(request.app.state.tandem, limit)


PROBLEMS_EXAMPLE = {
    "detail": "2 problems found; nothing was imported",
    "problems": 2,
    "issues": [
        {
            "file": "leads.csv",
            "line": 3,
            "column": "created_at",
            "value": "31/02/2025",
            "problem": "not a date or timestamp",
            "expected": "a date or timestamp",
        }
    ],
}


@router.post(
    "/api/imports",
    openapi_extra=access(Permission.IMPORT),
    tags=["imports"],
    status_code=201,
    response_model=None,
    responses={
        400: {"description": "An unusable mapping, table or file (the detail says which and why)."},
        413: {"description": f"The file is over {_size(MAX_UPLOAD_BYTES)}: split it."},
        422: {
            "description": "The file failed validation; nothing was imported. Every problem, by line.",
            "content": {"application/json": {"example": PROBLEMS_EXAMPLE}},
        },
    },
)
def api_import(
    request: Request,
    kind: Annotated[str, Form(max_length=100, description=f"Canonical table: {', '.join(TABLES)}.")],
    file: Annotated[UploadFile, File(description=f"The data: CSV or Parquet ({', '.join(DATA_SUFFIXES)}).")],
    mapping: Annotated[str, Form(max_length=200, description="A mapping preset (see `tandem mappings`).")] = "",
    mapping_file: Annotated[UploadFile | None, File(description="Or a TOML mapping file of your own.")] = None,
    skip_invalid: Annotated[
        bool, Form(description="Import the valid rows; the first rejected ones come back with their reasons.")
    ] = False,
    lenient: Annotated[
        bool,
        Form(description="Import a file that lacks most of the columns its mapping expects (refused otherwise)."),
    ] = False,
) -> dict[str, Any] | JSONResponse:
    """Import one file into a canonical table: validated, atomic, idempotent, as `tandem import`.

    Answers as `tandem import --format json`, plus ``rejected_rows``: the first rejected rows with their reasons.
    """
    try:
        done = import_upload(
            request.app.state.tandem,
            principal_of(request),
            kind=kind,
            file=file,
            mapping=mapping,
            mapping_file=mapping_file,
            skip_invalid=skip_invalid,
            lenient=lenient,
        )
    except ImportValidationError as exc:
        return JSONResponse(_problems(exc), status_code=422)
    except UploadRefused as exc:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)
    return {"imports": done.imports, "rejected_rows": done.rejected_rows}


# ---------------------------------------------------------------------------------------------------------------
# Undo (tandem.warehouse.undo): a confirmation page, the undo itself, and the REST endpoint
# ---------------------------------------------------------------------------------------------------------------
ImportNumber = Annotated[int, PathParam(ge=1, le=MAX_ID, description="The import's number (see GET /api/imports).")]


def undo_as(state: ServerState, principal: Principal, import_id: int, *, dry_run: bool = False) -> UndoResult:
    """Undo import `import_id` as `principal` (audited), or with `dry_run` say what it would do; the server's
    cached results are recomputed after a real undo. Raises `NotFoundError` or `ConflictError` with the reason."""
    with state.using_warehouse() as workspace:
        try:
            return workspace.undo_import(import_id, actor=principal.username, dry_run=dry_run)
        finally:
            if not dry_run:
                state.data_changed()


@router.get(
    "/imports/{import_id}/undo",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.IMPORT),
    include_in_schema=False,
)
def undo_page(request: Request, import_id: ImportNumber) -> HTMLResponse:
    """What undoing the import would remove and put back, with the button that does it (or why it cannot be)."""
    try:
        preview = undo_as(request.app.state.tandem, principal_of(request), import_id, dry_run=True)
    except TandemError as exc:
        status, detail = explain(exc)
        return _imports_page(request, status, error=detail)
    return render(request, "import_undo.html", title=f"Undo import {import_id}", preview=preview, tables=list(TABLES))


@router.post(
    "/imports/{import_id}/undo",
    response_class=HTMLResponse,
    openapi_extra=access(Permission.IMPORT),
    include_in_schema=False,
)
def undo_from_page(request: Request, import_id: ImportNumber) -> HTMLResponse:
    try:
        done = undo_as(request.app.state.tandem, principal_of(request), import_id)
    except TandemError as exc:
        status, detail = explain(exc)
        return _imports_page(request, status, error=detail)
    return _imports_page(request, message=done.summary() + ".")


@router.post(
    "/api/imports/{import_id}/undo",
    openapi_extra=access(Permission.IMPORT),
    tags=["imports"],
    responses={
        404: {"description": "No import of this number."},
        409: {"description": "Already undone, itself an undo, or later imports depend on it (the detail names them)."},
    },
)
def api_undo(
    request: Request,
    import_id: ImportNumber,
    dry_run: Annotated[bool, Query(description="Say what the undo would do; change nothing.")] = False,
) -> dict[str, Any]:
    """Undo an import, as `tandem imports undo N`: the rows it added are removed and the rows it replaced put back,
    in one transaction, audited and logged as a new import. Answers ``{"undo": {import_id, undo_id, table, file,
    sha256, removed: {table: rows}, restored: {table: rows}, dry_run}}``."""
    done = undo_as(request.app.state.tandem, principal_of(request), import_id, dry_run=dry_run)
    return {"undo": done.as_dict()}
