"""Data in: ``tandem import`` (validated, atomic, idempotent), ``tandem imports`` (the log, the document
``GET /api/imports`` answers: `tandem.questions.ImportsQuestion`) and ``tandem imports undo N``
(`tandem.warehouse.undo`), ``tandem mappings`` and ``tandem mappings show NAME``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from tandem.commands.common import (
    Format,
    FormatOption,
    WorkspaceOption,
    cli_actor,
    err,
    open_workspace,
    out,
    print_json,
)
from tandem.warehouse.schema import TABLES

__all__ = ["import_", "imports", "imports_app", "mappings", "mappings_app"]

imports_app = typer.Typer(
    help="List past imports (newest first), or undo one: tandem imports undo N.", invoke_without_command=True
)
mappings_app = typer.Typer(
    help="The mapping presets shipped with tandem; tandem mappings show NAME for one.", invoke_without_command=True
)


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
    lenient: Annotated[
        bool,
        typer.Option(
            "--lenient",
            help="Import a file that lacks most of the columns its mapping expects (refused otherwise, as the wrong "
            "file); mapped columns it lacks are left empty.",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Import files into a canonical table: validated, atomic, idempotent."""
    if lenient:
        from tandem.warehouse.mapping_checks import lenient as lenient_mapping

        chosen: Any = lenient_mapping(mapping)
    else:
        chosen = mapping
    with open_workspace(workspace) as ws:
        big = sum(f.stat().st_size for f in files if f.is_file()) >= ws.settings["import_progress_min_bytes"]
        if big and err.is_terminal:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err) as bar:
                task = bar.add_task("importing", total=None)
                results = ws.import_files(
                    kind,
                    files,
                    mapping=chosen,
                    skip_invalid=skip_invalid,
                    create_missing=create_missing,
                    progress=lambda phase, _done, _total: bar.update(task, description=phase),
                )
        else:
            results = ws.import_files(
                kind, files, mapping=chosen, skip_invalid=skip_invalid, create_missing=create_missing
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
                        "derived": r.derived,
                        "left_out": r.left_out,
                        "unknown_leads": r.unknown_leads,
                        "note": r.note,
                        "missing_columns": r.missing_columns,
                        "earlier_imports": [
                            {"import_id": e.import_id, "tables": list(e.tables), "finished_at": e.finished_at}
                            for e in r.earlier
                        ],
                        "notes": r.notes(),
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
        if r.note:
            out.print(f"  {r.note}", highlight=False)
        if r.encoding and r.encoding != "utf-8":
            out.print(f"  read as {r.encoding}", highlight=False)
        if r.rejects_path:
            err.print(f"  rejected rows and reasons: {r.rejects_path}", highlight=False)
        for note in r.notes():
            (err if note.startswith("warning:") else out).print(f"  {escape(note)}", highlight=False)


@imports_app.callback()
def imports(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    limit: Annotated[int, typer.Option(metavar="N", help="How many to list, newest first (1-1000).")] = 50,
    format: FormatOption = Format.table,
) -> None:
    """List past imports: when, who, file, sha256, rows added/updated/rejected, and which were undone."""
    if ctx.invoked_subcommand is not None:
        return
    from tandem.questions import ImportsQuestion, ask

    question = ImportsQuestion.parse(limit=limit)
    with open_workspace(workspace) as ws:
        document = ask(ws, question)
    if format is Format.json:
        print_json(document)
        return
    table = RichTable(
        "#", "when (UTC)", "who", "table", "file", "sha256", "added", "updated", "unchanged", "rejected", "undo"
    )
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
            _undo_state(r),
        )
    out.print(table)


def _undo_state(row: dict[str, Any]) -> str:
    """The import log's undo column: an undone import names its undo, an undo what it undid and removed."""
    if row.get("undone_by") is not None:
        return f"undone by #{row['undone_by']}"
    if row.get("undo_of") is not None:
        return f"undo of #{row['undo_of']}: {row['removed'] or 0:,} removed"
    return ""


@imports_app.command("undo")
def imports_undo(
    number: Annotated[int, typer.Argument(metavar="N", help="The import's number (see `tandem imports`).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what the undo would remove and put back, change nothing.")
    ] = False,
    workspace: WorkspaceOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Undo import N: remove the rows it added and put back the rows it replaced, in one transaction (audited).
    Refused when a later import depends on it (undo that one first) or when it was undone already."""
    with open_workspace(workspace) as ws:
        done = ws.undo_import(number, actor=cli_actor(), dry_run=dry_run)
    if format is Format.json:
        print_json({"undo": done.as_dict()})
        return
    out.print(escape(done.summary()), highlight=False)
    out.print("Attribute columns the import created stay, empty where no other import filled them.", highlight=False)


@mappings_app.callback()
def mappings(ctx: typer.Context) -> None:
    """List the mapping presets shipped with tandem (HubSpot, Salesforce exports)."""
    if ctx.invoked_subcommand is not None:
        return
    from tandem.warehouse.mapping import list_presets

    table = RichTable("preset", "description")
    for name, description in list_presets().items():
        table.add_row(name, description)
    out.print(table)
    out.print("One preset in full: tandem mappings show NAME", highlight=False)


@mappings_app.command("show")
def mappings_show(
    name: Annotated[str, typer.Argument(metavar="NAME|FILE", help="A preset (see `tandem mappings`) or TOML file.")],
    toml: Annotated[
        bool, typer.Option("--toml", help="Print the mapping's TOML itself, to save as a file of your own and edit.")
    ] = False,
) -> None:
    """A mapping in words: its table, the columns a file must mostly have, how each canonical column is read, and
    how to copy it into a file of your own (--toml prints the TOML to save and edit)."""
    from tandem.warehouse.mapping import load_mapping
    from tandem.warehouse.mapping_checks import column_rules, expected_columns, mapping_source

    if toml:
        sys.stdout.write(mapping_source(name))
        return
    mapping = load_mapping(name)
    expected = expected_columns(mapping)
    lines = [
        f"{mapping.name}: {mapping.description}".rstrip(": "),
        f"table: {mapping.table or 'any (given on import)'}",
    ]
    lines.append(f"time zone: {mapping.timezone}")
    lines.append(
        f"expected columns ({len(expected)}; a file missing more than {len(expected) // 2} is refused "
        "unless --lenient; alternatives separated by |):"
    )
    lines += [f"  {' | '.join(group)}" for group in expected]
    lines.append("how each column is read:")
    lines += [f"  {column}: {rule}" for column, rule in column_rules(mapping)]
    stem = Path(name).stem if name.endswith(".toml") else name
    lines.append(
        f"to make it your own: tandem mappings show {name} --toml > my-{stem}.toml, edit it, then "
        f"tandem import {mapping.table or 'TABLE'} FILE --mapping my-{stem}.toml"
    )
    for line in lines:
        out.print(escape(line), highlight=False)
