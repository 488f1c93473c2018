"""Online diagnosis against a loopback VTEX API that takes 50 ms per answer: requests and wall time.

Starts tests/vtex_server.py's VtexServer on 127.0.0.1 with a healthy store of 10 SKUs
(tests/vtex_store.py) and `latency` seconds added to every response, then diagnoses one 10-item
"No available sla to deliver this order" order (affiliate MZN, no sales channel: the affiliate
lookup is part of it), each run with a fresh VtexClient (empty cache, full token bucket):

  (a) in-process, `compile_rulebook().diagnose(context, client)`: the default Checker (8 workers);
  (b) the same with `Checker(..., workers=1)`: one request at a time;
  (c) (a) and (b) again with a higher client rate limit, when the default limit bounds (a);
  (d) what a user would otherwise do: one `order-assistant diagnose` process per SKU, in turn.

It reports the HTTP requests the server received against the distinct lookups among them (the
floor), the time the client's rate limiter held requests back, and the median wall time. Every
run must find nothing (the store is healthy) and pass every check; the script exits with status 1
if one does not.

Run from a checkout with the project's venv active:

    python benchmarks/bench_online.py [--runs 5] [--cli-runs 2] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SKU_IDS = [str(1001 + i) for i in range(10)]
ORDER_ID = "702-8214511-0034561"
MESSAGE = "No available sla to deliver this order"
AFFILIATE = "MZN"
POSTAL_CODE = "01310-100"
COUNTRY = "BRA"
SIMULATION_ROUTE = "POST /api/checkout/pub/orderForms/simulation"
# Share of the wall time spent waiting on the token bucket above which it, not latency, bounds.
LIMITER_BOUND = 0.5


@dataclass
class Sample:
    seconds: float
    requests: int
    distinct: int
    limiter_wait: float  # seconds the client slept (token bucket; retries would count too)
    findings: list[Any]
    outcomes: set[str]
    ok: bool = True


@dataclass
class Config:
    name: str
    limit: str
    workers: str
    run: Callable[[], Sample]
    samples: list[Sample] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return float(statistics.median(getattr(s, attribute) for s in self.samples))


def distinct_lookups(requests: list[Any]) -> int:
    """Distinct method + path + query + body: what a client that never repeats itself sends."""
    return len({(r.method, r.path, r.query, json.dumps(r.body, sort_keys=True)) for r in requests})


@contextlib.contextmanager
def checker_workers(workers: int | None, made: list[int]) -> Iterator[None]:
    """Make the Diagnoser build its Checker with `workers` threads (None: leave the default);
    `made` gets the worker count of every Checker built, to prove the patch took."""
    import assistant.diagnose as diagnose_module

    original = diagnose_module.Checker

    def build(*args: Any, **kwargs: Any) -> Any:
        if workers is not None:
            kwargs["workers"] = workers
        checker = original(*args, **kwargs)
        made.append(checker.workers)
        return checker

    diagnose_module.Checker = build  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        diagnose_module.Checker = original  # type: ignore[misc]


def in_process_run(
    diagnoser: Any,
    context: Any,
    server: Any,
    env: dict[str, str],
    *,
    workers: int | None,
    requests_per_second: float | None,
    burst: int | None,
) -> Sample:
    from assistant.vtex import VtexClient, VtexConfig

    limit: dict[str, Any] = {}
    if requests_per_second is not None:
        limit = {"requests_per_second": requests_per_second, "burst": burst}
    waits: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            waits.append(seconds)
        time.sleep(seconds)

    made: list[int] = []
    server.clear_requests()
    with checker_workers(workers, made):
        start = time.perf_counter()
        with VtexClient(VtexConfig.from_env(env), sleep=sleep, **limit) as client:
            diagnosis = diagnoser.diagnose(context, client)
        seconds = time.perf_counter() - start
    expected_workers = 8 if workers is None else workers
    if made != [expected_workers]:
        raise RuntimeError(f"the Diagnoser built Checkers with workers={made}")
    requests = server.requests
    return Sample(
        seconds=seconds,
        requests=len(requests),
        distinct=distinct_lookups(requests),
        limiter_wait=sum(waits),
        findings=[f.model_dump() for f in diagnosis.findings],
        outcomes={c.outcome for c in diagnosis.checks},
        ok=diagnosis.mode == "online",
    )


def cli_command() -> list[str]:
    """The `order-assistant` script next to this Python, else `python -m assistant`."""
    bin_dir = Path(sys.executable).parent
    for name in ("order-assistant", "order-assistant.exe"):
        if (bin_dir / name).is_file():
            return [str(bin_dir / name)]
    return [sys.executable, "-m", "assistant"]


def cli_run(server: Any, env: dict[str, str], routes: dict[str, Any]) -> Sample:
    """One `order-assistant diagnose` process per SKU, one after the other."""
    from tests.vtex_store import healthy_store

    command = cli_command()
    server.clear_requests()
    findings: list[Any] = []
    outcomes: set[str] = set()
    ok = True
    elapsed = 0.0
    for sku in SKU_IDS:
        # The same store, but a simulation answer that lists only the SKU this order asks for.
        single = healthy_store(sku).routes()[SIMULATION_ROUTE]
        server.set_scenario({"routes": {**routes, SIMULATION_ROUTE: single}})
        args = [
            *command,
            "diagnose",
            "--online",
            "--json",
            "--order-id",
            ORDER_ID,
            "-m",
            MESSAGE,
            "--affiliate-id",
            AFFILIATE,
            "--postal-code",
            POSTAL_CODE,
            "--country",
            COUNTRY,
            "--sku",
            sku,
        ]
        start = time.perf_counter()
        result = subprocess.run(
            args, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        elapsed += time.perf_counter() - start
        try:
            document = json.loads(result.stdout)
        except ValueError:
            print(f"order-assistant exited {result.returncode}: {result.stderr}", file=sys.stderr)
            ok = False
            continue
        ok = ok and result.returncode == 0 and document.get("mode") == "online"
        findings += document["findings"]
        outcomes |= {c["outcome"] for c in document["checks"]}
    server.set_scenario({"routes": routes})
    requests = server.requests
    return Sample(
        seconds=elapsed,
        requests=len(requests),
        distinct=distinct_lookups(requests),
        limiter_wait=float("nan"),
        findings=findings,
        outcomes=outcomes,
        ok=ok,
    )


def measure(configs: list[Config], rounds: int) -> None:
    # Round-robin, so machine noise hits every configuration alike.
    for _ in range(rounds):
        for config in configs:
            config.samples.append(config.run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=5, help="timed in-process runs per configuration (default 5)"
    )
    parser.add_argument(
        "--cli-runs",
        type=int,
        default=2,
        help="timed rounds of the 10 CLI processes (default 2; 0 skips them)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds per response (default 0.05)"
    )
    parser.add_argument(
        "--fast-rps",
        type=float,
        default=1000.0,
        help="the higher client rate limit, requests per second (default 1000)",
    )
    parser.add_argument("--fast-burst", type=int, default=100, help="its burst (default 100)")
    parser.add_argument(
        "--always-fast",
        action="store_true",
        help="run the higher-limit configurations even when the default limit does not bound",
    )
    args = parser.parse_args()
    if args.runs < 1 or args.cli_runs < 0 or args.latency < 0:
        parser.error("--runs must be >= 1, --cli-runs >= 0 and --latency >= 0")
    if args.fast_rps <= 0 or args.fast_burst < 1:
        parser.error("--fast-rps must be > 0 and --fast-burst >= 1")

    sys.path.insert(0, str(REPO_ROOT))  # tests.vtex_server, and a checkout without an install

    from assistant.diagnose import compile_rulebook
    from assistant.models import OrderContext
    from assistant.vtex import VtexClient
    from tests.vtex_server import VtexServer, env_for
    from tests.vtex_store import healthy_store

    defaults = inspect.signature(VtexClient).parameters
    default_rps = defaults["requests_per_second"].default
    default_burst = defaults["burst"].default

    diagnoser = compile_rulebook()
    context = OrderContext.model_validate(
        {
            "order_id": ORDER_ID,
            "error_message": MESSAGE,
            "items": [{"sku_id": sku, "quantity": 1} for sku in SKU_IDS],
            "affiliate_id": AFFILIATE,
            "postal_code": POSTAL_CODE,
            "country": COUNTRY,
        }
    )
    routes = healthy_store(*SKU_IDS).routes()

    with VtexServer({"routes": routes}, latency=args.latency) as server:
        env = env_for(server)
        cli_env = {**os.environ, **env, "NO_COLOR": "1"}

        def inproc(workers: int | None, rps: float | None, burst: int | None) -> Sample:
            return in_process_run(
                diagnoser,
                context,
                server,
                env,
                workers=workers,
                requests_per_second=rps,
                burst=burst,
            )

        default_limit = f"{default_rps:g}/s, burst {default_burst} (default)"
        fast_limit = f"{args.fast_rps:g}/s, burst {args.fast_burst}"
        # Untimed: imports the client and httpx, fills the engine cache.
        inproc(None, args.fast_rps, args.fast_burst)
        default_configs = [
            Config("in-process", default_limit, "8 (default)", lambda: inproc(None, None, None)),
            Config(
                "in-process, one request at a time",
                default_limit,
                "1",
                lambda: inproc(1, None, None),
            ),
        ]
        measure(default_configs, args.runs)
        base = default_configs[0]
        limiter_share = base.median("limiter_wait") / base.median("seconds")
        limiter_bound = limiter_share >= LIMITER_BOUND
        fast_configs: list[Config] = []
        if limiter_bound or args.always_fast:
            fast_configs = [
                Config(
                    "in-process",
                    fast_limit,
                    "8 (default)",
                    lambda: inproc(None, args.fast_rps, args.fast_burst),
                ),
                Config(
                    "in-process, one request at a time",
                    fast_limit,
                    "1",
                    lambda: inproc(1, args.fast_rps, args.fast_burst),
                ),
            ]
            measure(fast_configs, args.runs)
        cli_configs: list[Config] = []
        if args.cli_runs:
            cli_configs = [
                Config(
                    f"{len(SKU_IDS)} x `order-assistant diagnose`, one SKU each, in turn",
                    f"{default_limit}, per process",
                    "8 (default)",
                    lambda: cli_run(server, cli_env, routes),
                )
            ]
            measure(cli_configs, args.cli_runs)

    configs = default_configs + fast_configs + cli_configs
    base_seconds = base.median("seconds")
    requests = base.samples[0].requests
    print(
        f"## Online diagnosis: one {len(SKU_IDS)}-item order, loopback VTEX API answering in "
        f"{args.latency * 1000:g} ms (Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()})\n"
    )
    print(
        "| run | client rate limit | Checker workers | HTTP requests | distinct lookups "
        "| limiter wait (s) | wall median (s) | wall min (s) | vs default |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for config in configs:
        runs = len(config.samples)
        req = sorted({s.requests for s in config.samples})
        distinct = sorted({s.distinct for s in config.samples})
        wait = config.median("limiter_wait")
        seconds = config.median("seconds")
        fastest = min(s.seconds for s in config.samples)
        print(
            f"| {config.name} ({runs} run{'s' if runs != 1 else ''}) | {config.limit} "
            f"| {config.workers} "
            f"| {'/'.join(map(str, req))} | {'/'.join(map(str, distinct))} "
            f"| {'n/a' if math.isnan(wait) else f'{wait:.2f}'} | {seconds:.2f} | {fastest:.2f} "
            f"| {seconds / base_seconds:.2f}x |"
        )
    print()
    rate_floor = max(0, requests - default_burst) / default_rps + args.latency
    print("| reference | seconds |")
    print("|---|---:|")
    print(
        f"| requests x latency ({requests} x {args.latency * 1000:g} ms): a strictly "
        f"sequential client | {requests * args.latency:.2f} |"
    )
    print(
        f"| default token-bucket floor: ({requests} - {default_burst} burst) / "
        f"{default_rps:g} req/s + one latency | {rate_floor:.2f} |"
    )
    print()

    bound = (
        "the client's rate limiter, not latency, bounds the run"
        if limiter_bound
        else "latency, not the rate limiter, bounds the run"
    )
    reading = (
        f"Default client: the token bucket ({default_rps:g} req/s, burst {default_burst}) held "
        f"requests back {base.median('limiter_wait'):.2f} s of the {base_seconds:.2f} s median "
        f"({limiter_share:.0%}): {bound}."
    )
    if fast_configs:
        fast = fast_configs[0].median("seconds")
        one = fast_configs[1].median("seconds")
        times = f", {fast / args.latency:.1f} response times," if args.latency else ""
        reading += (
            f" At {args.fast_rps:g} req/s (not the default): {fast:.2f} s with 8 workers{times} "
            f"against {one:.2f} s one request at a time ({one / fast:.1f}x)."
        )
    print(reading)

    problems = []
    for config in configs:
        for sample in config.samples:
            if sample.findings:
                problems.append(f"{config.name}: findings {sample.findings}")
            if sample.outcomes != {"pass"}:
                problems.append(f"{config.name}: check outcomes {sorted(sample.outcomes)}")
            if not sample.ok:
                problems.append(f"{config.name}: the run failed or was not online")
    print(
        f"Every run: no finding and every check passing (healthy store): "
        f"{'yes' if not problems else 'NO'}."
    )
    for problem in dict.fromkeys(problems):
        print(f"  - {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
