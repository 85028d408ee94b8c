"""tandem: sales and marketing on one revenue goal.

The public API is flat::

    import tandem
    ws = tandem.init_workspace("acme")                 # or tandem.open_workspace("acme")
    ws.import_files("leads", ["leads.csv"], mapping="hubspot-contacts")
    ws.status()

Each name is loaded on first use (PEP 562), so that ``import tandem``, and the command line that imports it,
does not pay for the workspace, the engine and the stores until something asks for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from tandem.version import __version__

if TYPE_CHECKING:
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

#: Public name -> (module, attribute) it is loaded from on first use.
_LAZY: dict[str, tuple[str, str]] = {
    "ConfigError": ("tandem.errors", "ConfigError"),
    "ImportValidationError": ("tandem.errors", "ImportValidationError"),
    "Issue": ("tandem.errors", "Issue"),
    "MappingError": ("tandem.errors", "MappingError"),
    "TandemError": ("tandem.errors", "TandemError"),
    "WorkspaceError": ("tandem.errors", "WorkspaceError"),
    "ImportResult": ("tandem.warehouse.importer", "ImportResult"),
    "Mapping": ("tandem.warehouse.mapping", "Mapping"),
    "list_presets": ("tandem.warehouse.mapping", "list_presets"),
    "load_mapping": ("tandem.warehouse.mapping", "load_mapping"),
    "DEFAULT_STAGES": ("tandem.warehouse.schema", "DEFAULT_STAGES"),
    "TABLES": ("tandem.warehouse.schema", "TABLES"),
    "Workspace": ("tandem.workspace", "Workspace"),
    "init_workspace": ("tandem.workspace", "init_workspace"),
    "open_workspace": ("tandem.workspace", "open_workspace"),
    "open": ("tandem.workspace", "open_workspace"),
}


def __getattr__(name: str) -> Any:
    """Load a public name on first use and keep it, so the next access is a plain attribute."""
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'tandem' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
