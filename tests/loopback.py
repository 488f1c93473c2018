"""Fixtures for CLI tests against the loopback VTEX server: one server per module, no real
retry waits, and a `run` that invokes the CLI with the store's routes and a private state dir.

A plugin of tests/conftest.py: a module that defines its own `server` or `run` keeps them. A
module opts in to the retry waits' fixture with `pytestmark = pytest.mark.usefixtures(
"no_real_waits")`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

import assistant.vtex.recording as recording
from assistant.vtex import VtexClient
from tests.test_online import KEY, TOKEN, Run
from tests.vtex_server import VtexServer


@pytest.fixture(scope="module")
def server() -> Iterator[VtexServer]:
    with VtexServer(require_keys=(KEY, TOKEN)) as running:
        yield running


@pytest.fixture
def no_real_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A route answering 500 is retried; the client's backoff (3.5 s a lookup) is not slept."""
    no_sleep = functools.partial(VtexClient, sleep=lambda _: None)
    monkeypatch.setattr(recording, "VtexClient", no_sleep)


@pytest.fixture
def run(server: VtexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("ORDER_ASSISTANT_STATE_DIR", str(tmp_path / "state"))
    return Run(server)
