"""Shared fixtures: run the CLI as a user would, and the built-in rulebook loaded once."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer.testing
from typer.testing import CliRunner, Result

from assistant.cli import app
from assistant.diagnose import Diagnoser, compile_rulebook

# The VTEX client fakes and their fixtures (fake_time, make_client, client, vtex), and the
# loopback server's CLI fixtures (server, run, no_real_waits).
pytest_plugins = ["tests.vtex_fakes", "tests.loopback"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
DATA = Path(__file__).resolve().parent / "data"

RunCli = Callable[..., Result]


@pytest.fixture(scope="session", autouse=True)
def _build_each_cli_once() -> Iterator[None]:
    """typer's CliRunner turns the Typer app into a click command on every invoke: ~10 ms, a
    fifth of a typical CLI test, paid over a thousand times a run. The app is the same object
    throughout, so each worker builds its command once. (A typer without that helper name
    rebuilds every time, as before: slower, never wrong.)"""
    build = getattr(typer.testing, "_get_command", None)
    if build is None:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", functools.cache(build))
        yield


@pytest.fixture
def run_cli() -> RunCli:
    """Invoke `order-assistant ARGS...`; stdout and stderr are kept apart (result.stdout,
    result.stderr). Colour is off so assertions see plain text."""
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "120"})

    def run(*args: str, input: str | bytes | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def diagnoser() -> Diagnoser:
    # One engine per test session: durable_rules cannot unload a ruleset (see engine.py).
    return compile_rulebook()
