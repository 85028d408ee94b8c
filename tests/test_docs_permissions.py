"""The permission table in docs/web-app.md is the one the code enforces."""

from __future__ import annotations

from tandem.accounts import PERMISSION_ROLES, Permission, Role

from .conftest import REPO


def documented_permissions() -> dict[str, set[str]]:
    lines = (REPO / "docs" / "web-app.md").read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| permission |"))
    roles = [cell.strip() for cell in lines[header].strip("|").split("|")[1:-1]]
    table: dict[str, set[str]] = {}
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        table[cells[0]] = {role for role, cell in zip(roles, cells[1:-1], strict=True) if cell == "yes"}
    return table


def test_the_documented_permission_table_matches_the_code() -> None:
    expected = {p.value: {str(r) for r in PERMISSION_ROLES[p]} for p in Permission}
    assert documented_permissions() == expected
    assert set(next(iter(documented_permissions().values()))) <= {str(r) for r in Role}
