"""Where the web app keeps an upload while it is imported: a fresh folder under the workspace's ``.uploads``.

Each folder holds a ``.owner`` file with the server's process number. A folder is removed when its import ends; a
server killed mid-import leaves its folder behind, and the next server to start on the workspace removes every folder
whose owner is no longer running (`clean_stale`), so uploads never pile up in the temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["UPLOADS", "clean_stale", "upload_folder"]

#: The folder, inside the workspace, that holds uploads in progress.
UPLOADS = ".uploads"
_OWNER = ".owner"
_PREFIX = "upload-"


@contextlib.contextmanager
def upload_folder(workspace: Path) -> Iterator[Path]:
    """A fresh folder for one upload, owned by this process, removed on leaving (whatever happened)."""
    root = workspace / UPLOADS
    root.mkdir(mode=0o700, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=root))
    try:
        (folder / _OWNER).write_text(str(os.getpid()), encoding="ascii")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def clean_stale(workspace: Path) -> list[Path]:
    """Remove the upload folders whose server process is gone (killed mid-import); returns the folders removed."""
    root = workspace / UPLOADS
    if not root.is_dir():
        return []
    removed: list[Path] = []
    for folder in sorted(root.glob(f"{_PREFIX}*")):
        try:
            pid = int((folder / _OWNER).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            pid = 0  # no owner written: the server died before it could write one
        if pid == os.getpid() or (pid and _running(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
