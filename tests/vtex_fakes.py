"""Fakes shared by the VTEX client tests: distinctive secrets, a fake clock, a respx router and a
client factory. Registered as a pytest plugin in tests/conftest.py, so the fixtures are there for
every test module that asks for them."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from assistant.vtex import VtexClient, VtexConfig

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "vtex"

# Distinctive, so a leak anywhere is found by a plain substring search.
TOKEN = "TOKEN-qz7Xk2-never-print-me-9Rw"
KEY = "vtexappkey-mystore-KEYq8Lm3"
ENV = {"VTEX_ACCOUNT": "mystore", "VTEX_APP_KEY": KEY, "VTEX_APP_TOKEN": TOKEN}
BASE = "https://mystore.vtexcommercestable.com.br"
WALL_NOW = 1_700_000_000.0

# One TLS context for every test client: building one per httpx.Client costs ~50 ms. respx
# mocks below the transport (httpcore), so these clients never open a socket.
_TLS = ssl.create_default_context()


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class FakeTime:
    """Monotonic clock and sleep in one: sleeping advances the clock and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_time: FakeTime) -> Iterator[Callable[..., VtexClient]]:
    made: list[VtexClient] = []

    def make(env: dict[str, str] | None = None, **options: Any) -> VtexClient:
        options = {"sleep": fake_time.sleep, "clock": fake_time, **options}
        options.setdefault("transport", httpx.HTTPTransport(verify=_TLS))
        client = VtexClient(VtexConfig.from_env(env or ENV), wall_clock=lambda: WALL_NOW, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., VtexClient]) -> VtexClient:
    return make_client()


@pytest.fixture
def vtex() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE) as router:
        yield router
