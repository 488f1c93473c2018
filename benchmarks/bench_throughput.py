"""In-process throughput of classification + rules-engine evaluation (`Diagnoser.diagnose`).

Builds N OrderContext objects up front (not timed), cycling over varied error messages (every
example's message, pt/es variants, case/whitespace/label/quote variants, unrecognised ones) with
1-3 items of varied SKU ids and quantities, then times `diagnoser.diagnose(ctx)` over all of them:

  (a) triage's `CachingDiagnoser`, which caches classifications and engine evaluations by the
      projected facts (assistant.triage.cache);
  (b) a plain `Diagnoser`, as one `diagnose` uses it: every order a durable_rules evaluation
      (smaller N).

Run from a checkout with the project's venv active:

    python benchmarks/bench_throughput.py [--orders 100000] [--raw-orders 20000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPO_ROOT / "examples"
TARGET_ORDERS_PER_S = 5_000

# Translations and alternative wordings the rulesets declare, with the code they should get.
EXTRA_MESSAGES: list[tuple[str, str]] = [
    ("Inactive SKU", "sku_inactive"),
    ("SKU inativo", "sku_inactive"),
    ("SKU inactivo", "sku_inactive"),
    (
        "SKU está inativo ou sem política comercial vinculada",
        "sku_inactive_or_out_of_sales_channel",
    ),
    ("SKU inativo ou sem política comercial", "sku_inactive_or_out_of_sales_channel"),
    ("SKU inactivo o sin política comercial", "sku_inactive_or_out_of_sales_channel"),
    ("Inactive SKU or SKU outside the sales channel", "sku_inactive_or_out_of_sales_channel"),
    ("SKU with no trade policy", "sku_without_trade_policy"),
    ("SKU sem política comercial vinculada", "sku_without_trade_policy"),
    ("SKU sin política comercial", "sku_without_trade_policy"),
    ("Order status is cancelled on the marketplace", "order_canceled_on_marketplace"),
    (
        "SKUs in the order don't belong to a VTEX Store, SKU id is not an integer",
        "sku_not_in_store",
    ),
    (
        "Sku in order don\u2019t belong to a VTEX Store, sku id it\u2019s not an integer",
        "sku_not_in_store",
    ),
    (
        "Ocorreu um erro de comunicação com o catálogo - Acesso não autorizado do seller "
        "lojaexemplo para o sales channel 1",
        "catalog_unauthorized",
    ),
    (
        "Se produjo un error de comunicación con el sistema de catálogo \u2013 Acceso no "
        "autorizado del seller tienda01 a política comercial 2",
        "catalog_unauthorized",
    ),
]
UNRECOGNISED_MESSAGES = [
    "Timeout while contacting the marketplace",
    "Invalid postal code 00000-000 for this carrier",
    "SKU inactive since yesterday",
    "Erro desconhecido ao processar o pedido",
    "Pedido duplicado",
]

SKU_IDS = ["1070", "2231", "3301", "3302", "3303", "42", "9876543210", "CAM-AZ-42", "0123", "A-1"]
QUANTITIES = [1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 5, 12]
ITEM_COUNTS = [1, 1, 1, 1, 1, 1, 2, 2, 2, 3]


def message_variants(message: str) -> list[str]:
    """What the Admin, the help articles and copy-paste vary on."""
    return [
        message,
        message.upper(),
        message.lower(),
        "  " + message.replace(" ", "  ") + "\n",
        message.replace(" ", "\t", 1),
        f"Error: {message}",
        f"Erro - {message}",
        f"`{message}`",
        f'"{message}."',
        message.rstrip(".") + ".",
    ]


def message_corpus() -> list[tuple[str, str]]:
    """(message, expected error code) pairs."""
    bases: list[tuple[str, str]] = []
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        bases.append((data["error_message"], path.stem))
    bases += EXTRA_MESSAGES
    bases += [(text, "unrecognized") for text in UNRECOGNISED_MESSAGES]
    corpus = [(variant, code) for text, code in bases for variant in message_variants(text)]
    return list(dict.fromkeys(corpus))


def build_contexts(n: int, seed: int) -> tuple[list, list[str]]:
    from assistant.models import OrderContext

    rng = random.Random(seed)
    corpus = message_corpus()
    contexts = []
    expected = []
    for i in range(n):
        message, code = corpus[i % len(corpus)]
        items = [
            {"sku_id": rng.choice(SKU_IDS), "quantity": rng.choice(QUANTITIES)}
            for _ in range(rng.choice(ITEM_COUNTS))
        ]
        suffix = rng.choice(["", "", "", "", "_FBA", "FBAOS"])
        fields = {
            "order_id": f"70{i % 3}-{rng.randrange(10**7):07d}-{i:07d}{suffix}",
            "error_message": message,
            "items": items,
            "sales_channel": rng.choice(["1", "3", None]),
            "affiliate_id": "MZN",
            "postal_code": rng.choice(["01310-100", "22041-001", None]),
            "country": rng.choice(["BRA", None]),
        }
        contexts.append(OrderContext.model_validate(fields))
        expected.append(code)
    return contexts, expected


def peak_rss_mib() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def fmt_rss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def run(diagnoser, contexts) -> float:
    # The diagnoses are not kept: holding 100k of them would measure the garbage collector.
    diagnose = diagnoser.diagnose
    start = time.perf_counter()
    for ctx in contexts:
        diagnose(ctx)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--orders", type=int, default=100_000, help="orders for the cached run (default 100000)"
    )
    parser.add_argument(
        "--raw-orders",
        type=int,
        default=20_000,
        help="orders for the uncached (raw engine) run (default 20000; 0 skips it)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed for the order mix")
    parser.add_argument(
        "--check",
        type=int,
        default=500,
        help="orders diagnosed by both Diagnosers and compared, untimed (default 500)",
    )
    args = parser.parse_args()
    if args.orders < 1 or args.raw_orders < 0:
        parser.error("--orders must be >= 1 and --raw-orders >= 0")

    sys.path.insert(0, str(REPO_ROOT))  # a checkout without an editable install
    from assistant.classify import classify
    from assistant.diagnose import Diagnoser, compile_rulebook
    from assistant.triage.cache import CachingDiagnoser

    rss_start = peak_rss_mib()
    t0 = time.perf_counter()
    contexts, expected = build_contexts(max(args.orders, args.raw_orders), args.seed)
    build_s = time.perf_counter() - t0
    rss_built = peak_rss_mib()

    t0 = time.perf_counter()
    cached = CachingDiagnoser(compile_rulebook())
    compile_s = time.perf_counter() - t0

    rows = []
    cached_contexts = contexts[: args.orders]
    elapsed = run(cached, cached_contexts)
    rows.append(("CachingDiagnoser (triage)", len(cached_contexts), elapsed, cached.evaluations))
    rss_cached = peak_rss_mib()

    # Untimed: the message mix classifies as intended.
    codes = [classify(ctx.error_message, cached.rulebook).code for ctx in cached_contexts]
    mismatches = sum(got != want for got, want in zip(codes, expected, strict=False))

    raw = Diagnoser(cached.rulebook, cached.engine)
    rss_raw = None
    if args.raw_orders:
        raw_contexts = contexts[: args.raw_orders]
        elapsed = run(raw, raw_contexts)
        rows.append(("Diagnoser (raw engine)", len(raw_contexts), elapsed, raw.evaluations))
        rss_raw = peak_rss_mib()

    # Untimed: the cache must not change any diagnosis.
    sample = contexts[: args.check]
    differ = sum(cached.diagnose(c) != raw.diagnose(c) for c in sample)

    print(
        f"## Throughput: Diagnoser.diagnose (Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()})\n"
    )
    print("| Diagnoser | orders | time (s) | orders/s | engine evaluations | vs aim 5,000/s |")
    print("|---|---:|---:|---:|---:|---|")
    for name, n, seconds, evaluations in rows:
        rate = n / seconds
        verdict = "ok" if rate >= TARGET_ORDERS_PER_S else "BELOW"
        print(
            f"| {name} | {n:,} | {seconds:.2f} | {rate:,.0f} | {evaluations:,} "
            f"| {verdict} ({rate / TARGET_ORDERS_PER_S:.1f}x) |"
        )
    print()
    print("| Peak RSS (ru_maxrss) | value |")
    print("|---|---:|")
    print(f"| after imports | {fmt_rss(rss_start)} |")
    print(f"| after building {len(contexts):,} OrderContexts | {fmt_rss(rss_built)} |")
    print(f"| after the cached run | {fmt_rss(rss_cached)} |")
    if args.raw_orders:
        print(f"| after the raw-engine run | {fmt_rss(rss_raw)} |")
    print()
    mix = Counter(codes)
    print(
        f"Setup (untimed): {len(message_corpus())} distinct messages, built {len(contexts):,} "
        f"contexts in {build_s:.1f} s, compile_rulebook {compile_s * 1000:.0f} ms. "
        f"Cached run: {1 - rows[0][3] / rows[0][1]:.0%} cache hits, "
        f"{mix['unrecognized'] / len(codes):.0%} unrecognised, "
        f"{mismatches} classification(s) differing from the expected code. "
        f"Cached vs uncached diagnoses differing on {len(sample)} orders: {differ}."
    )
    return 0 if mismatches == 0 and differ == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
