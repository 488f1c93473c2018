"""Regenerate examples/recordings/: one recorded online diagnosis per example order.

Each example is diagnosed with `--record` against the loopback VTEX server of the test suite,
serving a store (built from VTEX's documented response shapes) in which the example's error has
one real cause. A new user can then replay them without an account:

    order-assistant diagnose examples/sku_inactive.json \
        --replay examples/recordings/sku_inactive.json

Run from the repository root: python scripts/record_examples.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.vtex_server import VtexServer, env_for  # noqa: E402
from tests.vtex_store import AMAZON_WAREHOUSE, Sku, Store  # noqa: E402

EXAMPLES = REPO / "examples"
OUT = EXAMPLES / "recordings"


def store_for(code: str) -> Store:
    """The store state behind each example: one broken link, true to the example's message."""
    stores = {
        "sla_unavailable": Store(simulation="no_sla", covered=False)
        .add(Sku("1070"))
        .add(Sku("2231")),
        "sku_out_of_stock": Store(simulation="unavailable").add(
            Sku("1070", stock={AMAZON_WAREHOUSE: (2, 0)})
        ),
        "sku_inactive": Store().add(Sku("3301", active=False)),
        "sku_without_trade_policy": Store().add(Sku("3302", trade_policies=["1"])),
        "sku_inactive_or_out_of_sales_channel": Store().add(Sku("3303", trade_policies=["1"])),
        "sku_not_in_store": Store().add(Sku("1070", ref_id="CAM-AZ-42")),
    }
    return stores.get(code, Store().add(Sku("1070")))


def main() -> int:
    OUT.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "assistant"]
    with VtexServer() as server:
        for example in sorted(EXAMPLES.glob("*.json")):
            code = example.stem
            server.set_scenario(store_for(code).scenario(code))
            target = OUT / f"{code}.json"
            env = {**os.environ, **env_for(server), "NO_COLOR": "1"}
            result = subprocess.run(
                [*command, "diagnose", str(example), "--json", "--record", str(target)],
                env=env,
                capture_output=True,
                text=True,
                cwd=REPO,
                check=False,
            )
            if result.returncode not in (0, 3):
                sys.stderr.write(result.stderr)
                return 1
            findings = [(f["code"], f["status"]) for f in json.loads(result.stdout)["findings"]]
            print(f"{code}: {len(server.requests)} requests recorded; findings {findings}")
            server.clear_requests()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
