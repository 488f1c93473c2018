"""`order-assistant triage`: a backlog at once, grouped by cause, each distinct lookup once."""

from __future__ import annotations

import csv
import functools
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

import assistant.vtex.recording as recording
from assistant.cli import app
from assistant.diagnose import Diagnoser
from assistant.errors import InputError
from assistant.models import Diagnosis, ErrorInfo, OrderContext
from assistant.report import TriageWriter
from assistant.triage import BulkOrder, Summary, Triaged, read_orders, triage
from assistant.triage.run import concurrently
from assistant.vtex import VtexClient, VtexConfig
from tests.conftest import RunCli
from tests.vtex_server import VtexServer, env_for
from tests.vtex_store import Sku, Store

HEADER = "order_id,error_message,sku_id,quantity,postal_code,country,affiliate_id\n"


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), "utf-8")
    return path


@pytest.fixture
def backlog(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "orders.csv",
        [
            "702-1,Inactive SKU,1070,2,,,MZN",
            "702-2,Order with SKU out of stock,1070,1,01310-100,BRA,MZN",
            "702-2,Order with SKU out of stock,2231,3,01310-100,BRA,MZN",
            "702-3,Something nobody documented,1070,1,,,MZN",
            "702-4,SKU inativo,3301,1,,,MZN",
        ],
    )


def test_offline_summary_counts_orders_by_error_and_finding(run_cli: RunCli, backlog: Path) -> None:
    result = run_cli("triage", str(backlog), "--offline", "--json")
    document = json.loads(result.stdout)
    summary = document["summary"]
    assert summary["orders"] == 4  # the two rows of 702-2 are one order
    assert summary["by_error_code"] == {"sku_inactive": 2, "sku_out_of_stock": 1, "unrecognized": 1}
    assert summary["by_finding_code"]["sku_inactive"] == 3
    # Offline nothing is checked, so no order's store side can be called clean or confirmed.
    assert summary["by_verdict"] == {"action_needed": 0, "undecided": 4, "clean": 0}
    assert summary["blocked_on_store"] == 3
    merged = next(o for o in document["orders"] if o["order_id"] == "702-2")
    assert merged["row"] == 3
    assert {f["sku_id"] for f in merged["findings"]} == {"1070", "2231"}
    assert document["bad_rows"] == []
    assert result.exit_code == 3  # some orders could not be decided


def test_top_skus_rank_by_blocked_orders_then_units(run_cli: RunCli, backlog: Path) -> None:
    top = json.loads(run_cli("triage", str(backlog), "--offline", "--json").stdout)["summary"][
        "top_skus"
    ]
    assert [(t["sku_id"], t["orders"], t["units"]) for t in top] == [
        ("1070", 2, 3),
        ("2231", 1, 3),
        ("3301", 1, 1),
    ]


def test_bad_rows_are_reported_and_skipped(run_cli: RunCli, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        [
            "702-1,Inactive SKU,1070,2,,,MZN",
            "702-2,Inactive SKU,1071,x,,,MZN",
            ",Inactive SKU,1072,1,,,MZN",
            "702-4,Inactive SKU,1073,1,,,MZN",
        ],
    )
    result = run_cli("triage", str(path), "--offline", "--json")
    document = json.loads(result.stdout)
    assert [o["order_id"] for o in document["orders"]] == ["702-1", "702-4"]
    assert [(b["row"], b["field"]) for b in document["bad_rows"]] == [
        (3, "quantity"),
        (4, "order_id"),
    ]
    assert f"{path}: row 3: quantity" in result.stderr
    assert result.exit_code == 2


def test_terminal_summary_and_csv_output(run_cli: RunCli, backlog: Path, tmp_path: Path) -> None:
    out = tmp_path / "findings.csv"
    result = run_cli("triage", str(backlog), "--offline", "--csv", str(out))
    assert "4 orders triaged" in result.stdout
    assert "Orders by error" in result.stdout
    assert "Top SKUs to fix" in result.stdout
    with out.open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert {r["order_id"] for r in rows} == {"702-1", "702-2", "702-3", "702-4"}
    unrecognized = [r for r in rows if r["order_id"] == "702-3"]
    assert unrecognized == [
        {
            "row": "5",
            "order_id": "702-3",
            "error_code": "unrecognized",
            "finding": "",
            "sku_id": "",
            "status": "",
            "owner": "",
            "playbook": "",
        }
    ]


def test_column_mapping_for_other_exports(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Pedido,Mensagem,Itens\n702-9,SKU inativo,1070:2;2231\n", "utf-8")
    result = run_cli(
        "triage",
        str(path),
        "--offline",
        "--json",
        "--column",
        "order_id=Pedido",
        "--column",
        "error_message=Mensagem",
        "--column",
        "items=Itens",
    )
    (entry,) = json.loads(result.stdout)["orders"]
    assert entry["order_id"] == "702-9"
    assert [f["sku_id"] for f in entry["findings"]] == ["1070", "2231"]


def test_missing_file_is_a_usage_error(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("triage", str(tmp_path / "nope.csv"), "--offline")
    assert result.exit_code == 2
    assert "nope.csv" in result.stderr
    assert "Traceback" not in result.stderr


def test_progress_bar_only_on_a_terminal(backlog: Path) -> None:
    rulebook_diagnoser = _diagnoser()
    for terminal in (False, True):
        errors = io.StringIO()
        console = Console(file=errors, force_terminal=terminal, width=80)
        summary = Summary()
        with TriageWriter(
            io.StringIO(), console, summary, json_output=True, csv_path=None, online=False
        ) as writer:
            for result in triage(read_orders(backlog), rulebook_diagnoser):
                summary.add(result)
                writer.write(result)
        assert ("orders" in errors.getvalue()) is terminal


def test_interrupt_prints_the_partial_summary_and_exits_130(
    run_cli: RunCli, backlog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assistant.triage as triage_module

    real = triage_module.triage

    def interrupted(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for count, result in enumerate(real(*args, **kwargs)):
            if count == 2:
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(triage_module, "triage", interrupted)
    result = run_cli("triage", str(backlog), "--offline", "--json")
    assert result.exit_code == 130
    document = json.loads(result.stdout)  # still one whole JSON document
    assert document["summary"]["interrupted"] is True
    assert document["summary"]["orders"] == 2


@pytest.mark.slow
def test_a_large_file_streams_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for n in range(200_000):
            out.write(f"702-{n},Inactive SKU,{1000 + n % 500},{1 + n % 3},,,MZN\n")
    diagnoser = _diagnoser()
    summary = Summary()
    before, evaluated = _rss_mb(), diagnoser.evaluations
    for result in triage(read_orders(path), diagnoser):
        summary.add(result)
    grown = _rss_mb() - before
    assert summary.orders == 200_000
    assert diagnoser.evaluations - evaluated <= 3  # one situation, evaluated once
    # 200,000 diagnoses kept in memory would be hundreds of MB; the SKU table is 500 rows.
    assert grown < 40, f"RSS grew by {grown:.0f} MB"


# ---- online ---------------------------------------------------------------------------------


class _InFlight(httpx.HTTPTransport):
    """Counts requests in flight at once, to check the concurrency bound."""

    lock = threading.Lock()
    now = 0
    peak = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with _InFlight.lock:
            _InFlight.now += 1
            _InFlight.peak = max(_InFlight.peak, _InFlight.now)
        try:
            return super().handle_request(request)
        finally:
            with _InFlight.lock:
                _InFlight.now -= 1


def _online_run(server: VtexServer, path: Path, *args: str) -> Result:
    env = {**env_for(server), "NO_COLOR": "1", "COLUMNS": "120"}
    return CliRunner(env=env).invoke(
        app, ["triage", str(path), "--json", *args], catch_exceptions=False
    )


def test_online_each_distinct_lookup_is_made_once_and_concurrency_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(simulation="no_sla", covered=False)
    for sku in range(10):
        store.add(Sku(str(2000 + sku), active=sku % 2 == 0))
    rows = [
        f"702-{n},Order with SKU out of stock,{2000 + n % 10},1,01310-100,BRA,MZN"
        for n in range(60)
    ]
    path = write_csv(tmp_path / "orders.csv", rows)
    monkeypatch.setattr(recording.httpx, "HTTPTransport", _InFlight)
    _InFlight.now = _InFlight.peak = 0
    with VtexServer(store.scenario(), latency=0.02) as server:
        result = _online_run(server, path, "--concurrency", "4")
        targets = [
            (r.method, r.target, json.dumps(r.body, sort_keys=True)) for r in server.requests
        ]
    assert len(targets) == len(set(targets))  # the floor: every distinct lookup once
    # 10 SKUs x (SKU, product policies, inventory) + affiliate, trade policy, docks,
    # warehouses + one simulation per distinct SKU + the dock's shipping policy and its freight
    # values for the one postal code (shared by every SKU).
    assert len(targets) == 10 * 3 + 4 + 10 + 2
    assert 1 < _InFlight.peak <= 4
    summary = json.loads(result.stdout)["summary"]
    assert summary["orders"] == 60
    assert summary["by_finding_code"]["sku_inactive"] == 30
    assert result.exit_code == 1


def test_online_rate_limit_spaces_requests(tmp_path: Path) -> None:
    waits: list[float] = []
    clock = [0.0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    store = Store().add(Sku("1070", active=False))
    with VtexServer(store.scenario()) as server:
        config = VtexConfig.from_env(env_for(server))
        path = write_csv(tmp_path / "one.csv", ["702-1,SKU without trade policy,1070,1,,,MZN"])
        with VtexClient(
            config, requests_per_second=5.0, burst=1, sleep=sleep, clock=lambda: clock[0]
        ) as client:
            list(triage(read_orders(path), _diagnoser(), client, concurrency=2))
        sent = len(server.requests)
    assert sent >= 3
    assert sum(waits) == pytest.approx((sent - 1) / 5.0, rel=0.01)


@functools.cache
def _diagnoser() -> Diagnoser:
    from assistant.diagnose import compile_rulebook

    return compile_rulebook()


def _rss_mb() -> float:
    import resource

    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / (1024 * 1024)


def test_online_orders_read_before_a_broken_file_are_still_reported() -> None:
    """A workbook that breaks partway: every order read before the damage is reported (in
    order) before the error, however far reading ran ahead of checking."""

    def rows() -> Iterator[BulkOrder]:
        for n in range(200):
            yield BulkOrder(n + 2, OrderContext(order_id=f"702-{n}", error_message="Inactive SKU"))
        raise InputError("orders.xlsx", "the workbook is damaged", row=202)

    def diagnose(order: BulkOrder) -> Diagnosis:
        return Diagnosis(
            order_id=order.context.order_id,
            mode="online",
            error=ErrorInfo(code="sku_inactive", title="t", message="Inactive SKU"),
            findings=[],
            checks=[],
            next_steps=[],
        )

    seen: list[str] = []

    def consume() -> None:
        for result in concurrently(rows(), diagnose, 4, cancel=lambda: None):
            assert isinstance(result, Triaged)
            seen.append(result.diagnosis.order_id)

    with pytest.raises(InputError, match="damaged"):
        consume()
    assert seen == [f"702-{n}" for n in range(200)]
