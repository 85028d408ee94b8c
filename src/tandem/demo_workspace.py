"""`tandem demo`: generate the demo company and load it through the same import path users use."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from tandem.errors import WorkspaceError
from tandem.workspace import CONFIG_FILE, Workspace, init_workspace, open_workspace

__all__ = ["IMPORT_ORDER", "build_demo"]

#: Referenced tables first: stage events and activities need their leads.
IMPORT_ORDER = (
    "accounts",
    "campaigns",
    "leads",
    "stage_events",
    "opportunities",
    "touches",
    "spend",
    "activities",
)


def build_demo(
    folder: Path,
    *,
    leads: int | None = None,
    seed: int | None = None,
    today: date | None = None,
    echo: Callable[[str], None] = print,
) -> Workspace:
    """Create (or refresh) a demo workspace in `folder`.

    The company is written as canonical Parquet files in ``folder/demo-data`` and imported table by table.
    Running it again on the same folder re-imports: with the same seed on the same day nothing changes, which is
    the import's idempotency at work.
    """
    from tandem.demo import generate_company

    if (folder / CONFIG_FILE).exists():
        workspace = open_workspace(folder)
    elif folder.exists() and any(folder.iterdir()):
        raise WorkspaceError(f"{folder} exists and is not a tandem workspace; choose another --workspace")
    else:
        workspace = init_workspace(folder, name="demo company")
    n_leads = leads if leads is not None else int(workspace.settings["demo_leads"])
    n_seed = seed if seed is not None else int(workspace.settings["demo_seed"])
    if n_leads < 100:
        raise WorkspaceError(f"--leads must be at least 100 for a meaningful demo, got {n_leads}")
    started = time.perf_counter()
    echo(f"generating a demo company: {n_leads:,} leads, seed {n_seed} ...")
    files = generate_company(folder / "demo-data", leads=n_leads, seed=n_seed, today=today, stages=workspace.stages)
    echo(f"  generated in {time.perf_counter() - started:.1f} s")
    for kind in IMPORT_ORDER:
        step = time.perf_counter()
        (result,) = workspace.import_files(kind, [files[kind]])
        echo(f"  {result.summary()} ({time.perf_counter() - step:.1f} s)")
    echo(f"demo ready in {time.perf_counter() - started:.1f} s")
    return workspace
