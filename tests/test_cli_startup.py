"""The `tandem` command starts at once and says what went wrong in one line.

Importing the command line loads typer, rich and tandem's own light modules, nothing of the engine, the stores,
the web app or the models: each command imports what it needs when it runs (see `tandem.cli`). These tests run
real processes, so that what a module pulls in is seen from a fresh interpreter. Nothing here times anything:
benchmarks/bench_startup.py measures.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tandem
from tandem.cli import COMMANDS

from .test_cli import run

#: Libraries that take a noticeable time to import; none is needed to parse a command line or print help.
HEAVY = {
    "fastapi",
    "starlette",
    "uvicorn",
    "alembic",
    "sqlalchemy",
    "sklearn",
    "scipy",
    "altair",
    "vl_convert",
    "pandas",
    "numpy",
    "ibis",
    "duckdb",
    "pyarrow",
    "jinja2",
    "argon2",
    "lark",
    "yaml",
    "pydantic",
}
#: What a funnel question has no use for: the web app and its charts, the models behind the suggestions.
NOT_FOR_A_FUNNEL = {"fastapi", "starlette", "uvicorn", "jinja2", "altair", "vl_convert", "sklearn", "scipy"}
GROUPS = ["users", "tokens", "audit", "definitions", "goal", "plan", "forecast", "alerts"]


def loaded_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-startup") / "ws"
    assert run("init", folder).returncode == 0
    return folder


def test_importing_the_cli_loads_no_heavy_library() -> None:
    assert loaded_after("import tandem.cli") & HEAVY == set()


def test_importing_tandem_loads_no_heavy_library_until_a_name_is_used() -> None:
    assert loaded_after("import tandem") & HEAVY == set()
    assert "pydantic" in loaded_after("import tandem; tandem.Workspace")


@pytest.mark.parametrize("name", tandem.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(tandem, name) is not None
    assert name in dir(tandem)


def test_the_flat_api_is_the_workspace_modules() -> None:
    from tandem.workspace import Workspace, open_workspace

    assert tandem.open is tandem.open_workspace is open_workspace
    assert tandem.Workspace is Workspace
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = tandem.nothing_here  # type: ignore[attr-defined]


def test_a_funnel_question_loads_neither_the_web_app_nor_the_models(ws: Path) -> None:
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['tandem', 'funnel', '--format', 'json', '-w', {str(ws)!r}]\n"
        "try:\n    runpy.run_module('tandem.cli', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code"
    )
    assert loaded_after(code) & NOT_FOR_A_FUNNEL == set()


#: What answering from a stored compiled query has no use for: Ibis and its SQL compiler, and the columnar stack
#: (DuckDB's own Python values are the rows).
COMPILER_AND_ARROW = {"ibis", "sqlglot", "pandas", "pyarrow", "numpy"}


def test_a_funnel_asked_again_in_a_new_process_loads_neither_the_compiler_nor_arrow(ws: Path) -> None:
    question = ["funnel", "--by", "channel", "--period", "month", "--format", "json", "-w", ws]
    first = run(*question)
    assert first.returncode == 0, first.stderr
    assert list((ws / ".tandem" / "queries").glob("*.json"))  # the first run stored its compiled query
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['tandem', *{[str(part) for part in question]!r}]\n"
        "try:\n    runpy.run_module('tandem.cli', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code"
    )
    assert loaded_after(code) & COMPILER_AND_ARROW == set()
    again = run(*question)
    assert json.loads(again.stdout)["rows"] == json.loads(first.stdout)["rows"]


def test_a_bad_date_is_one_line_naming_the_flag_and_a_usage_error(ws: Path) -> None:
    done = run("funnel", "--from", "2026-13-01", "-w", ws)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: --from: '2026-13-01' is not a date")
    assert done.stdout == ""


def test_a_field_is_named_as_the_running_command_names_it() -> None:
    from tandem.cli import app
    from tandem.commands.common import flag_for, invoked

    funnel, leads, velocity = (invoked(app, [name]) for name in ("funnel", "leads", "velocity"))
    assert flag_for("start", funnel) == "--from"  # the question's field, the command's flag
    assert flag_for("horizon_days", funnel) == "--horizon"
    assert flag_for("stage", leads) == "--stage"  # an option of that name
    assert flag_for("from_stage", velocity) == "FROM_STAGE"  # a positional argument, as its help names it
    assert flag_for("version", invoked(app, ["definitions", "show"])) == "--version"
    assert flag_for("version") == "--definitions"  # a question's definitions version
    assert flag_for("signal_window") == "--signal-window"


def test_in_process_the_app_lets_the_error_through_to_its_caller(ws: Path) -> None:
    from typer.testing import CliRunner

    from tandem.cli import app
    from tandem.errors import ConfigError

    done = CliRunner().invoke(app, ["leads", "--stage", "deal", "-w", str(ws)])
    assert isinstance(done.exception, ConfigError)
    assert "unknown stage 'deal'" in str(done.exception)


def test_a_refusal_about_no_field_stays_a_failed_request(ws: Path) -> None:
    done = run("definitions", "show", "--version", "99", "-w", ws)
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["error: no definitions version 99; the versions are 1 to 1"]


def test_a_value_the_question_refuses_for_a_field_names_its_flag(ws: Path) -> None:
    done = run("funnel", "--window", "0", "-w", ws)
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["error: --window: 0 is too small; use 1 or more"]


def test_help_lists_every_command_and_command_group() -> None:
    done = run("--help")
    assert done.returncode == 0
    listed = re.findall(r"^[│|] (\S+)\s", done.stdout, re.M)
    assert [name for name in listed if not name.startswith("-")] == list(COMMANDS)
    assert set(GROUPS) <= set(COMMANDS)


@pytest.mark.parametrize("command", [["funnel"], ["velocity"], ["plan", "waterfall"], ["users", "add"]])
def test_help_shows_what_each_option_takes_not_its_python_type(command: list[str]) -> None:
    done = run(*command, "--help", env={"COLUMNS": "100"})
    assert done.returncode == 0
    params = [line for line in done.stdout.splitlines() if re.match(r"^[│|] +(-|\*? +[A-Z])", line)]
    assert params
    assert not [line for line in params if re.search(r"<\w+( range)?>|<list\[", line)]  # Typer's placeholders


def test_help_shows_a_flag_bare_and_an_option_with_what_it_takes() -> None:
    shown = run("funnel", "--help", env={"COLUMNS": "100"}).stdout
    assert re.search(r"--strict +Count only leads", shown)
    assert re.search(r"--from +DATE +First day included", shown)
    assert re.search(r"--format +\[table\|json\|csv\] +Output format", shown)


def test_help_keeps_brackets_and_joins_the_lines_of_a_docstring() -> None:
    waterfall = run("plan", "waterfall", "--help", env={"COLUMNS": "200"}).stdout
    assert "NAME=SHARE[@COST_PER_LEAD]" in waterfall
    assert "in a workspace, what is not given comes from its history" in waterfall
    listing = run("definitions", "--help", env={"COLUMNS": "200"}).stdout
    assert "how the added ones converted, and the expected effect on the next stage" in listing


def test_the_cli_names_the_domains_own_vocabularies_from_light_modules() -> None:
    """The roles and the alert statuses the commands offer are the domain's own, not copies, and the modules that
    hold them load nothing heavy: the CLI starts without importing accounts (argon2) or the alerts service."""
    from tandem import accounts, alerts
    from tandem.commands import accounts as account_commands
    from tandem.commands import alerts as alert_commands

    assert account_commands.Role is accounts.Role
    assert alert_commands.HISTORY_STATUSES is alerts.HISTORY_STATUSES
    assert loaded_after("import tandem.roles, tandem.alerts.history") & HEAVY == set()
    assert loaded_after("import tandem.commands.accounts, tandem.commands.alerts") & HEAVY == set()


def test_importing_accounts_computes_no_password_hash() -> None:
    """The hash an unknown user's sign-in is checked against takes time: made on first use, not at import."""
    code = "import tandem.accounts as accounts\nassert accounts._dummy_hash.cache_info().currsize == 0"
    loaded_after(code)
