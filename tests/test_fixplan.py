"""Bulk remediation (issue 14): `triage --plan`, `plan show`, `plan apply`, against the loopback
store: each distinct fix planned once, dry-run by default, exactly the planned writes with
--apply, idempotent, skipping what changed since, resumable after a kill, and the reprocess
list exactly the orders whose causes were all fixed."""

from __future__ import annotations

import csv
import functools
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from assistant.cli import app
from tests.vtex_server import VtexServer, env_for
from tests.vtex_store import AMAZON_WAREHOUSE, TRADE_POLICY, Sku, Store, fixture

INACTIVE = [str(1001 + n) for n in range(10)]  # activate each
OFF_POLICY = [str(2001 + n) for n in range(10)]  # link each product; 2001 and 2002 share one
OUT_OF_STOCK = [str(3001 + n) for n in range(5)]  # manual: restock
INACTIVE_AND_OUT = "3006"  # activated, but the order stays blocked on stock
HEALTHY = [str(4001 + n) for n in range(4)]
OPEN_TO_ALL = "5001"  # empty trade-policy list: every policy; never linked
SHARED_PRODUCT = "92001"
HEADER = "order_id,error_message,sku_id,quantity,postal_code,country,affiliate_id"
MESSAGES = {
    **dict.fromkeys(INACTIVE, "Inactive SKU"),
    **dict.fromkeys(OFF_POLICY, "SKU without trade policy"),
    **dict.fromkeys([*OUT_OF_STOCK, INACTIVE_AND_OUT], "Order with SKU out of stock"),
    **dict.fromkeys(HEALTHY, "Inactive SKU"),
    OPEN_TO_ALL: "SKU without trade policy",
}
SKUS = list(MESSAGES)
ORDERS = 300


def build_store() -> Store:
    store = Store()
    for sku_id in INACTIVE:
        store.add(Sku(sku_id, active=False))
    for sku_id in OFF_POLICY:
        shared = SHARED_PRODUCT if sku_id in ("2001", "2002") else None
        store.add(Sku(sku_id, trade_policies=["1"], product=shared))
    for sku_id in OUT_OF_STOCK:
        store.add(Sku(sku_id, stock={AMAZON_WAREHOUSE: (0, 0)}))
    store.add(Sku(INACTIVE_AND_OUT, active=False, stock={AMAZON_WAREHOUSE: (0, 0)}))
    for sku_id in HEALTHY:
        store.add(Sku(sku_id))
    store.add(Sku(OPEN_TO_ALL, trade_policies=[]))
    return store


def write_export(folder: Path, *orders: tuple[str, str, str]) -> Path:
    """`orders.csv` of one-item orders (order id, message, SKU): quantity 1, a Brazilian postal
    code, Amazon's affiliate."""
    rows = [
        f"{order_id},{message},{sku_id},1,01310-100,BRA,MZN" for order_id, message, sku_id in orders
    ]
    export = folder / "orders.csv"
    export.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return export


def backlog_rows() -> tuple[list[str], dict[str, list[str]]]:
    """ORDERS one-item orders cycling over the SKUs, then two two-item orders: one whose two
    causes are both API fixes, one with a cause that stays manual. Returns the CSV lines and
    each order's SKUs."""
    rows, skus = [HEADER], {}
    for n in range(ORDERS):
        sku_id = SKUS[n % len(SKUS)]
        order_id = f"702-{n:04d}"
        rows.append(f"{order_id},{MESSAGES[sku_id]},{sku_id},1,01310-100,BRA,MZN")
        skus[order_id] = [sku_id]
    for order_id, message, pair in (
        ("702-both-fixed", "Order with SKU inactive or out of sales channel", ("1002", "2003")),
        ("702-half", "Order with SKU out of stock", ("1003", "3001")),
    ):
        for sku_id in pair:
            rows.append(f"{order_id},{message},{sku_id},1,01310-100,BRA,MZN")
        skus[order_id] = list(pair)
    return rows, skus


def expected_writes() -> set[tuple[str, str]]:
    activate = {
        ("PUT", f"/api/catalog/pvt/stockkeepingunit/{sku}") for sku in [*INACTIVE, INACTIVE_AND_OUT]
    }
    products = {SHARED_PRODUCT} | {f"9{sku}" for sku in OFF_POLICY[2:]}
    link = {
        ("POST", f"/api/catalog/pvt/product/{product}/salespolicy/{TRADE_POLICY}")
        for product in products
    }
    return activate | link


def env(server: VtexServer, state: Path) -> dict[str, str]:
    return {
        **env_for(server),
        "ORDER_ASSISTANT_STATE_DIR": str(state),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


def cli(server: VtexServer, state: Path, *args: str) -> Result:
    return CliRunner(env=env(server, state)).invoke(app, list(args), catch_exceptions=False)


@functools.cache
def _planned(directory: str) -> tuple[str, int, str]:
    """Triage the backlog once against a fresh store: (plan text, exit code, stderr)."""
    folder = Path(directory)
    export = folder / "orders.csv"
    export.write_text("\n".join(backlog_rows()[0]) + "\n", encoding="utf-8")
    plan = folder / "plan.json"
    with build_store().serve() as server:
        result = cli(server, folder / "state", "triage", str(export), "--plan", str(plan))
    return plan.read_text(encoding="utf-8"), result.exit_code, result.stderr


@pytest.fixture
def plan_file(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backlog's plan (computed once per session), copied where this test can apply it."""
    shared = tmp_path_factory.getbasetemp() / "fixplan-backlog"
    shared.mkdir(exist_ok=True)
    text, _, _ = _planned(str(shared))
    path = tmp_path / "plan.json"
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def writes(server: VtexServer) -> list[tuple[str, str]]:
    return [(w.method, w.path) for w in server.writes()]


# ---- triage --plan and plan show --------------------------------------------------------------


def test_a_backlog_gives_a_plan_with_each_write_once(
    plan_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _, code, stderr = _planned(str(tmp_path_factory.getbasetemp() / "fixplan-backlog"))
    plan = load(plan_file)
    requests = [(fix["method"], fix["path"]) for fix in plan["fixes"]]
    assert Counter(requests) == Counter(expected_writes())  # 20 writes, none twice
    assert code == 1  # triage's own exit code is unchanged: store-side causes remain
    assert "plan: 20 API write(s)" in stderr
    assert plan["schema_version"] == 1
    assert plan["account"] == "teststore"
    assert len(plan["state_digest"]) == 64
    shared = next(f for f in plan["fixes"] if f["product_id"] == SHARED_PRODUCT)
    assert shared["sku_ids"] == ["2001", "2002"]  # one link unblocks both SKUs' orders
    assert shared["state"]["trade_policies"] == ["1"]
    assert "not 3" in shared["evidence"][0]
    activate = next(f for f in plan["fixes"] if f["id"] == "activate_sku:1002")
    # 1002's one-item orders, and the two-item order that also needs a link.
    assert "702-both-fixed" in activate["orders"]
    assert activate["orders"] == [o for o, skus in backlog_rows()[1].items() if "1002" in skus]
    assert activate["evidence"] == ["SKU 1002: IsActive=false"]


def test_what_no_api_write_can_fix_is_grouped_by_admin_screen(plan_file: Path) -> None:
    plan = load(plan_file)
    [stock] = [group for group in plan["manual"] if group["finding"] == "insufficient_stock"]
    assert stock["admin_screen"] == "Catalog > Inventory > Inventory management"
    assert sorted(stock["sku_ids"]) == sorted([*OUT_OF_STOCK, INACTIVE_AND_OUT])
    blocked_on_stock = {
        order
        for order, skus in backlog_rows()[1].items()
        if set(skus) & {*OUT_OF_STOCK, INACTIVE_AND_OUT}
    }
    assert set(stock["orders"]) == blocked_on_stock
    # Nothing was planned for the product open to every trade policy, nor for healthy SKUs.
    assert not any(OPEN_TO_ALL in fix["sku_ids"] for fix in plan["fixes"])
    in_plan = {order["context"]["order_id"] for order in plan["orders"]}
    assert not in_plan & set(plan["not_blocked"])
    assert len(in_plan) + len(plan["not_blocked"]) == ORDERS + 2


def test_plan_show_summarises_writes_orders_and_manual_steps(plan_file: Path, run_cli: Any) -> None:
    result = run_cli("plan", "show", str(plan_file))
    assert result.exit_code == 0
    assert "20 API write(s) unblocking" in result.stdout
    assert "Catalog > Inventory > Inventory management" in result.stdout
    assert f"POST /api/catalog/pvt/product/{SHARED_PRODUCT}/salespolicy/3" in result.stdout
    document = json.loads(run_cli("plan", "show", str(plan_file), "--json").stdout)
    assert document == load(plan_file)


def test_triage_plan_needs_online_checks(tmp_path: Path, run_cli: Any) -> None:
    export = tmp_path / "orders.csv"
    export.write_text("\n".join(backlog_rows()[0][:3]) + "\n", encoding="utf-8")
    result = run_cli("triage", str(export), "--offline", "--plan", str(tmp_path / "p.json"))
    assert result.exit_code == 2
    assert "--plan needs online checks" in result.stderr
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text[:50], "plan.json: "),
        (lambda text: text.replace('"IsActive": false', '"IsActive": true', 1), "state: does not"),
        (lambda text: text.replace('"schema_version": 1', '"schema_version": 7'), "schema_ver"),
        # The place as the other inputs name it, and the message without pydantic's capitals.
        (lambda text: text.replace('"summary": ', '"summry": ', 1), "fixes[0].summary: is req"),
    ],
)
def test_a_broken_or_edited_plan_is_refused_with_the_field_named(
    plan_file: Path, run_cli: Any, edit: Any, message: str
) -> None:
    plan_file.write_text(edit(plan_file.read_text(encoding="utf-8")), encoding="utf-8")
    result = run_cli("plan", "apply", str(plan_file))
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# ---- plan apply ---------------------------------------------------------------------------------


def test_without_apply_nothing_is_written(plan_file: Path, tmp_path: Path) -> None:
    with build_store().serve() as server:
        result = cli(server, tmp_path / "state", "plan", "apply", str(plan_file))
        assert writes(server) == []
    assert result.exit_code == 1  # the writes are still to be sent
    assert "writes: 20 planned; 20 would write (dry-run)" in result.stderr
    audit = (tmp_path / "state" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(audit) == 20
    assert all('"outcome":"dry-run"' in line for line in audit)
    assert not Path(f"{plan_file}.progress").exists()


def test_apply_without_yes_and_without_a_terminal_asks_for_yes(
    plan_file: Path, tmp_path: Path
) -> None:
    with build_store().serve() as server:
        result = cli(server, tmp_path / "state", "plan", "apply", str(plan_file), "--apply")
        assert writes(server) == []
    assert result.exit_code == 4
    assert "--yes" in result.stderr


def test_apply_writes_exactly_the_plan_then_lists_the_orders_to_reprocess(
    plan_file: Path, tmp_path: Path
) -> None:
    store = build_store()
    with store.serve() as server:
        result = cli(server, tmp_path / "state", "plan", "apply", str(plan_file), "--apply", "-y")
        sent = server.writes()
    assert Counter((w.method, w.path) for w in sent) == Counter(expected_writes())
    record_fields = set(fixture("sku_record"))
    for put in (w for w in sent if w.method == "PUT"):
        assert set(put.body) >= record_fields
        assert put.body["IsActive"] is True
    assert all(store.skus[sku].active for sku in [*INACTIVE, INACTIVE_AND_OUT])
    assert all(TRADE_POLICY in store.skus[sku].trade_policies for sku in OFF_POLICY)
    assert store.skus[OPEN_TO_ALL].trade_policies == []

    fixed = {*INACTIVE, *OFF_POLICY}
    orders = backlog_rows()[1]
    expected = sorted(order for order, skus in orders.items() if set(skus) <= fixed)
    document = load(tmp_path / "plan.result.json")
    assert sorted(document["reverified"]["reprocess"]) == expected
    with (tmp_path / "plan.reprocess.csv").open(encoding="utf-8") as handle:
        assert sorted(row["order_id"] for row in csv.DictReader(handle)) == expected
    still = {o["order_id"]: o["reason"] for o in document["reverified"]["blocked"]}
    assert "702-half" in still
    assert "insufficient_stock" in still["702-half"]
    assert result.exit_code == 1  # the stock causes remain
    assert "20 written" in result.stderr
    audit = (tmp_path / "state" / "audit.jsonl").read_text(encoding="utf-8")
    assert audit.count('"outcome":"written"') == 20
    written = [audit, plan_file.read_text(encoding="utf-8"), result.stdout, result.stderr]
    written += [p.read_text(encoding="utf-8") for p in tmp_path.glob("plan.*")]
    assert not [text for text in written if "test-key" in text or "test-token" in text]


def test_a_second_apply_writes_nothing(plan_file: Path, tmp_path: Path) -> None:
    with build_store().serve() as server:
        cli(server, tmp_path / "state", "plan", "apply", str(plan_file), "--apply", "--yes")
        first = len(server.writes())
        again = cli(server, tmp_path / "state", "plan", "apply", str(plan_file), "--apply", "-y")
        assert len(server.writes()) == first == 20
        Path(f"{plan_file}.progress").unlink()  # without the progress file: re-read, no write
        fresh = cli(server, tmp_path / "state", "plan", "apply", str(plan_file), "--apply", "-y")
        assert len(server.writes()) == 20
    assert "20 done in an earlier run" in again.stderr
    assert "20 already fixed" in fresh.stderr
    assert again.exit_code == fresh.exit_code == 1


def test_a_record_changed_since_the_plan_is_skipped_and_said_why(
    plan_file: Path, tmp_path: Path
) -> None:
    store = build_store()
    store.skus["2005"].trade_policies = ["1", "7"]  # someone edited the product meanwhile
    store.skus["1004"].active = True  # and activated a SKU by hand
    with store.serve() as server:
        result = cli(server, tmp_path / "state", "plan", "apply", str(plan_file), "--apply", "-y")
        sent = set(writes(server))
    assert ("POST", f"/api/catalog/pvt/product/92005/salespolicy/{TRADE_POLICY}") not in sent
    assert ("PUT", "/api/catalog/pvt/stockkeepingunit/1004") not in sent
    assert len(sent) == 18
    assert "1 skipped: changed since the plan" in result.stderr
    assert "1 already fixed" in result.stderr
    assert "92005's trade policies are now ['1', '7'], not ['1'] as planned" in result.stdout
    blocked = {o["order_id"] for o in load(tmp_path / "plan.result.json")["reverified"]["blocked"]}
    assert {o for o, skus in backlog_rows()[1].items() if "2005" in skus} <= blocked


def test_a_plan_for_another_account_is_refused(plan_file: Path, tmp_path: Path) -> None:
    with build_store().serve() as server:
        variables = {**env(server, tmp_path / "state"), "VTEX_ACCOUNT": "otherstore"}
        result = CliRunner(env=variables).invoke(
            app, ["plan", "apply", str(plan_file), "--apply", "--yes"]
        )
        assert writes(server) == []
    assert result.exit_code == 2
    assert "computed for account 'teststore'" in result.stderr


def test_every_order_clear_exits_0(tmp_path: Path) -> None:
    export = write_export(
        tmp_path, ("702-1", "Inactive SKU", "1001"), ("702-2", "SKU without trade policy", "2003")
    )
    plan = tmp_path / "plan.json"
    with build_store().serve() as server:
        assert cli(server, tmp_path / "s", "triage", str(export), "--plan", str(plan)).exit_code
        result = cli(server, tmp_path / "s", "plan", "apply", str(plan), "--apply", "--yes")
        assert len(server.writes()) == 2
    assert result.exit_code == 0
    assert load(tmp_path / "plan.result.json")["reverified"]["reprocess"] == ["702-1", "702-2"]


def test_a_kill_mid_apply_then_a_rerun_sends_every_write_exactly_once(
    plan_file: Path, tmp_path: Path
) -> None:
    store = build_store()
    stalled = threading.Event()
    carry_out = store.apply
    delayed = "/api/catalog/pvt/stockkeepingunit/1001"

    def watching(method: str, path: str, body: Any) -> tuple[int, Any] | None:
        done = carry_out(method, path, body)
        if method == "PUT" and path == delayed:
            stalled.set()  # carried out; its answer is now held back by the fault's delay
        return done

    store.apply = watching  # type: ignore[method-assign]
    with store.serve() as server:
        # One write is carried out by VTEX but its answer never comes: the process is killed
        # while it waits, its progress entry still `sending`.
        server.fault(f"PUT {delayed}", {"delay": 60}, applied=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant", "plan", "apply", str(plan_file), "--apply", "-y"],
            env={**os.environ, **env(server, tmp_path / "state")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert stalled.wait(timeout=60), "the apply never sent the delayed write"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        progress = load(Path(f"{plan_file}.progress"))
        # Killed mid-way: the delayed write was out, its outcome unknown to the process.
        assert progress["fixes"]["activate_sku:1001"]["status"] == "sending"
        rerun = cli(server, tmp_path / "state", "plan", "apply", str(plan_file), "--apply", "-y")
        sent = Counter(writes(server))
    assert sent == Counter(expected_writes())  # each planned write once, over both runs
    assert rerun.exit_code == 1
    outcome = next(
        f
        for f in load(tmp_path / "plan.result.json")["writes"]["fixes"]
        if f["fix"] == "activate_sku:1001"
    )
    assert outcome["outcome"] == "written"
    assert "before the interruption" in outcome["detail"]


def test_one_confirmation_in_a_terminal_covers_the_whole_plan(
    plan_file: Path, tmp_path: Path
) -> None:
    import pexpect

    def apply_in_terminal(server: VtexServer, reply: str) -> int:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "assistant", "plan", "apply", str(plan_file), "--apply"],
            env={**os.environ, **env(server, tmp_path / "state"), "TERM": "xterm"},
            encoding="utf-8",
            timeout=60,
            dimensions=(40, 160),
        )
        child.expect(r"Apply 20 write\(s\) to account teststore")
        child.expect(r"\[y/N\]")
        child.sendline(reply)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus is not None
        return child.exitstatus

    with build_store().serve() as server:
        declined = apply_in_terminal(server, "n")
        assert writes(server) == []
        accepted = apply_in_terminal(server, "y")
        assert Counter(writes(server)) == Counter(expected_writes())
    assert declined == 1  # nothing written: the plan's causes remain
    assert accepted == 1  # written; the stock causes remain


def test_nothing_is_planned_from_a_cause_a_check_could_not_confirm(tmp_path: Path) -> None:
    export = write_export(
        tmp_path, ("702-1", "Inactive SKU", "1001"), ("702-2", "Inactive SKU", "1002")
    )
    plan_path = tmp_path / "plan.json"
    with build_store().serve() as server:
        # The key may not read SKU 1001 (403, never retried): its cause stays unconfirmed.
        server.fault(
            "GET /api/catalog_system/pvt/sku/stockkeepingunitbyid/1001", {"status": 403}, times=None
        )
        result = cli(server, tmp_path / "s", "triage", str(export), "--plan", str(plan_path))
    assert result.exit_code == 3
    plan = load(plan_path)
    assert [fix["id"] for fix in plan["fixes"]] == ["activate_sku:1002"]
    [manual] = plan["manual"]
    assert (manual["finding"], manual["orders"], manual["sku_ids"]) == (
        "sku_inactive",
        ["702-1"],
        ["1001"],
    )
    assert manual["status"] != "confirmed"


def test_an_order_that_cannot_be_checked_again_is_undecided(
    plan_file: Path, tmp_path: Path
) -> None:
    with build_store().serve() as server:
        # The write's own re-read works; the re-verification's SKU lookup is refused.
        server.fault(
            "GET /api/catalog_system/pvt/sku/stockkeepingunitbyid/1001", {"status": 403}, times=None
        )
        result = cli(server, tmp_path / "state", "plan", "apply", str(plan_file), "--apply", "-y")
        assert ("PUT", "/api/catalog/pvt/stockkeepingunit/1001") in writes(server)
    assert result.exit_code == 3
    reverified = load(tmp_path / "plan.result.json")["reverified"]
    undecided = {o["order_id"] for o in reverified["undecided"]}
    assert undecided == {o for o, skus in backlog_rows()[1].items() if "1001" in skus}
    assert not undecided & set(reverified["reprocess"])


def test_a_progress_bar_per_phase_only_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from assistant.plan_view import PhaseProgress

    for terminal in (False, True):
        errors = io.StringIO()
        phases = PhaseProgress(Console(file=errors, force_terminal=terminal, width=80))
        with phases.phase("writes", 3) as advance:
            for _ in range(3):
                advance()
        assert ("writes" in errors.getvalue()) is terminal
        assert ("3/3" in errors.getvalue()) is terminal
