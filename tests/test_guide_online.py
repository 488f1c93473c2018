"""`guide` online against a stateful loopback VTEX: exactly the expected writes, only with
--apply, idempotent on a second run, failed writes reported and not retried, no secrets kept."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

import assistant.vtex.recording as recording
from assistant.cli import app
from assistant.playbook import load_playbooks
from assistant.sessions import SessionStore
from assistant.vtex import VtexClient
from tests.guide_answers import choice_answers
from tests.vtex_server import VtexServer, env_for
from tests.vtex_store import TRADE_POLICY, Sku, Store

KEY = "vtexappkey-teststore-GUIDE"
TOKEN = "tok-77aa-SECRET-guide-never-print"
SKU_PUT = "/api/catalog/pvt/stockkeepingunit/3303"
POLICY_POST = f"/api/catalog/pvt/product/93303/salespolicy/{TRADE_POLICY}"


@pytest.fixture(autouse=True)
def no_real_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        recording, "VtexClient", functools.partial(VtexClient, sleep=lambda _: None)
    )


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def order(tmp_path: Path) -> Path:
    path = tmp_path / "order.json"
    path.write_text(
        json.dumps(
            {
                "order_id": "702-1183344-9902211",
                "error_message": "Order with SKU inactive or out of sales channel",
                "items": [{"sku_id": "3303"}],
                "sales_channel": TRADE_POLICY,
                "affiliate_id": "MZN",
            }
        )
    )
    return path


def broken_store(**sku: object) -> Store:
    """SKU 3303 is inactive and its product is not in Amazon's trade policy."""
    options = {"active": False, "trade_policies": ["1"], **sku}
    return Store().add(Sku("3303", **options))  # type: ignore[arg-type]


@pytest.fixture
def served() -> Iterator[tuple[Store, VtexServer]]:
    store = broken_store()
    with store.serve(require_keys=(KEY, TOKEN)) as server:
        yield store, server


def guide(
    server: VtexServer, state: Path, *args: str, extra: dict[str, str] | None = None
) -> Result:
    """`guide ARGS`, the questions answered with their first choice that goes on."""
    env = {**env_for(server, app_key=KEY, app_token=TOKEN), "ORDER_ASSISTANT_STATE_DIR": str(state)}
    answers = state.parent / "answers.yaml"
    answers.write_text(yaml.safe_dump({**choice_answers(load_playbooks()), **(extra or {})}))
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "120", **env})
    return runner.invoke(app, ["guide", *args, "--answers", str(answers)], catch_exceptions=False)


def writes(server: VtexServer) -> list[tuple[str, str]]:
    return [(w.method, w.path) for w in server.writes()]


def test_apply_yes_sends_exactly_the_two_fixes_then_verifies(
    served: tuple[Store, VtexServer], state: Path, order: Path
) -> None:
    store, server = served
    result = guide(server, state, str(order), "--apply", "--yes")
    assert result.exit_code == 0, result.stderr
    assert writes(server) == [("PUT", SKU_PUT), ("POST", POLICY_POST)]
    assert store.skus["3303"].active
    assert TRADE_POLICY in store.skus["3303"].trade_policies
    # The PUT is the whole record as read, with only IsActive changed.
    [put, _] = server.writes()
    before = broken_store().sku_record(broken_store().skus["3303"])
    assert put.body == {**before, "IsActive": True}
    audit = SessionStore(state).audit_entries()
    assert [(e.method, e.path, e.outcome) for e in audit] == [
        ("PUT", SKU_PUT, "written"),
        ("POST", POLICY_POST, "written"),
    ]
    (session,) = SessionStore(state).sessions()
    assert [e.outcome for e in session.plan] == ["fixed", "fixed"]
    assert "Actions > Reprocess" in result.stderr


def test_a_second_run_writes_nothing(
    served: tuple[Store, VtexServer], state: Path, order: Path
) -> None:
    _, server = served
    assert guide(server, state, str(order), "--apply", "--yes").exit_code == 0
    server.clear_requests()
    again = guide(server, state, str(order), "--apply", "--yes")
    assert again.exit_code == 0, again.stderr
    assert writes(server) == []
    assert "No cause to fix" in again.stderr


def test_the_fix_rereads_the_state_and_writes_nothing_when_it_is_right(
    state: Path, order: Path
) -> None:
    """The SKU context could not be read (403), so the operator said "inactive"; the fix reads
    the record again, finds the SKU active, and writes nothing."""
    store = broken_store(active=True)
    with store.serve(require_keys=(KEY, TOKEN)) as server:
        server.fault("GET /api/catalog_system/pvt/sku/stockkeepingunitbyid/3303", {"status": 403})
        result = guide(
            server,
            state,
            str(order),
            "--apply",
            "--yes",
            "--playbook",
            "activate-sku",
            extra={"activate-sku.check-active": "no"},
        )
    # The SKU needed nothing, but the diagnosis run again still finds the order's other cause.
    assert result.exit_code == 1, result.stderr
    assert "diagnosis again: store-side cause confirmed: sku_not_in_trade_policy" in result.stderr
    assert writes(server) == []
    assert "already active: nothing to write" in result.stderr
    assert SessionStore(state).audit_entries() == []
    (session,) = SessionStore(state).sessions()
    assert session.plan[0].outcome == "already right"


def test_without_apply_nothing_is_written_and_the_cause_remains(
    served: tuple[Store, VtexServer], state: Path, order: Path
) -> None:
    store, server = served
    result = guide(server, state, str(order), "--yes")
    assert result.exit_code == 1, result.stderr
    assert writes(server) == []
    assert not store.skus["3303"].active
    assert "dry-run" in result.stderr
    assert f"PUT {SKU_PUT}" in result.stderr
    outcomes = [(e.method, e.outcome) for e in SessionStore(state).audit_entries()]
    assert outcomes == [("PUT", "dry-run"), ("POST", "dry-run")]


def test_a_failed_write_is_reported_recorded_and_not_retried(
    served: tuple[Store, VtexServer], state: Path, order: Path
) -> None:
    store, server = served
    server.fault(f"PUT {SKU_PUT}", {"status": 500, "body": {"Message": "boom"}})
    result = guide(server, state, str(order), "--apply", "--yes")
    assert result.exit_code == 1, result.stderr
    assert [w.method for w in server.writes()].count("PUT") == 1  # not retried
    assert "the write failed" in result.stderr
    assert "Nothing more is sent for this fix" in result.stderr
    assert not store.skus["3303"].active
    audit = SessionStore(state).audit_entries()
    assert (audit[0].method, audit[0].outcome) == ("PUT", "failed")
    assert "500" in audit[0].detail
    (session,) = SessionStore(state).sessions()
    assert session.plan[0].outcome == "write failed"


def test_a_sku_that_will_not_activate_is_explained(state: Path, order: Path) -> None:
    """VTEX answers 200 but keeps a SKU without an image inactive: the verify step fails and the
    playbook says why (the articles: no image, incomplete registration)."""
    store = broken_store(images=0)
    with store.serve(require_keys=(KEY, TOKEN)) as server:
        result = guide(server, state, str(order), "--apply", "--yes", "--playbook", "activate-sku")
    assert ("PUT", SKU_PUT) in writes(server)
    assert not store.skus["3303"].active
    assert "image" in result.stderr
    assert result.exit_code in (0, 1)
    (session,) = SessionStore(state).sessions()
    assert session.plan[0].outcome != "fixed"


def test_no_secret_in_session_files_audit_or_output(
    served: tuple[Store, VtexServer], state: Path, order: Path
) -> None:
    _, server = served
    server.fault(f"PUT {SKU_PUT}", {"status": 500, "body": {"Message": f"echo {TOKEN} {KEY}"}})
    result = guide(server, state, str(order), "--apply", "--yes")
    kept = [p.read_text() for p in state.rglob("*") if p.is_file()]
    assert kept
    for text in [result.stdout, result.stderr, *kept]:
        assert TOKEN not in text
        assert KEY not in text


def test_the_amazon_case_draft_carries_the_evidence_that_the_store_is_clean(
    state: Path, tmp_path: Path
) -> None:
    order = tmp_path / "not-in-store.json"
    order.write_text(
        json.dumps(
            {
                "order_id": "702-6672210-1100934",
                "error_message": (
                    "Sku in order don't belong to a VTEX Store, sku id it's not an integer"
                ),
                "items": [{"sku_id": "3303", "seller_sku": "CAM-3303", "quantity": 2}],
                "sales_channel": TRADE_POLICY,
                "country": "BRA",
            }
        )
    )
    store = Store().add(Sku("3303"))
    with store.serve(require_keys=(KEY, TOKEN)) as server:
        result = guide(server, state, str(order), "--yes")
    assert result.exit_code == 0, result.stderr
    assert writes(server) == []
    draft = result.stdout
    assert draft.startswith("# Case draft for Amazon Seller Support: Amazon order 702-6672210")
    assert (
        "```\nSku in order don't belong to a VTEX Store, sku id it's not an integer\n```" in draft
    )
    assert "| 3303 | CAM-3303 | 3303 | 2 |" in draft
    assert "SKU 3303: IsActive=true" in draft  # a passing check, as evidence
    assert "Marketplace: Amazon (BRA)" in draft
    (case,) = (state / "cases").iterdir()
    assert case.read_text() == draft


def test_an_incomplete_sku_record_is_never_sent_back(
    served: tuple[Store, VtexServer], state: Path, order: Path
) -> None:
    """A record without a field VTEX's PUT needs would clear that field: refuse to plan it."""
    store, server = served
    partial = store.sku_record(store.skus["3303"])
    del partial["PackagedWeightKg"]
    server.fault("GET /api/catalog/pvt/stockkeepingunit/3303", {"body": partial}, times=None)
    result = guide(server, state, str(order), "--apply", "--yes", "--playbook", "activate-sku")
    assert result.exit_code == 1, result.stderr
    assert writes(server) == []
    assert "could not plan the fix" in result.stderr
    assert "PackagedWeightKg" in result.stderr
    (session,) = SessionStore(state).sessions()
    assert (session.status, session.plan[0].outcome) == ("done", "not fixed")


def test_ctrl_c_while_a_write_is_out_is_in_the_audit_log(
    served: tuple[Store, VtexServer], state: Path, order: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(VtexClient, "update_sku", interrupted)
    _, server = served
    result = guide(server, state, str(order), "--apply", "--yes", "--playbook", "activate-sku")
    assert result.exit_code == 130
    assert "guide --resume" in result.stderr
    [entry] = SessionStore(state).audit_entries()
    assert (entry.method, entry.outcome) == ("PUT", "interrupted")
    assert "may have been applied" in entry.detail


def test_apply_yes_links_the_trade_policy_and_activates_the_sku_end_to_end(
    served: tuple[Store, VtexServer], state: Path, order: Path
) -> None:
    """No answers file entry for any manual step: `--apply --yes` alone takes the walk through
    both fixes, and the diagnosis run again finds nothing left (exit 0). Reprocessing is left
    to the operator, and said so."""
    store, server = served
    result = guide(server, state, str(order), "--apply", "--yes")
    assert result.exit_code == 0, result.stderr
    assert store.skus["3303"].active
    assert TRADE_POLICY in store.skus["3303"].trade_policies
    assert "diagnosis again: every check passes" in result.stderr
    (session,) = SessionStore(state).sessions()
    assert session.status == "done"
    reprocess = [r for r in session.history if r.step == "reprocess"]
    # The first playbook's reprocess waits for the second; neither is marked done by --yes.
    assert [r.outcome for r in reprocess] == ["postponed", "to do"]


def test_a_manual_step_without_an_answer_stops_the_run_with_exit_1(
    state: Path, order: Path
) -> None:
    """The product is inactive and only the Admin can activate it: --yes does not pretend the
    operator did, so the run stops at that step, says what to do, and the cause remains."""
    store = Store().add(Sku("3303", product_active=False))
    with store.serve(require_keys=(KEY, TOKEN)) as server:
        result = guide(server, state, str(order), "--apply", "--yes")
    assert result.exit_code == 1, result.stderr
    assert "this step is done by hand" in result.stderr
    assert "activate-product.activate: yes" in result.stderr
    assert "store-side cause confirmed: product_inactive" in result.stderr
    (session,) = SessionStore(state).sessions()
    assert (session.status, session.step_id) == ("paused", "activate")
    assert not any(r.step == "activate" for r in session.history)
    assert writes(server) == []


def test_the_record_is_read_again_after_the_confirmation(
    served: tuple[Store, VtexServer], state: Path, order: Path
) -> None:
    """What the prompt showed was read before it; the PUT carries the record as read after the
    operator said yes, so a change made meanwhile in the Admin is not undone."""
    store, server = served
    live = store.sku_record(store.skus["3303"])
    stale = {**live, "Name": "name before the prompt"}
    server.fault("GET /api/catalog/pvt/stockkeepingunit/3303", {"body": stale})
    result = guide(server, state, str(order), "--apply", "--yes", "--playbook", "activate-sku")
    assert result.exit_code in (0, 1), result.stderr
    [put] = [w for w in server.writes() if w.method == "PUT"]
    assert put.body == {**live, "IsActive": True}
    assert "the record changed since it was shown" in result.stderr


def test_no_case_draft_while_the_checks_confirm_a_store_side_cause(
    served: tuple[Store, VtexServer], state: Path, order: Path
) -> None:
    _, server = served
    result = guide(server, state, str(order), "--yes", "--playbook", "contact-amazon")
    assert result.exit_code == 1, result.stderr
    assert "no case draft for Amazon Seller Support" in result.stderr
    assert "sku_inactive" in result.stderr
    assert "# Case draft" not in result.stdout
    assert not (state / "cases").exists()
