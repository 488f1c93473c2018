"""Bulk remediation end to end against a slow loopback VTEX API: export -> plan -> apply ->
re-verify -> reprocess list, with the requests each phase sends against its floor.

Starts tests/vtex_server.py's VtexServer (stateful: tests/vtex_store.py's Store carries out the
writes) on 127.0.0.1 with `--latency` seconds added to every answer, and a store of `--skus`
SKUs: a third inactive, a third whose product is not linked to Amazon's trade policy (every
tenth product shared by two SKUs, so one link serves both), a sixth out of stock (no API fix:
manual), the rest healthy. `--orders` one-item orders cycle over the SKUs, each with the message
its SKU's cause gives. Then, as an operator would, in one process through the CLI:

  1. `triage orders.csv --plan plan.json`  (each distinct lookup once: the floor)
  2. `plan apply plan.json --apply --yes`  (one re-read and one write per planned fix), then the
     re-verification of every order of the plan (a fresh read of each distinct lookup again:
     the writes changed the store, so nothing read before them counts)

The loopback server re-renders the whole store after every write, under its lock: for 500
SKUs that is ~0.15 s a write, which would make the fake the bottleneck of the apply phase. So
the store here renders per SKU (again only for a SKU that changed) and the server parses only
changed routes; the answers are the same, and the time it still takes is reported.

It reports requests, distinct requests and wall time per phase, and checks: triage sent no
request twice; apply sent exactly 2 x fixes requests (one read, one write each) and each planned
write once; re-verification sent no request twice; the reprocess list is exactly the orders of
fixed SKUs. The script exits with status 1 if a check fails.

    python benchmarks/bench_plan.py [--orders 5000] [--skus 500] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

HEADER = "order_id,error_message,sku_id,quantity,postal_code,country,affiliate_id"
MESSAGES = {
    "inactive": "Inactive SKU",
    "off_policy": "SKU without trade policy",
    "out_of_stock": "Order with SKU out of stock",
    "healthy": "Inactive SKU",
}


def kind_of(rank: int) -> str:
    return ("inactive", "off_policy", "inactive", "off_policy", "out_of_stock", "healthy")[rank % 6]


def incremental_store() -> Any:
    """tests/vtex_store.py's Store, rendered per SKU: the loopback server re-renders the whole
    store after every write, under its lock, which for 500 SKUs (~0.15 s) would make the fake,
    not the client, the bottleneck of the apply phase. A SKU's routes are rendered again only
    when the SKU changed (its dataclass repr holds all its state); the answers are the same."""
    from tests.vtex_store import Store

    class IncrementalStore(Store):
        def routes(self) -> dict[str, Any]:
            cache: dict[str, dict[str, Any]] = self.__dict__.setdefault("_fragments", {})
            routes: dict[str, Any] = {}
            for sku in self.skus.values():
                key = repr(sku)
                fragment = cache.get(key)
                if fragment is None:
                    alone = Store(skus={sku.sku_id: sku}).routes()
                    fragment = cache[key] = {k: v for k, v in alone.items() if sku_route(k)}
                routes.update(fragment)
            shared_key = repr(
                (self.trade_policy_active, self.amazon_dock_policies, list(self.skus))
            )
            shared = self.__dict__.get("_shared")
            if shared is None or shared[0] != shared_key:
                everything = super().routes()
                shared = (shared_key, {k: v for k, v in everything.items() if not sku_route(k)})
                self.__dict__["_shared"] = shared
            routes.update(shared[1])
            return routes

    return IncrementalStore()


def sku_route(key: str) -> bool:
    return any(
        part in key
        for part in (
            "/stockkeepingunit",
            "/product/",
            "/inventory/skus/",
            "stockkeepingunitidbyrefid",
        )
    )


def build_store(skus: int) -> tuple[Any, list[tuple[str, str]]]:
    from tests.vtex_store import AMAZON_WAREHOUSE, Sku

    store, catalogue = incremental_store(), []
    shared: str | None = None
    for rank in range(skus):
        sku_id, kind = str(100_000 + rank), kind_of(rank)
        if kind == "inactive":
            store.add(Sku(sku_id, active=False))
        elif kind == "off_policy":
            # Every tenth off-policy SKU shares the product of the one before: one link, two SKUs.
            product = shared if rank % 60 == 9 and shared else None
            sku = Sku(sku_id, trade_policies=["1"], product=product)
            store.add(sku)
            shared = sku.product_id
        elif kind == "out_of_stock":
            store.add(Sku(sku_id, stock={AMAZON_WAREHOUSE: (0, 0)}))
        else:
            store.add(Sku(sku_id))
        catalogue.append((sku_id, kind))
    return store, catalogue


def distinct(requests: list[Any]) -> int:
    return len({(r.method, r.path, r.query, json.dumps(r.body, sort_keys=True)) for r in requests})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--skus", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()

    from typer.testing import CliRunner

    from assistant.cli import app
    from assistant.diagnose import compile_rulebook
    from assistant.fixplan import (
        DEFAULT_WRITERS,
        Applier,
        Progress,
        load_plan,
        progress_path,
        result_document,
        reverify,
        save_results,
    )
    from assistant.sessions import SessionStore
    from assistant.vtex import VtexClient, VtexConfig
    from tests.vtex_server import env_for

    store, catalogue = build_store(args.skus)
    # The loopback server re-renders the store after each write, under its lock: parse only
    # the routes whose answer changed, and time it, so the apply figure shows the fake's cost.
    import tests.vtex_server as loopback

    render_seconds = [0.0]
    parsed: dict[str, tuple[Any, Any]] = {}

    def incremental_render(rendered: Any) -> Any:
        started = time.perf_counter()
        try:
            routes = {}
            for key, spec in rendered.routes().items():
                known = parsed.get(key)
                if known is None or known[0] is not spec:
                    [(route, replies)] = loopback._parse_routes({key: spec}).items()
                    known = parsed[key] = (spec, (route, replies))
                routes[known[1][0]] = known[1][1]
            return loopback.Scenario(routes=routes)
        finally:
            render_seconds[0] += time.perf_counter() - started

    loopback._render = incremental_render
    folder = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    export, plan_path = folder / "orders.csv", folder / "plan.json"
    lines, order_kind = [HEADER], {}
    for n in range(args.orders):
        sku_id, kind = catalogue[n % len(catalogue)]
        order_id = f"702-{n:06d}"
        lines.append(f"{order_id},{MESSAGES[kind]},{sku_id},1,01310-100,BRA,MZN")
        order_kind[order_id] = kind
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")

    rows: list[tuple[str, int, int, str, float]] = []
    problems: list[str] = []
    with store.serve(latency=args.latency) as server:
        env = {**env_for(server), "ORDER_ASSISTANT_STATE_DIR": str(folder / "state")}
        runner = CliRunner(env=env)

        started = time.perf_counter()
        triage = runner.invoke(app, ["triage", str(export), "--plan", str(plan_path)])
        seconds = time.perf_counter() - started
        sent = list(server.requests)
        rows.append(("triage --plan", len(sent), distinct(sent), "each lookup once", seconds))
        if triage.exit_code != 1 or not plan_path.exists():
            problems.append(f"triage exited {triage.exit_code}: {triage.stderr[-300:]}")
        if len(sent) != distinct(sent):
            problems.append("triage sent a request twice")
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
        fixes = len(plan["fixes"])
        server.clear_requests()

        # The two halves of `plan apply --apply --yes`, through the same functions the command
        # calls, so each half's requests are counted apart.
        with VtexClient(VtexConfig.from_env(env)) as client:
            fix_plan = load_plan(plan_path)
            started = time.perf_counter()
            render_seconds[0] = 0.0
            progress = Progress(progress_path(plan_path), fix_plan)
            audit = SessionStore(folder / "state")
            results = Applier(fix_plan, client, audit, progress, apply=True).run()
            seconds = time.perf_counter() - started
            apply_render = render_seconds[0]
            sent = list(server.requests)
            rows.append(
                ("apply: re-read + write", len(sent), distinct(sent), f"2 x {fixes} fixes", seconds)
            )
            if len(sent) != 2 * fixes:
                problems.append(f"apply sent {len(sent)} requests, not 2 x {fixes}")
            writes = server.writes()
            planned = Counter((f["method"], f["path"]) for f in plan["fixes"])
            if Counter((w.method, w.path) for w in writes) != planned:
                problems.append("the writes sent are not exactly the planned writes")
            outcomes = Counter(r.outcome for r in results)
            if outcomes != {"written": fixes}:
                problems.append(f"write outcomes: {dict(outcomes)}")
            server.clear_requests()

            started = time.perf_counter()
            after = reverify(fix_plan, compile_rulebook(), client)
            save_results(
                fix_plan, plan_path, result_document(fix_plan, results, after, applied=True)
            )
            seconds = time.perf_counter() - started
            sent = list(server.requests)
            rows.append(("re-verify", len(sent), distinct(sent), "each lookup once", seconds))
            if len(sent) != distinct(sent):
                problems.append("re-verification sent a request twice")
        expected = sorted(o for o, kind in order_kind.items() if kind in ("inactive", "off_policy"))
        if sorted(after.clear) != expected:
            problems.append("the reprocess list is not the orders of the fixed SKUs")
        reprocess_rows = (folder / "plan.reprocess.csv").read_text(encoding="utf-8").count("\n") - 1
        if reprocess_rows != len(expected):
            problems.append("the reprocess CSV does not list every cleared order")

    total = sum(r[1] for r in rows)
    print(f"# bench_plan: {args.orders} orders over {args.skus} SKUs, {args.latency * 1000:.0f} ms")
    print(
        f"\nPython {platform.python_version()}, {platform.system()}, {os.cpu_count()} CPUs; "
        f"{fixes} planned fixes\n"
    )
    print("| phase | requests | distinct | floor | wall s |")
    print("|---|---:|---:|---|---:|")
    for name, count, unique, floor, wall in rows:
        print(f"| {name} | {count} | {unique} | {floor} | {wall:.1f} |")
    print(f"| total | {total} | | | {sum(r[4] for r in rows):.1f} |")
    print(
        f"\napply: {apply_render:.2f} s of its wall time went to the loopback server "
        f"re-rendering the changed SKUs after each of the {fixes} writes (under its lock); the "
        f"ideal at {args.latency * 1000:.0f} ms with {DEFAULT_WRITERS} writers is "
        f"{2 * fixes * args.latency / DEFAULT_WRITERS:.1f} s"
    )
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
