"""Data in: ``tandem import`` (validated, atomic, idempotent), ``tandem imports`` (the log, the document
``GET /api/imports`` answers: `tandem.questions.ImportsQuestion`), ``tandem mappings``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from tandem.commands.common import Format, FormatOption, WorkspaceOption, err, open_workspace, out, print_json
from tandem.warehouse.schema import TABLES

__all__ = ["import_", "imports", "mappings"]


def import_(
    kind: Annotated[str, typer.Argument(metavar="KIND", help=f"Canonical table: {', '.join(TABLES)}.")],
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help="CSV or Parquet files (all imported, or none).")],
    mapping: Annotated[
        str | None,
        typer.Option(metavar="NAME|FILE", help="Preset name (see `tandem mappings`) or TOML mapping file."),
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import valid rows; write rejected ones with reasons to FILE.rejected.csv.")
    ] = False,
    create_missing: Annotated[
        bool, typer.Option(help="Create leads named by events but not imported yet (instead of rejecting).")
    ] = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Import files into a canonical table: validated, atomic, idempotent."""
    with open_workspace(workspace) as ws:
        big = sum(f.stat().st_size for f in files if f.is_file()) >= ws.settings["import_progress_min_bytes"]
        if big and err.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err) as bar:
                task = bar.add_task("importing", total=None)
                results = ws.import_files(
                    kind,
                    files,
                    mapping=mapping,
                    skip_invalid=skip_invalid,
                    create_missing=create_missing,
                    progress=lambda phase, _done, _total: bar.update(task, description=phase),
                )
        else:
            results = ws.import_files(
                kind, files, mapping=mapping, skip_invalid=skip_invalid, create_missing=create_missing
            )
    if format is Format.json:
        print_json(
            {
                "imports": [
                    {
                        "import_id": r.import_id,
                        "table": r.table,
                        "file": r.file,
                        "sha256": r.sha256,
                        "rows_read": r.rows_read,
                        "added": r.added,
                        "updated": r.updated,
                        "unchanged": r.unchanged,
                        "rejected": r.rejected,
                        "filtered": r.filtered,
                        "created_leads": r.created_leads,
                        "new_attributes": r.new_attributes,
                        "rejects_file": r.rejects_path,
                    }
                    for r in results
                ]
            }
        )
        return
    for r in results:
        out.print(f"import #{r.import_id}: {r.summary()}", highlight=False)
        if r.new_attributes:
            out.print(f"  new attributes kept: {', '.join(r.new_attributes)}", highlight=False)
        if r.encoding and r.encoding != "utf-8":
            out.print(f"  read as {r.encoding}", highlight=False)
        if r.rejects_path:
            err.print(f"  rejected rows and reasons: {r.rejects_path}", highlight=False)


def imports(
    workspace: WorkspaceOption = None,
    limit: Annotated[int, typer.Option(metavar="N", help="How many to list, newest first (1-1000).")] = 50,
    format: FormatOption = Format.table,
) -> None:
    """List past imports: when, who, file, sha256, rows added/updated/rejected."""
    from tandem.questions import ImportsQuestion, ask

    question = ImportsQuestion.parse(limit=limit)
    with open_workspace(workspace) as ws:
        document = ask(ws, question)
    if format is Format.json:
        print_json(document)
        return
    table = RichTable("#", "when (UTC)", "who", "table", "file", "sha256", "added", "updated", "unchanged", "rejected")
    for r in document["imports"]:
        table.add_row(
            str(r["import_id"]),
            (r["finished_at"] or "")[:19].replace("T", " "),
            r["actor"],
            r["table_name"],
            r["file_name"],
            r["sha256"][:12],
            f"{r['added']:,}",
            f"{r['updated']:,}",
            f"{r['unchanged']:,}",
            f"{r['rejected']:,}",
        )
    out.print(table)


def mappings() -> None:
    """List the mapping presets shipped with tandem (HubSpot, Salesforce exports)."""
    from tandem.warehouse.mapping import list_presets

    table = RichTable("preset", "description")
    for name, description in list_presets().items():
        table.add_row(name, description)
    out.print(table)
