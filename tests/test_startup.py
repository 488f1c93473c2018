"""Start-up: an offline `diagnose --json` loads only what it uses (item 6 of issue 12; the wall
time itself is measured by benchmarks/bench_startup.py, never asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from assistant.cli import app, app_for
from tests.conftest import EXAMPLES, REPO

# Runs the CLI's entry point in a fresh interpreter and reports the top-level packages loaded.
_PROBE = """
import json, os, sys
from assistant.cli import main
sys.argv = ["order-assistant", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
loaded = sorted({name.split(".")[0] for name in sys.modules})
ours = sorted(name for name in sys.modules if name.startswith("assistant."))
plugins = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
frozen = __import__("gc").get_freeze_count()
sys.stderr.write(
    json.dumps(
        {"code": code, "modules": loaded, "ours": ours, "plugins": plugins, "frozen": frozen}
    )
)
"""


def _probe(args: list[str], **env: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    # The probe's report is the last line; the command's own messages come before it.
    report: dict[str, Any] = json.loads(proc.stderr.splitlines()[-1])
    report["stdout"] = proc.stdout
    return report


def test_offline_diagnose_json_loads_no_yaml_http_terminal_or_thread_pool() -> None:
    args = ["diagnose", str(EXAMPLES / "sla_unavailable.json"), "--json", "--offline"]
    report = _probe([*args, "--order-id", "702-1"])
    assert report["code"] == 0
    assert json.loads(report["stdout"])["order_id"] == "702-1"
    assert not {"yaml", "httpx", "rich", "concurrent"} & set(report["modules"])
    assert {"durable", "pydantic"} <= set(report["modules"])  # the engine and models it uses
    # The shipped rulesets come validated from their snapshot (assistant/snapshot.py).
    assert "assistant.ruleset_schema" not in report["ours"]
    assert "assistant.rulesets" in report["ours"]


def test_the_process_skips_the_garbage_collection_of_its_shutdown() -> None:
    # What the command built is frozen out of the collector's last pass (cli.main); its
    # output is complete all the same.
    args = ["diagnose", str(EXAMPLES / "sla_unavailable.json"), "--json", "--offline"]
    report = _probe([*args, "--order-id", "702-1"])
    assert report["frozen"] > 10_000
    assert json.loads(report["stdout"])["error"]["code"] == "sla_unavailable"
    failed = _probe(["diagnose", str(REPO / "no-such-order.json"), "--json"])
    assert failed["code"] == 2
    assert failed["frozen"] > 0


def test_pydantic_plugins_are_not_searched_for_unless_the_user_says_otherwise() -> None:
    args = ["diagnose", str(EXAMPLES / "sla_unavailable.json"), "--json", "--offline"]
    assert _probe(args)["plugins"] == "__all__"
    assert _probe(args, PYDANTIC_DISABLE_PLUGINS="")["plugins"] == ""
    assert _probe(args, PYDANTIC_DISABLE_PLUGINS="some_plugin")["plugins"] == "some_plugin"


@pytest.mark.parametrize(
    "argv",
    [
        ["diagnose", "--help"],
        ["guide", "--help"],
        ["rules", "list", "--help"],
        ["plan", "--help"],
        ["diagnose", "--order-id"],  # an option without its value: the same error
        ["diagnose", str(EXAMPLES / "sla_unavailable.json"), "--offline", "--json"],
    ],
)
def test_the_app_holding_only_the_invoked_command_behaves_as_the_whole_app(
    argv: list[str],
) -> None:
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "120"})
    whole = runner.invoke(app, argv)
    only = runner.invoke(app_for(argv), argv)
    assert (only.exit_code, only.stdout, only.stderr) == (
        whole.exit_code,
        whole.stdout,
        whole.stderr,
    )
    assert len(typer.main.get_command(app_for(argv)).commands) == 1  # type: ignore[attr-defined]


def test_anything_but_a_command_gets_the_whole_app() -> None:
    for argv in ([], ["--help"], ["--version"], ["diagnos"]):
        assert app_for(argv) is app
