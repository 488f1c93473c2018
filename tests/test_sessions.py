"""The session store and the audit log: atomic saves, resumable state, readable errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.errors import UsageError
from assistant.models import OrderContext
from assistant.sessions import (
    AuditEntry,
    PlanEntry,
    Session,
    SessionError,
    SessionStore,
    new_session_id,
    now,
    state_dir,
)

ORDER = OrderContext(
    order_id="702-1183344-9902211",
    error_message="Order with SKU inactive or out of sales channel",
    items=[{"sku_id": "3303"}],  # type: ignore[list-item]
)


def _session(**changes: object) -> Session:
    stamp = now()
    session = Session(
        id=new_session_id(),
        created_at=stamp,
        updated_at=stamp,
        order=ORDER,
        error_code="sku_inactive_or_out_of_sales_channel",
        mode="offline",
        plan=[PlanEntry(playbook="activate-sku", finding="sku_inactive", sku_id="3303")],
    )
    return session.model_copy(update=changes)


def test_a_saved_session_loads_back_equal(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    session = _session(step_id="check-active", answers={"activate-sku.check-active@3303": "no"})
    store.save(session)
    loaded = store.load(session.id)
    assert loaded == session
    assert [s.id for s in store.sessions()] == [session.id]


def test_the_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    store.save(_session())
    assert [p.suffix for p in (tmp_path / "sessions").iterdir()] == [".json"]


def test_a_failed_save_keeps_the_previous_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SessionStore(tmp_path)
    session = _session(step_id="first")
    store.save(session)

    def crash(*args: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        store.save(session.model_copy(update={"step_id": "second"}))
    monkeypatch.undo()
    assert store.load(session.id).step_id == "first"
    assert len(list((tmp_path / "sessions").iterdir())) == 1  # the temporary file is gone


def test_a_malformed_id_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a session id"):
        SessionStore(tmp_path).load("../../etc/passwd")


def test_an_unknown_session_names_the_folder_and_the_list_command(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="sessions list") as caught:
        SessionStore(tmp_path).load("20261127-101010-abcdef")
    assert str(tmp_path) in caught.value.message


def test_a_damaged_session_file_is_named_with_the_field(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    session = _session()
    store.save(session)
    path = tmp_path / "sessions" / f"{session.id}.json"
    path.write_text(path.read_text().replace('"offline"', '"sideways"'))
    with pytest.raises(SessionError, match="mode") as caught:
        store.load(session.id)
    assert str(path) in caught.value.message
    assert store.sessions() == []  # listing skips what it cannot read


def test_the_audit_log_appends_and_filters_by_session(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    for session, outcome in (("s1", "dry-run"), ("s2", "written"), ("s1", "failed")):
        store.audit(
            AuditEntry(
                time=now(),
                session=session,
                order="702-1",
                playbook="activate-sku",
                step="activate",
                method="PUT",
                path="/api/catalog/pvt/stockkeepingunit/1",
                outcome=outcome,
            )
        )
    with store.audit_path.open("a") as log:
        log.write('{"time": "cut short by a cr')  # a crash mid-line
    assert [e.outcome for e in store.audit_entries("s1")] == ["dry-run", "failed"]
    assert len(store.audit_entries()) == 3


def test_the_state_dir_comes_from_the_environment(tmp_path: Path) -> None:
    assert state_dir({"ORDER_ASSISTANT_STATE_DIR": str(tmp_path)}) == tmp_path
    assert "order-assistant" in str(state_dir({}))


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_sessions_list_keeps_each_id_and_order_id_on_one_line(
    columns: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from assistant.cli import app

    store = SessionStore(tmp_path)
    long_order = ORDER.model_copy(update={"order_id": "702-1183344-9902211_FBA"})
    sessions = [
        _session(status="needs_input", step_id="check-active"),
        _session(order=long_order, status="interrupted", step_id="verify-active"),
    ]
    for session in sessions:
        store.save(session)
    runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": str(columns)})
    monkeypatch.setenv("ORDER_ASSISTANT_STATE_DIR", str(tmp_path))
    result = runner.invoke(app, ["sessions", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= columns for line in lines), result.stdout
    for session in sessions:
        assert any(session.id in line and session.order.order_id in line for line in lines), (
            result.stdout
        )
