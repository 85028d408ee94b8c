"""tandem: sales and marketing on one revenue goal.

The public API is flat::

    import tandem
    ws = tandem.init_workspace("acme")                 # or tandem.open_workspace("acme")
    ws.import_files("leads", ["leads.csv"], mapping="hubspot-contacts")
    ws.status()
"""

from __future__ import annotations

__version__ = "0.1.0"

from tandem.errors import (
    ConfigError,
    ImportValidationError,
    Issue,
    MappingError,
    TandemError,
    WorkspaceError,
)
from tandem.warehouse.importer import ImportResult
from tandem.warehouse.mapping import Mapping, list_presets, load_mapping
from tandem.warehouse.schema import DEFAULT_STAGES, TABLES
from tandem.workspace import Workspace, init_workspace, open_workspace

open = open_workspace

__all__ = [
    "DEFAULT_STAGES",
    "TABLES",
    "ConfigError",
    "ImportResult",
    "ImportValidationError",
    "Issue",
    "Mapping",
    "MappingError",
    "TandemError",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "init_workspace",
    "list_presets",
    "load_mapping",
    "open",
    "open_workspace",
]
