"""Bulk triage (`order-assistant triage`) on large exports: offline throughput and memory of the
real CLI, and online requests and wall time against a loopback VTEX API that takes 50 ms per answer.

Offline: writes CSV exports of `--small-rows` and `--large-rows` rows to a temporary directory
(the ten documented error messages in their English/Portuguese/Spanish wordings plus unrecognised
ones; 1-3 items per order, as consecutive rows or in an `items` cell; ~5,000 distinct SKUs;
quantities 1-5), then times `order-assistant triage FILE --offline` (output to /dev/null), each
run its own process: wall time, rows/s, orders/s, CPU time and that process's peak RSS (os.wait4).
The small export runs `--small-runs` times and once more with `--json`; the large one
`--large-runs` times, stopped with Ctrl-C (SIGINT) if not done after `--large-deadline` seconds,
the aim: 1,000,000 rows under 60 s and 300 MB.

Online: starts tests/vtex_server.py's VtexServer on 127.0.0.1 with `--latency` seconds per answer
and a store of `--online-skus` SKUs (tests/vtex_store.py; every `--inactive-every`th inactive),
then runs `order-assistant triage FILE --json --concurrency 8` over `--online-orders`
single-item "Order with SKU out of stock" orders (affiliate MZN, `--postal-codes` postal codes).
It reports the requests received against the distinct lookups among them (the floor), the wall
time against `distinct / concurrency x latency` and the client's token-bucket floor, the request
rate over the run, and a naive alternative: `--naive-sample` orders diagnosed as one
`order-assistant diagnose` process each, extrapolated linearly to every order.

The script exits with status 1 if a triage exit code or summary is not the expected one, if the
online run sent a lookup twice, or if a naive diagnosis fails; a missed aim is only reported.

Run from a checkout with the project's venv active:

    python benchmarks/bench_triage.py [--small-rows 100000] [--large-rows 1000000]
        [--large-deadline 60] [--online-orders 5000] [--naive-sample 50]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import csv
import itertools
import json
import math
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
AIM_SECONDS_PER_MILLION = 60.0
AIM_MB = 300.0  # MB = 10**6 bytes
AIM_IDEAL_RATIO = 1.5
SIMULATION_ROUTE = "POST /api/checkout/pub/orderForms/simulation"

# ---- the offline mix ---------------------------------------------------------------------------

# Wordings per error code: the documented message and the translations the rulesets declare.
SELLERS = ["lojaexemplo", "mystore", "tienda01"]
MESSAGES: dict[str, list[str]] = {
    "sku_out_of_stock": ["Order with SKU out of stock"],
    "sla_unavailable": ["No available sla to deliver this order"],
    "sku_inactive": ["Inactive SKU", "SKU inativo", "SKU inactivo"],
    "sku_inactive_or_out_of_sales_channel": [
        "Order with SKU inactive or out of sales channel",
        "SKU está inativo ou sem política comercial vinculada",
        "SKU inactivo o sin política comercial",
        "Inactive SKU or SKU outside the sales channel",
    ],
    "sku_without_trade_policy": [
        "SKU without trade policy",
        "SKU sem política comercial vinculada",
        "SKU sin política comercial",
    ],
    "price_divergence": [
        "The order price in the marketplace is different from the price determined by VTEX."
    ],
    "catalog_unauthorized": [
        *(
            f"A communication error with Catalog System has occurred - Unauthorized access from "
            f"seller {seller} to sales channel {channel}"
            for seller in SELLERS
            for channel in ("1", "3")
        ),
        *(
            f"Ocorreu um erro de comunicação com o catálogo - Acesso não autorizado do seller "
            f"{seller} para o sales channel {channel}"
            for seller in SELLERS
            for channel in ("1", "3")
        ),
        *(
            f"Se produjo un error de comunicación con el sistema de catálogo \u2013 Acceso no "
            f"autorizado del seller {seller} a política comercial {channel}"
            for seller in SELLERS
            for channel in ("1", "3")
        ),
    ],
    "buyer_name_missing": ["A validation error occurred while trying to process the order"],
    "order_canceled_on_marketplace": [
        "Order status is canceled on marketplace",
        "Order status is cancelled on the marketplace",
    ],
    "sku_not_in_store": [
        "Sku in order don't belong to a VTEX Store, sku id it's not an integer",
        "SKUs in the order don't belong to a VTEX Store, SKU id is not an integer",
    ],
    "unrecognized": [
        "Shipping label could not be generated for carrier XPTO",
        "Timeout while contacting the marketplace",
        "Invalid postal code 00000-000 for this carrier",
        "Erro desconhecido ao processar o pedido",
        "Pedido duplicado",
        "Error desconocido al procesar el pedido",
    ],
}
# Share of orders per error code (percent).
CODE_WEIGHTS: dict[str, int] = {
    "sku_out_of_stock": 24,
    "sla_unavailable": 15,
    "sku_inactive": 12,
    "sku_inactive_or_out_of_sales_channel": 10,
    "sku_without_trade_policy": 8,
    "price_divergence": 7,
    "catalog_unauthorized": 5,
    "buyer_name_missing": 5,
    "order_canceled_on_marketplace": 4,
    "sku_not_in_store": 3,
    "unrecognized": 7,
}
ITEM_COUNT_WEIGHTS = {1: 70, 2: 20, 3: 10}
QUANTITY_WEIGHTS = {1: 60, 2: 20, 3: 10, 4: 5, 5: 5}
ITEMS_CELL_SHARE = 0.3  # orders whose items are in one `items` cell rather than one row each
POSTAL_CODES = ["01310-100", "22041-001", "30130-010", "80010-000", "90010-150", "40020-000"]
HEADER = [
    "order_id",
    "Order Date",  # not a field: ignored, as exports carry columns triage does not read
    "error_message",
    "items",
    "sku_id",
    "quantity",
    "sales_channel",
    "affiliate_id",
    "postal_code",
    "country",
]


def message_corpus() -> dict[str, list[str]]:
    """Error code -> the wordings an export carries (VTEX writes the message in the account's
    language; the variants of case and punctuation a pasted message has do not occur here)."""
    return {code: list(dict.fromkeys(texts)) for code, texts in MESSAGES.items()}


@dataclass
class ExportStats:
    rows: int = 0
    orders: int = 0
    by_code: Counter[str] = field(default_factory=Counter)
    skus: set[str] = field(default_factory=set)
    items_cell_orders: int = 0
    signatures: set[int] = field(default_factory=set)  # hashes of what the offline cache keys on
    rows_after: array[int] = field(default_factory=lambda: array("L"))  # rows of orders 1..n
    bytes: int = 0


class OrderMix:
    """A seeded stream of orders: (code, message, items, other fields)."""

    def __init__(self, seed: int, skus: int) -> None:
        self.rng = random.Random(seed)
        self.corpus = message_corpus()
        self.codes = list(CODE_WEIGHTS)
        self.code_cum = list(itertools.accumulate(CODE_WEIGHTS[c] for c in self.codes))
        # Mostly VTEX ids (digits); one in 20 an alphanumeric seller SKU (a RefId).
        self.sku_ids = [
            f"CAM-{rank:04d}" if rank % 20 == 19 else str(100_000 + rank * 7)
            for rank in range(skus)
        ]
        self.ref_ids = [s for s in self.sku_ids if not s.isdigit()]
        # Popularity falls with rank (Zipf, s = 1): a few SKUs carry many orders, as in a real
        # backlog, and the long tail still shows up.
        self.sku_cum = list(itertools.accumulate(1 / (rank + 1) for rank in range(skus)))
        self.counts = list(ITEM_COUNT_WEIGHTS)
        self.count_cum = list(itertools.accumulate(ITEM_COUNT_WEIGHTS.values()))
        self.quantities = list(QUANTITY_WEIGHTS)
        self.quantity_cum = list(itertools.accumulate(QUANTITY_WEIGHTS.values()))

    def _pick(self, population: list[Any], cum: list[float]) -> Any:
        return population[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def order(self, number: int) -> tuple[str, str, list[tuple[str, int]], list[str]]:
        random_ = self.rng.random  # int(random_() * n) rather than randrange: 1M rows add up
        code = self._pick(self.codes, self.code_cum)
        texts = self.corpus[code]
        message = texts[int(random_() * len(texts))]
        items = []
        for _ in range(self._pick(self.counts, self.count_cum)):
            if code == "sku_not_in_store":  # the message says the SKU id is not an integer
                sku = self.ref_ids[int(random_() * len(self.ref_ids))]
            else:
                sku = self._pick(self.sku_ids, self.sku_cum)
            items.append((sku, self._pick(self.quantities, self.quantity_cum)))
        order_id = f"70{number % 9 + 1}-{int(random_() * 10**7):07d}-{number:07d}"
        date = f"2024-{number % 12 + 1:02d}-{number % 28 + 1:02d}"
        sales_channel = "3" if random_() < 0.2 else ""
        # Buyers' postal codes (80% of orders carry one): next to unique, as in a real backlog.
        postal_code = country = ""
        if random_() < 0.8:
            postal_code = f"{int(random_() * 99_999_999):08d}"
            postal_code = f"{postal_code[:5]}-{postal_code[5:]}"
            country = "BRA"
        return code, message, items, [order_id, date, sales_channel, postal_code, country]


def write_export(path: Path, rows: int, seed: int, skus: int) -> ExportStats:
    """A CSV export of exactly `rows` data rows (the last order may be cut to fit)."""
    mix = OrderMix(seed, skus)
    stats = ExportStats()
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        for number in itertools.count(1):
            left = rows - stats.rows
            if left <= 0:
                break
            code, message, items, (order_id, date, channel, postal, country) = mix.order(number)
            if mix.rng.random() < ITEMS_CELL_SHARE:
                cell = ";".join(f"{sku}:{qty}" if qty != 1 else sku for sku, qty in items)
                writer.writerow(
                    [order_id, date, message, cell, "", "", channel, "MZN", postal, country]
                )
                stats.rows += 1
                stats.items_cell_orders += 1
            else:
                items = items[:left]
                writer.writerows(
                    [order_id, date, message, "", sku, qty, channel, "MZN", postal, country]
                    for sku, qty in items
                )
                stats.rows += len(items)
            stats.orders += 1
            stats.rows_after.append(stats.rows)
            stats.by_code[code] += 1
            stats.skus.update(sku for sku, _ in items)
            stats.signatures.add(hash((message, channel, postal, tuple(items))))
    stats.bytes = path.stat().st_size
    return stats


# ---- running the CLI ---------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    returncode: int
    cpu: float | None  # user + system seconds of the process
    peak_bytes: float | None  # its peak RSS
    stderr: str
    stopped: bool = False  # sent Ctrl-C at the deadline


def cli_command() -> list[str]:
    """The `order-assistant` script next to this Python, else `python -m assistant`."""
    bin_dir = Path(sys.executable).parent
    for name in ("order-assistant", "order-assistant.exe"):
        if (bin_dir / name).is_file():
            return [str(bin_dir / name)]
    return [sys.executable, "-m", "assistant"]


# Runs the command after the result file, waits for it and writes its wall time, exit code and
# resource usage there; Ctrl-C (SIGINT) is passed on to it. Why a launcher: Linux keeps a
# process's peak RSS across fork and exec, so a command started by this script would report this
# script's peak (the statistics of a million-row export) if that is higher than its own. Started
# fresh, the launcher is small, and so is what its child inherits.
LAUNCHER = """
import json, os, signal, subprocess, sys, time
result, command = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
child = subprocess.Popen(command)
signal.signal(signal.SIGINT, lambda *_: child.send_signal(signal.SIGINT))
cpu = peak = None
if hasattr(os, "wait4"):
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    cpu, peak = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
else:  # Windows: no resource usage
    child.wait()
seconds = time.perf_counter() - start
with open(result, "w") as stream:
    json.dump([seconds, child.returncode, cpu, peak], stream)
"""


def run_cli(
    args: list[str],
    env: dict[str, str],
    scratch: Path,
    stdout: Path | None = None,
    deadline: float = 0.0,
) -> Run:
    """One CLI process, started by LAUNCHER and waited for with os.wait4, so that its own wall
    time, CPU time and peak RSS are known. With a `deadline` (seconds), the process gets Ctrl-C
    (SIGINT) then, as from a terminal: triage prints its partial summary."""
    err_path, result_path = scratch / "stderr.txt", scratch / "rusage.json"
    result_path.unlink(missing_ok=True)
    with contextlib.ExitStack() as stack:
        out: IO[bytes] | int = (
            stack.enter_context(stdout.open("wb")) if stdout else subprocess.DEVNULL
        )
        err = stack.enter_context(err_path.open("wb"))
        launcher = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(result_path), *cli_command(), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd=REPO_ROOT,
        )
        timer = threading.Timer(deadline, launcher.send_signal, [signal.SIGINT])
        if deadline > 0:
            timer.start()
        try:
            launcher.wait()
        finally:
            timer.cancel()
    stderr = err_path.read_text("utf-8", errors="replace").replace(str(scratch), "<tmp>")
    try:
        seconds, returncode, cpu, peak = json.loads(result_path.read_text("utf-8"))
    except (OSError, ValueError):
        raise RuntimeError(f"the launcher failed (exit {launcher.returncode}): {stderr}") from None
    if peak is not None:
        peak *= 1 if sys.platform == "darwin" else 1024  # bytes on macOS, kilobytes on Linux
    stopped = deadline > 0 and seconds >= deadline
    return Run(seconds, returncode, cpu, peak, stderr, stopped)


def fmt_mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:.0f}"


def fmt_cpu(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


# ---- offline -----------------------------------------------------------------------------------


@dataclass
class OfflineRow:
    label: str
    stats: ExportStats
    run: Run
    orders: int  # orders triaged (fewer than the export's when stopped at the deadline)
    rows: int  # rows those orders span


def offline(args: argparse.Namespace, scratch: Path, problems: list[str]) -> None:
    from assistant.classify import classify
    from assistant.diagnose import compile_rulebook
    from assistant.errors import EXIT_INTERRUPTED, EXIT_UNDECIDED

    env = {**os.environ, "NO_COLOR": "1"}
    for name in ("VTEX_ACCOUNT", "VTEX_APP_KEY", "VTEX_APP_TOKEN", "VTEX_BASE_URL"):
        env.pop(name, None)  # --offline anyway; nothing of the caller's leaks in

    # Untimed: every wording classifies as the mix says.
    rulebook = compile_rulebook().rulebook
    corpus = message_corpus()
    wrong = [
        (text, code)
        for code, texts in corpus.items()
        for text in texts
        if classify(text, rulebook).code != code
    ]
    for text, code in wrong:
        problems.append(f"offline: {text!r} does not classify as {code}")

    # Untimed: a small export's JSON summary matches what was generated.
    check_path = scratch / "check.csv"
    check = write_export(check_path, args.check_rows, args.seed, args.skus)
    out = scratch / "check.json"
    run = run_cli(["triage", str(check_path), "--offline", "--json"], env, scratch, out)
    check_problems = []
    summary: dict[str, Any] = {}
    try:
        summary = json.loads(out.read_text("utf-8"))["summary"]
    except (ValueError, KeyError):
        check_problems.append(f"no JSON summary (exit {run.returncode}): {run.stderr}")
    if summary:
        if summary["orders"] != check.orders or summary["bad_rows"]:
            check_problems.append(
                f"{summary['orders']} orders and {summary['bad_rows']} bad rows, expected "
                f"{check.orders} and 0"
            )
        if summary["by_error_code"] != dict(check.by_code):
            check_problems.append(f"by_error_code {summary['by_error_code']}")
        if summary["undecided"] < check.by_code["unrecognized"]:
            check_problems.append(
                f"{summary['undecided']} undecided, expected at least "
                f"{check.by_code['unrecognized']} (the unrecognised messages)"
            )
    problems.extend(f"offline check run: {problem}" for problem in check_problems)
    check_path.unlink()
    expected_exit = EXIT_UNDECIDED  # the mix has unrecognised messages

    rows: list[OfflineRow] = []
    generation: list[tuple[float, ExportStats]] = []

    def timed(path: Path, stats: ExportStats, label: str, json_output: bool, deadline: float):
        extra = ["--json"] if json_output else []
        # Output to /dev/null; with a deadline, the few lines of the summary go to a file
        # instead, so that a stopped run's partial summary says how far it got.
        summary_path = scratch / "summary.txt" if deadline else None
        run = run_cli(
            ["triage", str(path), "--offline", *extra], env, scratch, summary_path, deadline
        )
        # A run that ended on its own just as the deadline fired was not stopped.
        run.stopped = run.stopped and run.returncode == EXIT_INTERRUPTED
        orders = stats.orders
        if summary_path is not None:
            # "N orders triaged ...": a stopped run's partial summary says how far it got.
            found = re.search(r"(\d+) orders triaged", summary_path.read_text("utf-8"))
            if found and (run.stopped or int(found.group(1)) == stats.orders):
                orders = int(found.group(1))
            else:
                problems.append(f"{label}: the summary does not say {stats.orders} orders")
                orders = 0 if run.stopped else orders
        if run.returncode != (EXIT_INTERRUPTED if run.stopped else expected_exit):
            problems.append(
                f"{label}: exit {run.returncode}, expected {expected_exit}: {run.stderr[-2000:]}"
            )
        done_rows = stats.rows_after[orders - 1] if orders else 0
        rows.append(OfflineRow(label, stats, run, orders, done_rows))

    sizes = [(args.small_rows, args.small_runs, True, 0.0)]
    sizes.append((args.large_rows, args.large_runs, False, args.large_deadline))
    for size, runs, with_json, deadline in sizes:
        if size <= 0 or runs <= 0:
            continue
        path = scratch / f"export-{size}.csv"
        start = time.perf_counter()
        stats = write_export(path, size, args.seed, args.skus)
        generation.append((time.perf_counter() - start, stats))
        for index in range(runs):
            timed(path, stats, f"`--offline`, run {index + 1}/{runs}", False, deadline)
        if with_json:
            timed(path, stats, "`--offline --json > /dev/null`", True, 0.0)
        path.unlink()  # the next export may be large

    print(
        f"## Bulk triage offline: `order-assistant triage FILE --offline`, one process per run "
        f"(Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs)\n"
    )
    print(
        "| export | run | rows | orders | wall (s) | rows/s | orders/s | CPU (s) "
        "| peak RSS (MB) | aim: 1M rows < 60 s, < 300 MB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        stats, run = row.stats, row.run
        aim_seconds = AIM_SECONDS_PER_MILLION * stats.rows / 1_000_000
        over_memory = run.peak_bytes is None or run.peak_bytes >= AIM_MB * 1e6
        wall, done = f"{run.seconds:.1f}", f"{row.rows:,}"
        if run.stopped:
            wall = f"stopped at {run.seconds:.1f}"
            done = f"{row.rows:,} of {stats.rows:,}"
            so_far = f"memory so far {'over' if over_memory else 'under'} {AIM_MB:g} MB"
            if args.large_deadline >= aim_seconds:
                verdict = f"MISSED (time: not done at the {args.large_deadline:g} s deadline; "
            else:
                verdict = f"not judged (stopped at {args.large_deadline:g} s, before the aim; "
            verdict += f"{so_far}, at {row.rows / stats.rows:.0%} of the file)"
        else:
            missed = [
                name
                for name, over in (("time", run.seconds >= aim_seconds), ("memory", over_memory))
                if over
            ]
            verdict = f"MISSED ({', '.join(missed)})" if missed else "ok"
        if stats.rows != 1_000_000:
            verdict = f"{aim_seconds:g} s pro rata: {verdict}"
        print(
            f"| {stats.rows:,} rows | {row.label} | {done} | {row.orders:,} | {wall} "
            f"| {row.rows / run.seconds:,.0f} | {row.orders / run.seconds:,.0f} "
            f"| {fmt_cpu(run.cpu)} | {fmt_mb(run.peak_bytes)} | {verdict} |"
        )
    print()
    for seconds, stats in generation:
        print(
            f"Export of {stats.rows:,} rows (untimed, written in {seconds:.1f} s): "
            f"{stats.bytes / 1e6:.0f} MB, {stats.orders:,} orders "
            f"({stats.rows / stats.orders:.2f} rows each; "
            f"{stats.items_cell_orders / stats.orders:.0%} with an `items` cell), "
            f"{len(stats.skus):,} distinct SKUs, {sum(len(v) for v in corpus.values())} distinct "
            f"messages over {len(corpus) - 1} error types "
            f"({stats.by_code['unrecognized'] / stats.orders:.0%} of orders unrecognised), "
            f"{len(stats.signatures) / stats.orders:.0%} of orders with a distinct "
            f"(message, SKUs, quantities, postal code, trade policy) signature."
        )
    exits = all(
        r.run.returncode == (EXIT_INTERRUPTED if r.run.stopped else expected_exit) for r in rows
    )
    print(
        f"Checks (untimed): every wording classifies as intended: {'yes' if not wrong else 'NO'}; "
        f"a {check.rows:,}-row export's JSON summary matches the generated counts: "
        f"{'NO' if check_problems else 'yes'}; exit code {expected_exit} (undecided: "
        f"unrecognised messages) on every run"
        f"{f', {EXIT_INTERRUPTED} when stopped' if any(r.run.stopped for r in rows) else ''}: "
        f"{'yes' if exits else 'NO'}."
    )


# ---- online ------------------------------------------------------------------------------------


def distinct_lookups(requests: list[Any]) -> int:
    """Distinct method + path + query + body: what a client that never repeats itself sends."""
    return len({(r.method, r.path, r.query, json.dumps(r.body, sort_keys=True)) for r in requests})


@dataclass
class NaiveResult:
    seconds: float = 0.0
    requests: int = 0
    distinct: int = 0
    failures: list[str] = field(default_factory=list)


def online(args: argparse.Namespace, scratch: Path, problems: list[str]) -> None:
    from assistant.errors import EXIT_ACTION_NEEDED, EXIT_OK
    from assistant.vtex.client import DEFAULT_BURST, DEFAULT_REQUESTS_PER_SECOND
    from tests.vtex_server import VtexServer, env_for
    from tests.vtex_store import Sku, Store, healthy_store

    rng = random.Random(args.seed)
    sku_ids = [str(40_000 + n) for n in range(args.online_skus)]
    inactive = {sku for n, sku in enumerate(sku_ids) if n % args.inactive_every == 0}
    store = Store()
    for sku in sku_ids:
        store.add(Sku(sku, active=sku not in inactive))
    routes = store.routes()
    # The loopback server answers a route whatever the body: a one-item order form, as VTEX
    # answers a one-item simulation (the store's own would list all its SKUs in every answer).
    routes[SIMULATION_ROUTE] = healthy_store(sku_ids[0]).routes()[SIMULATION_ROUTE]
    postal_codes = POSTAL_CODES[: args.postal_codes]
    # Every SKU about as often, in shuffled order; postal codes at random.
    skus = [sku_ids[n % len(sku_ids)] for n in range(args.online_orders)]
    rng.shuffle(skus)
    message = "Order with SKU out of stock"
    orders = [
        (f"70{n % 9 + 1}-{rng.randrange(10**7):07d}-{n:07d}", sku, rng.choice(postal_codes))
        for n, sku in enumerate(skus)
    ]
    path = scratch / "online.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            [
                "order_id",
                "error_message",
                "sku_id",
                "quantity",
                "postal_code",
                "country",
                "affiliate_id",
            ]
        )
        for order_id, sku, postal in orders:
            writer.writerow([order_id, message, sku, 1, postal, "BRA", "MZN"])
    used = {sku for _, sku, _ in orders}
    # Per SKU: the SKU, its product's trade policies, its inventory; once: the affiliate, the
    # trade policy, the docks, the warehouses; one simulation per distinct (SKU, postal code).
    expected_distinct = 3 * len(used) + 4 + len({(sku, postal) for _, sku, postal in orders})
    blocked = sum(sku in inactive for _, sku, _ in orders)
    expected_exit = EXIT_ACTION_NEEDED if blocked else EXIT_OK

    with VtexServer({"routes": routes}, latency=args.latency) as server:
        env = {**os.environ, **env_for(server), "NO_COLOR": "1"}
        out = scratch / "online.json"
        # When each request arrived (the server's handler threads call _answer once per
        # request): the request rate over the run, to see whether the rate limit was reached.
        arrivals: list[float] = []
        answer = server._answer

        def timed_answer(*request: Any) -> Any:
            arrivals.append(time.monotonic())
            return answer(*request)

        server._answer = timed_answer  # type: ignore[method-assign]
        started = time.monotonic()
        run = run_cli(
            ["triage", str(path), "--json", "--concurrency", str(args.concurrency)],
            env,
            scratch,
            out,
        )
        server._answer = answer  # type: ignore[method-assign]
        requests = server.requests
        writes = server.writes()
        sent, distinct = len(requests), distinct_lookups(requests)
        naive = NaiveResult()
        sample = rng.sample(orders, min(args.naive_sample, len(orders)))
        if sample:
            server.clear_requests()
            naive = naive_run(sample, inactive, env)
            naive.requests = len(server.requests)
            naive.distinct = distinct_lookups(server.requests)

    mine: list[str] = []  # what went wrong with the triage run
    summary: dict[str, Any] = {}
    mode = None
    try:
        document = json.loads(out.read_text("utf-8"))
        summary, mode = document["summary"], document.get("mode")
    except (ValueError, KeyError):
        mine.append(f"online triage: no JSON summary (exit {run.returncode}): {run.stderr}")
    if run.returncode != expected_exit:
        mine.append(
            f"online triage: exit {run.returncode}, expected {expected_exit}: {run.stderr[-2000:]}"
        )
    if summary:
        got = (mode, summary["orders"], summary["bad_rows"], summary["undecided"])
        if got != ("online", len(orders), 0, 0) or summary["blocked_on_store"] != blocked:
            mine.append(
                f"online triage: mode {mode}, {summary['orders']} orders, {summary['bad_rows']} "
                f"bad rows, {summary['undecided']} undecided, {summary['blocked_on_store']} "
                f"blocked; expected online, {len(orders)}, 0, 0, {blocked} (the inactive SKUs)"
            )
    if sent > distinct:
        mine.append(f"online triage: {sent} requests for {distinct} distinct lookups")
    if distinct != expected_distinct:
        mine.append(f"online triage: {distinct} distinct lookups, expected {expected_distinct}")
    if writes:
        mine.append(f"online triage: {len(writes)} writing request(s)")
    problems.extend(mine)
    problems.extend(naive.failures)

    rps, burst = DEFAULT_REQUESTS_PER_SECOND, DEFAULT_BURST
    ideal = distinct / args.concurrency * args.latency
    rate_floor = max(0, distinct - burst) / rps + args.latency
    ratio = run.seconds / ideal if ideal else math.inf
    busiest = busiest_second(arrivals)
    tenth = run.seconds / 10
    per_tenth = Counter(min(int((t - started) / tenth), 9) for t in arrivals)
    rates = ", ".join(f"{per_tenth[i] / tenth:.0f}" for i in range(10))
    print(
        f"\n## Bulk triage online: {len(orders):,} single-item orders over {len(used)} SKUs "
        f"({len(inactive & used)} inactive), {len(postal_codes)} postal codes, loopback VTEX API "
        f"answering in {args.latency * 1000:g} ms\n"
    )
    print(
        "| run | orders | HTTP requests | distinct lookups | requests = distinct | wall (s) "
        "| CLI CPU (s) | vs ideal | aim: within 1.5x of ideal | vs triage |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---|---:|")
    print(
        f"| `triage --json --concurrency {args.concurrency}`, one process | {len(orders):,} "
        f"| {sent:,} | {distinct:,} | {'yes' if sent == distinct else 'NO'} | {run.seconds:.1f} "
        f"| {fmt_cpu(run.cpu)} | {ratio:.2f}x "
        f"| {'ok' if ratio <= AIM_IDEAL_RATIO else 'MISSED'} | 1x |"
    )
    if sample:
        scale = len(orders) / len(sample)
        print(
            f"| `diagnose --online`, one process per order, in turn: {len(sample)} sampled "
            f"orders (measured) | {len(sample)} | {naive.requests:,} | {naive.distinct:,} "
            f"| {'yes' if naive.requests == naive.distinct else 'no'} | {naive.seconds:.1f} "
            f"| n/a | | | |"
        )
        print(
            f"| the same for all {len(orders):,} orders: the {len(sample)} above x {scale:g} "
            f"(extrapolated linearly, not run) | {len(orders):,} | ~{naive.requests * scale:,.0f} "
            f"| | no | ~{naive.seconds * scale:,.0f} | | {naive.seconds * scale / ideal:.0f}x "
            f"| | {naive.seconds * scale / run.seconds:.0f}x |"
        )
    print()
    print("| reference | seconds |")
    print("|---|---:|")
    print(
        f"| ideal: {distinct:,} distinct lookups / {args.concurrency} in flight x "
        f"{args.latency * 1000:g} ms | {ideal:.1f} |"
    )
    print(
        f"| client rate limit floor: ({distinct:,} - {burst} burst) / {rps:g} req/s "
        f"+ one latency | {rate_floor:.1f} |"
    )
    print(f"| the CLI's CPU time (user + system; one process, one GIL) | {fmt_cpu(run.cpu)} |")
    print()
    reached = busiest >= 0.95 * rps
    limit = (
        "was reached: it bounds the busiest part of the run"
        if reached
        else "was never reached and does not bound this run"
    )
    print(
        f"Rate limit: the client's token bucket, {rps:g} requests/s with bursts of {burst} "
        f"(DEFAULT_REQUESTS_PER_SECOND and DEFAULT_BURST in assistant/vtex/client.py), against "
        f"{args.concurrency / args.latency:g}/s for {args.concurrency} requests in flight at "
        f"{args.latency * 1000:g} ms: its floor is {rate_floor / ideal:.2f}x the ideal. "
        f"Requests/s the server received, by tenth of the run: {rates}; busiest second: "
        f"{busiest} requests, so the limit {limit}."
    )
    print(
        f"Checks: distinct lookups expected from the input ({len(used)} SKUs x 3 + the "
        f"affiliate, trade policy, docks and warehouses + one simulation per distinct SKU and "
        f"postal code): {expected_distinct:,}, received {distinct:,}; triage exit code "
        f"{run.returncode} (expected {expected_exit}: inactive SKUs block {blocked:,} orders) "
        f"and its summary as expected: {'NO' if mine else 'yes'}; "
        f"{len(sample)} naive diagnoses online with the expected findings: "
        f"{'yes' if not naive.failures else 'NO'}."
    )


def busiest_second(times: list[float]) -> int:
    """The most requests that arrived within any one second."""
    times = sorted(times)
    most = start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def naive_run(
    sample: list[tuple[str, str, str]], inactive: set[str], env: dict[str, str]
) -> NaiveResult:
    """One `order-assistant diagnose` per order, one after the other: what a user would do
    without `triage`."""
    result = NaiveResult()
    for order_id, sku, postal in sample:
        command = [
            *cli_command(),
            "diagnose",
            "--online",
            "--json",
            "--order-id",
            order_id,
            "-m",
            "Order with SKU out of stock",
            "--sku",
            sku,
            "--postal-code",
            postal,
            "--country",
            "BRA",
            "--affiliate-id",
            "MZN",
        ]
        start = time.perf_counter()
        done = subprocess.run(
            command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        result.seconds += time.perf_counter() - start
        try:
            document = json.loads(done.stdout)
        except ValueError:
            result.failures.append(f"naive {order_id}: exit {done.returncode}: {done.stderr}")
            continue
        codes = {f["code"] for f in document["findings"] if f["status"] == "confirmed"}
        if (
            done.returncode != 0
            or document.get("mode") != "online"
            or ("sku_inactive" in codes) != (sku in inactive)
        ):
            result.failures.append(
                f"naive {order_id}: exit {done.returncode}, mode {document.get('mode')}, "
                f"confirmed findings {sorted(codes)} for SKU {sku} "
                f"({'inactive' if sku in inactive else 'active'})"
            )
    return result


# ---- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--small-rows", type=int, default=100_000, help="rows of the small export (default 100000)")
    add("--small-runs", type=int, default=2, help="timed runs of it (default 2; 0 skips it)")
    add(
        "--large-rows",
        type=int,
        default=1_000_000,
        help="rows of the large export (default 1000000)",
    )
    add("--large-runs", type=int, default=1, help="timed runs of it (default 1; 0 skips it)")
    add(
        "--large-deadline",
        type=float,
        default=60.0,
        help="stop a large run (Ctrl-C: triage prints its partial summary) that is not done "
        "after this many seconds, the aim (default 60; 0 runs it to the end)",
    )
    add("--skus", type=int, default=5_000, help="distinct SKUs in the offline mix (default 5000)")
    add("--check-rows", type=int, default=5_000, help="rows of the untimed check export")
    add("--seed", type=int, default=7, help="random seed (default 7)")
    add("--online-orders", type=int, default=5_000, help="online orders (default 5000; 0 skips)")
    add("--online-skus", type=int, default=500, help="distinct SKUs online (default 500)")
    add("--inactive-every", type=int, default=10, help="every Nth SKU inactive (default 10)")
    add(
        "--postal-codes", type=int, default=3, help=f"distinct postal codes (1-{len(POSTAL_CODES)})"
    )
    add("--latency", type=float, default=0.05, help="seconds per response (default 0.05)")
    add("--concurrency", type=int, default=8, help="triage --concurrency (default 8)")
    add("--naive-sample", type=int, default=50, help="orders diagnosed one process each (50)")
    args = parser.parse_args()
    if min(args.small_rows, args.large_rows, args.small_runs, args.large_runs) < 0:
        parser.error("row counts and runs must be >= 0")
    if args.skus < 20 or args.check_rows < 1 or args.online_orders < 0:
        parser.error("--skus must be >= 20, --check-rows >= 1, --online-orders >= 0")
    if args.online_skus < 1 or args.inactive_every < 1 or args.latency < 0:
        parser.error("--online-skus and --inactive-every must be >= 1, --latency >= 0")
    if not 1 <= args.postal_codes <= len(POSTAL_CODES) or not 1 <= args.concurrency <= 32:
        parser.error(f"--postal-codes is 1-{len(POSTAL_CODES)}, --concurrency 1-32")
    if args.naive_sample < 0:
        parser.error("--naive-sample must be >= 0")

    sys.path.insert(0, str(REPO_ROOT))  # tests.vtex_server, and a checkout without an install
    problems: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-triage-") as directory:
        scratch = Path(directory)
        offline(args, scratch, problems)
        if args.online_orders:
            online(args, scratch, problems)
    print(f"\nTotal benchmark time: {time.perf_counter() - started:.0f} s.")
    for problem in dict.fromkeys(problems):
        print(f"  - {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
