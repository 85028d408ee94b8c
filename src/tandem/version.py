"""tandem's version, in one place: the package metadata (pyproject.toml reads it), `tandem --version`, the web app
and the alerts' User-Agent all take it from here.

A module of its own, importing nothing, so that any layer can name the version without importing `tandem` itself
(whose ``__init__`` opens the whole public API, workspace included).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
