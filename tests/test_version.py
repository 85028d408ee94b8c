"""One version, in `tandem.version`: the package, its metadata source and the alerts' User-Agent all read it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tandem
from tandem.version import __version__

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_written_once_and_read_by_the_package_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tandem.version.__version__"}
    assert tandem.__version__ is __version__  # the same object: re-exported, not written again
