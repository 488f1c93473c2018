"""Every command's `--json` document comes from the output-format interface (assistant/formats.py),
and it is the same document the command printed before the interface existed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.formats import JsonFormat
from assistant.playbook import load_playbooks
from assistant.rulesets import load_rulebook
from tests.conftest import EXAMPLES
from tests.vtex_server import VtexServer, env_for
from tests.vtex_store import Sku, Store

INACTIVE_SKU = "1001"


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What went through JsonFormat's one outlet, in order."""
    texts: list[str] = []
    emit = JsonFormat.emit

    def spy(self: JsonFormat, text: str) -> None:
        texts.append(text)
        emit(self, text)

    monkeypatch.setattr(JsonFormat, "emit", spy)
    return texts


@pytest.fixture(scope="module")
def server() -> Iterator[VtexServer]:
    store = Store()
    store.add(Sku(INACTIVE_SKU, active=False))
    with store.serve() as running:
        yield running


@pytest.fixture
def invoke(tmp_path: Path, server: VtexServer) -> Any:
    """Run a command with a fresh state folder; online commands reach the loopback store."""
    env = {**env_for(server), "ORDER_ASSISTANT_STATE_DIR": str(tmp_path / "state")}

    def run(*args: str, online: bool = False) -> tuple[int, str]:
        runner = CliRunner(
            env=env if online else {"ORDER_ASSISTANT_STATE_DIR": env["ORDER_ASSISTANT_STATE_DIR"]}
        )
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout

    return run


def only_from_interface(stdout: str, written: list[str]) -> Any:
    """stdout is exactly the one document the interface wrote; that document, parsed."""
    assert len(written) == 1
    assert stdout == written[0]
    return json.loads(stdout)


def test_rules_list_json_comes_from_the_interface(invoke: Any, written: list[str]) -> None:
    _, stdout = invoke("rules", "list", "--json")
    rulebook = load_rulebook([])
    assert only_from_interface(stdout, written) == {
        "errors": [
            {
                "code": e.code,
                "title": e.title,
                "patterns": [p.pattern for p in e.patterns],
                "rules": [r.name for r in rulebook.rules_for(e.code)],
            }
            for e in rulebook.errors.values()
        ]
    }


def test_playbooks_list_json_comes_from_the_interface(invoke: Any, written: list[str]) -> None:
    _, stdout = invoke("playbooks", "list", "--json")
    playbooks = load_playbooks((), load_rulebook([]))
    assert only_from_interface(stdout, written) == {
        "playbooks": [
            {
                "id": p.id,
                "title": p.title,
                "findings": list(p.findings),
                "fixes": p.fixes,
                "steps": len(p.steps),
            }
            for p in sorted(playbooks.values(), key=lambda p: p.id)
        ]
    }


def test_diagnose_json_comes_from_the_interface(invoke: Any, written: list[str]) -> None:
    code, stdout = invoke("diagnose", str(EXAMPLES / "sku_inactive.json"), "--offline", "--json")
    document = only_from_interface(stdout, written)
    assert code == 0  # offline: diagnosed, with suspected causes
    assert document["schema_version"] == 1
    assert document["error"]["code"] == "sku_inactive"
    # The renderers' fields stay out of the contract.
    assert not {"summary", "admin_links"} & set(document)


def test_verify_json_comes_from_the_interface(invoke: Any, written: list[str]) -> None:
    code, stdout = invoke(
        "verify",
        "-m",
        "Inactive SKU",
        "--order-id",
        "702-1",
        "--sku",
        INACTIVE_SKU,
        "--json",
        online=True,
    )
    document = only_from_interface(stdout, written)
    assert (code, document["verdict"], document["store_side_clean"]) == (1, "action_needed", False)
    assert {"reason", "findings", "checks", "next_steps"} <= set(document)
    assert "admin_links" not in document


def test_sessions_json_comes_from_the_interface(invoke: Any, written: list[str]) -> None:
    invoke("guide", str(EXAMPLES / "sku_inactive.json"), "--offline")  # stops for an answer
    _, listed = invoke("sessions", "list", "--json")
    sessions = only_from_interface(listed, written)["sessions"]
    assert [set(row) for row in sessions] == [
        {"id", "created_at", "status", "order_id", "error_code", "at"}
    ]
    written.clear()
    _, shown = invoke("sessions", "show", sessions[0]["id"], "--json")
    session = only_from_interface(shown, written)
    assert session["id"] == sessions[0]["id"]
    assert session["audit"] == []


def test_plan_show_and_apply_json_come_from_the_interface(
    invoke: Any, written: list[str], tmp_path: Path
) -> None:
    export = tmp_path / "orders.csv"
    export.write_text(
        f"order_id,error_message,sku_id\n702-1,Inactive SKU,{INACTIVE_SKU}\n", encoding="utf-8"
    )
    plan = tmp_path / "plan.json"
    _, triaged = invoke("triage", str(export), "--plan", str(plan), "--json", online=True)
    assert triaged == "".join(written)  # streamed: a header, each order, the tail
    document = json.loads(triaged)
    assert [set(document), document["orders"][0]["row"]] == [
        {"schema_version", "mode", "orders", "bad_rows", "summary"},
        2,
    ]
    written.clear()

    _, shown = invoke("plan", "show", str(plan), "--json")
    assert only_from_interface(shown, written) == json.loads(plan.read_text(encoding="utf-8"))
    written.clear()
    code, applied = invoke("plan", "apply", str(plan), "--json", online=True)  # a dry-run
    document = only_from_interface(applied, written)
    assert code == 1
    assert document["applied"] is False
    assert document["writes"]["counts"] == {"would_write": 1}
