"""Hostile data and a misbehaving environment (issue 11): escape bytes, spreadsheet formulas,
outputs over inputs, broken CSV rows, concurrent sessions, unreadable state files, file modes,
secrets in recordings and runaway regular expressions.

Each test feeds the hostile input through the CLI as an operator would, and asserts the exit
code, what was (not) written, and that no escape byte, formula or secret reaches any output.
"""

from __future__ import annotations

import csv
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import pytest
import yaml
from typer.testing import CliRunner, Result

from assistant.casedraft import CaseInput, case_draft
from assistant.cli import app
from assistant.diagnose import Diagnoser
from assistant.errors import InputError
from assistant.models import Diagnosis, ErrorInfo, Finding, OrderContext
from assistant.playbook import load_playbooks
from assistant.regexsafety import backtracking_problem
from assistant.safetext import spreadsheet_cell
from assistant.sessions import Session, SessionStore
from assistant.vtex.redaction import Redactor
from tests.conftest import EXAMPLES, RunCli
from tests.guide_answers import walk_answers
from tests.test_online import order
from tests.vtex_server import VtexServer, env_for
from tests.vtex_store import TRADE_POLICY, healthy_store

KEY = "vtexappkey-hardening-QX7Z2P"
# A slash and a plus: characters JSON may escape and URLs and forms percent-encode.
TOKEN = "HARDENINGTOKEN/b8e1f0c2+a9d4=never-shown"
# An OSC 8 hyperlink, a screen clear, a colour, a bidi override and a zero-width space, and
# rich markup that must print as itself.
HOSTILE = "Ama\x1b]8;;https://evil.example\x1b\\zon\x1b[2J\x1b[31m[red]x[/red]\u202etxt\u200b\x9b1m"
ESCAPE_BYTES = ("\x1b", "\x9b", "\u202e", "\u200b", "\x07")
INACTIVE = EXAMPLES / "sku_inactive.json"


def assert_no_escape(*texts: str) -> None:
    for text in texts:
        for byte in ESCAPE_BYTES:
            assert byte not in text, f"{byte!r} reached the output: {text!r}"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("VTEX_ACCOUNT", "VTEX_APP_KEY", "VTEX_APP_TOKEN", "VTEX_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "state"
    monkeypatch.setenv("ORDER_ASSISTANT_STATE_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def server() -> Iterator[VtexServer]:
    with VtexServer(require_keys=(KEY, TOKEN)) as running:
        yield running


def online(server: VtexServer, *args: str) -> Result:
    env = {**env_for(server, app_key=KEY, app_token=TOKEN), "NO_COLOR": "1", "COLUMNS": "200"}
    return CliRunner(env=env).invoke(app, list(args), catch_exceptions=False)


def hostile_trade_policy(server: VtexServer) -> None:
    store = healthy_store()
    store.trade_policy_active = False
    scenario: dict[str, Any] = store.scenario()
    route = f"GET /api/catalog_system/pub/saleschannel/{TRADE_POLICY}"
    scenario["routes"][route]["body"]["Name"] = HOSTILE
    server.set_scenario(scenario)


ORDER_ARGS = order("SKU without trade policy")  # SKU 1070, affiliate MZN, a Brazilian postal code


# ---- 1. control characters and markup from data -------------------------------------------


def test_item1_vtex_text_is_escaped_on_the_terminal_and_exact_in_json(
    server: VtexServer, tmp_path: Path
) -> None:
    hostile_trade_policy(server)
    recording = tmp_path / "run.json"
    shown = online(server, "diagnose", *ORDER_ARGS, "--record", str(recording))
    assert shown.exit_code == 0, shown.stderr
    assert_no_escape(shown.stdout, shown.stderr)
    assert "\\x1b[2J" in shown.stdout  # shown, as text
    assert "[red]x[/red]" in shown.stdout  # markup in data is not interpreted

    exact = online(server, "diagnose", *ORDER_ARGS, "--json")
    details = [check["detail"] for check in json.loads(exact.stdout)["checks"]]
    assert any(HOSTILE in detail for detail in details)  # JSON stays exact

    # The same answer, replayed from the recording, is escaped the same way.
    replayed = online(server, "verify", *ORDER_ARGS, "--replay", str(recording))
    assert "\\x1b[2J" in replayed.stdout
    assert_no_escape(replayed.stdout, replayed.stderr)


def test_item1_ruleset_playbook_and_order_file_text_is_escaped(
    run_cli: RunCli, tmp_path: Path, state: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "hostile.yaml").write_text(
        json.dumps(
            {
                "error": {
                    "code": "hostile_wording",
                    "title": HOSTILE,
                    "summary": HOSTILE,
                    "patterns": ["hostile wording here"],
                    "next_steps": [HOSTILE],
                }
            }
        ),
        encoding="utf-8",
    )
    order = tmp_path / "order.json"
    order.write_text(
        json.dumps({"order_id": "702-1\x1b[2J", "error_message": "hostile wording here"}),
        encoding="utf-8",
    )
    refused = run_cli("diagnose", str(order))  # order files refuse controls: named, escaped
    assert refused.exit_code == 2
    assert "U+001B" in refused.stderr
    assert_no_escape(refused.stdout, refused.stderr)
    order.write_text(
        json.dumps({"order_id": "702-1[red]x[/red]", "error_message": "hostile wording here"}),
        encoding="utf-8",
    )
    commands: list[tuple[str, ...]] = [
        ("rules", "list", "--rules-dir", str(rules)),
        ("rules", "show", "hostile_wording", "--rules-dir", str(rules)),
        ("diagnose", str(order), "--rules-dir", str(rules)),
        ("guide", str(order), "--rules-dir", str(rules)),
    ]
    for args in commands:
        result = run_cli(*args)
        assert result.exit_code in (0, 1), (args, result.stderr)
        assert_no_escape(result.stdout, result.stderr)
        if args[0] != "guide":  # (guide has no playbook to show for this error)
            assert "\\x1b" in result.stdout + result.stderr, args
        if args[0] != "rules":
            assert "702-1[red]x[/red]" in result.stdout + result.stderr

    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    source = (Path(__file__).parent.parent / "playbooks" / "restock.yaml").read_text("utf-8")
    title = next(line for line in source.splitlines() if line.startswith("title:"))
    hostile_title = "title: " + json.dumps(HOSTILE)
    (playbooks / "restock.yaml").write_text(source.replace(title, hostile_title), "utf-8")
    for args in (
        ("playbooks", "list", "--playbooks-dir", str(playbooks)),
        ("playbooks", "show", "restock", "--playbooks-dir", str(playbooks)),
    ):
        result = run_cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert_no_escape(result.stdout, result.stderr)
    assert "[red]x[/red]" in result.stdout  # `show` does not wrap the title


# ---- 2. spreadsheet formulas --------------------------------------------------------------


def test_item2_triage_csv_neutralises_formulas_and_says_so(
    run_cli: RunCli, tmp_path: Path, state: Path
) -> None:
    export = tmp_path / "orders.csv"
    # (Tabs and carriage returns cannot start an id: order files refuse them; see below.)
    formulas = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"]
    with export.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "error_message", "sku_id"])
        for number, formula in enumerate(formulas):
            writer.writerow([formula, "Order with SKU inactive", f"{formula}{number}"])
    report = tmp_path / "report.csv"
    result = run_cli("triage", str(export), "--csv", str(report))
    assert result.exit_code in (0, 1, 3), result.stderr
    with report.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    cells = [cell for row in rows[1:] for cell in row]
    assert len(rows) == 1 + len(formulas)
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert {row[1] for row in rows[1:]} == {"'" + formula for formula in formulas}
    assert [spreadsheet_cell(c) for c in ("\t=1", "\r=1", "702-1", "1")] == [
        "'\t=1",
        "'\r=1",
        "702-1",
        "1",
    ]

    help_text = run_cli("triage", "--help").stdout
    assert "OWASP" in " ".join(help_text.split())


# ---- 3. an output over an input, or through a link ----------------------------------------


def test_item3_outputs_over_inputs_or_links_are_refused_and_nothing_is_written(
    run_cli: RunCli, tmp_path: Path, state: Path, server: VtexServer
) -> None:
    export = tmp_path / "orders.csv"
    export.write_text("order_id,error_message\n702-1,Order with SKU inactive\n", "utf-8")
    original = export.read_bytes()
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep me", "utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(elsewhere)
    alias = tmp_path / "alias.csv"
    os.link(export, alias)  # a hard link: another name, the same file

    for target in (export, alias, link):
        result = run_cli("triage", str(export), "--csv", str(target))
        assert result.exit_code == 2, result.stdout
        assert str(target) in result.stderr
        assert "Traceback" not in result.stderr
    assert export.read_bytes() == original
    assert elsewhere.read_text("utf-8") == "keep me"

    order = tmp_path / "order.json"
    order.write_bytes(INACTIVE.read_bytes())
    hostile_trade_policy(server)
    for target in (order, link):
        result = online(server, "diagnose", str(order), "--record", str(target))
        assert result.exit_code == 2, result.stderr
        assert "Traceback" not in result.stderr
    assert order.read_bytes() == INACTIVE.read_bytes()
    assert elsewhere.read_text("utf-8") == "keep me"

    # The audit log of the state folder as a link: refused before the session starts.
    state.mkdir()
    (state / "audit.jsonl").symlink_to(elsewhere)
    guided = run_cli("guide", str(order))
    assert guided.exit_code == 2
    assert "symbolic link" in guided.stderr
    assert not (state / "sessions").exists()
    assert elsewhere.read_text("utf-8") == "keep me"


# ---- 10-12. sessions: one writer, unreadable files, private files --------------------------


def _needs_input_session(run_cli: RunCli, state: Path) -> str:
    result = run_cli("guide", str(INACTIVE))
    assert result.exit_code == 4, result.stderr
    (session,) = (state / "sessions").glob("*.json")
    return session.stem


def test_item10_a_session_in_use_cannot_be_resumed_by_a_second_run(
    run_cli: RunCli, state: Path, tmp_path: Path
) -> None:
    session_id = _needs_input_session(run_cli, state)
    session_file = state / "sessions" / f"{session_id}.json"
    before = session_file.read_bytes()
    lock = state / "sessions" / f"{session_id}.lock"
    lock.write_text(f"{os.getppid()}\n")  # a live process other than this one holds it

    second = run_cli("guide", "--resume", session_id, "--yes")
    assert second.exit_code == 2
    assert "open in another run" in second.stderr
    assert str(os.getppid()) in second.stderr
    assert session_file.read_bytes() == before  # no second writer
    assert lock.read_text() == f"{os.getppid()}\n"  # and it left the owner's lock alone

    # A lock whose process is gone is taken over, saying so; the run then records its steps.
    lock.write_text("999999999\n")
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(walk_answers(load_playbooks()["activate-sku"])))
    resumed = run_cli("guide", "--resume", session_id, "--yes", "--answers", str(answers))
    assert resumed.exit_code == 0, resumed.stderr
    assert "took over the lock" in resumed.stderr
    assert not lock.exists()  # released at the end
    history = json.loads(session_file.read_text())["history"]
    assert history, "the resumed run's steps are in the history"


def test_item11_an_unreadable_session_or_audit_file_is_reported_and_skipped(
    run_cli: RunCli, state: Path
) -> None:
    good = _needs_input_session(run_cli, state)
    bad = state / "sessions" / "20260101-000000-abcdef.json"
    bad.write_bytes(b'{"id": "\xff\xfe not utf-8 \x1b[2J"}')
    (state / "sessions" / "20260101-000001-abcdef.json").write_text("[]")
    with (state / "audit.jsonl").open("ab") as audit:
        audit.write(b"\xff\xfe\x1b[2J not a line\n")

    listed = run_cli("sessions", "list")
    assert listed.exit_code == 0
    assert good in listed.stdout
    assert "20260101-000000-abcdef.json: skipped: not UTF-8" in listed.stderr
    assert "20260101-000001-abcdef.json: skipped: not a session" in listed.stderr
    assert json.loads(run_cli("sessions", "list", "--json").stdout)["sessions"][0]["id"] == good

    shown = run_cli("sessions", "show", good)
    assert shown.exit_code == 0
    assert "audit.jsonl: skipped 1 unreadable line(s): 1" in shown.stderr

    refused = run_cli("sessions", "show", "20260101-000000-abcdef")
    assert refused.exit_code == 2
    assert "not UTF-8" in refused.stderr
    for result in (listed, shown, refused):
        assert_no_escape(result.stdout, result.stderr)
        assert "Traceback" not in result.stderr


def test_item12_state_is_private_and_writes_never_follow_a_link(
    run_cli: RunCli, state: Path, tmp_path: Path
) -> None:
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    session_id = _needs_input_session(run_cli, state)
    answers = tmp_path / "answers.yaml"
    answers.write_text("{}")
    run_cli("guide", "--resume", session_id, "--yes", "--answers", str(answers))
    modes = {
        path.relative_to(state).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in [state, *state.rglob("*")]
    }
    assert modes["."] == 0o700
    assert modes["sessions"] == 0o700
    assert modes[f"sessions/{session_id}.json"] == 0o600
    assert all(mode == 0o600 for name, mode in modes.items() if "." in name and name != ".")

    # A session file replaced by a link is refused, and the link's target is untouched.
    target = tmp_path / "elsewhere.json"
    target.write_text("keep me")
    session_file = state / "sessions" / f"{session_id}.json"
    session = Session.model_validate_json(session_file.read_text("utf-8"))
    session_file.unlink()
    session_file.symlink_to(target)
    resumed = run_cli("guide", "--resume", session_id, "--yes", "--answers", str(answers))
    assert resumed.exit_code == 2
    assert "symbolic link" in resumed.stderr
    assert target.read_text() == "keep me"
    with pytest.raises(InputError, match="symbolic link"):
        SessionStore(state).save(session)
    assert target.read_text() == "keep me"


# ---- 4. broken CSV rows cost one row, not the rest of the file ----------------------------


def test_item4_an_unclosed_quote_or_a_huge_cell_is_one_unreadable_row(
    run_cli: RunCli, tmp_path: Path, state: Path
) -> None:
    export = tmp_path / "orders.csv"
    lines = [
        "order_id,error_message,sku_id",
        "702-0000001,Order with SKU inactive,1",
        '702-0000002,"Order with SKU inactive,2',  # the quote is never closed
        "702-0000003,Order with SKU inactive,3",
        "702-0000004," + "x" * 200_000 + ",4",  # over csv's cell limit
        "702-0000005,Order with SKU inactive,5",
        '702-0000006,Order with SKU inactive,"6',  # never closed, at the end of the file
    ]
    export.write_text("\n".join(lines) + "\n", "utf-8")
    result = run_cli("triage", str(export), "--json")
    assert result.exit_code == 2  # bad rows were skipped
    document = json.loads(result.stdout)
    assert [order["row"] for order in document["orders"]] == [2, 4, 6]
    bad = {row["row"]: row for row in document["bad_rows"]}
    assert sorted(bad) == [3, 5, 7]
    assert all(row["unreadable"] for row in bad.values())
    assert "quote left open" in bad[3]["problem"]  # it ran into row 5's huge cell
    assert "never closed" in bad[7]["problem"]
    assert document["summary"]["unreadable_rows"] == 3
    assert document["summary"]["bad_rows"] == 3
    for row in ("row 3", "row 5", "row 7"):
        assert row in result.stderr

    text = run_cli("triage", str(export))
    assert "3 bad row(s) skipped (3 unreadable)" in " ".join(text.stdout.split())


# ---- 13. the key pair never reaches a recording, in any encoding --------------------------


def _views(text: str) -> list[str]:
    """A text as stored, and decoded the ways a reader (or an attacker) would decode it."""
    unescaped = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return [text, unquote(text), unquote_plus(text), unescaped.replace("\\/", "/")]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)


def test_item13_secrets_never_reach_a_recording_in_any_encoding(
    server: VtexServer, tmp_path: Path
) -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in TOKEN[:6]) + TOKEN[6:].replace("/", "\\/")
    store = healthy_store()
    scenario: dict[str, Any] = store.scenario()
    scenario["routes"][f"GET /api/catalog_system/pub/saleschannel/{TRADE_POLICY}"] = {
        # A JSON string with escapes, and both secrets in the response headers.
        "text": f'{{"Id": {TRADE_POLICY}, "Name": "{escaped}", "IsActive": true}}',
        "headers": {"Content-Type": f"application/json; x={KEY}", "Retry-After": TOKEN},
    }
    scenario["routes"]["GET /api/fulfillment/pvt/affiliates/MZN"] = {
        # A form, percent-encoded both ways.
        "text": f"appToken={quote_plus(TOKEN)}&appKey={quote(KEY, safe='')}&t={quote(TOKEN)}",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }
    server.set_scenario(scenario)
    recording = tmp_path / "run.json"
    result = online(server, "diagnose", *ORDER_ARGS, "--record", str(recording))
    assert result.exit_code in (0, 3), result.stderr
    stored = recording.read_text("utf-8")
    exchanges = json.loads(stored)["exchanges"]
    assert any(e["path"].startswith("/api/fulfillment/pvt/affiliates") for e in exchanges)
    texts = [stored, result.stdout, result.stderr, *_strings(exchanges)]
    leaks = [t for t in texts for view in _views(t) if TOKEN in view or KEY in view]
    assert leaks == []


def test_item13_a_short_or_placeholder_key_is_refused_and_words_are_not_masked(
    server: VtexServer,
) -> None:
    for key, token in (("abc", TOKEN), (KEY, "changeme"), (KEY, "<your-app-token-here>")):
        env = {**env_for(server, app_key=key, app_token=token), "NO_COLOR": "1"}
        result = CliRunner(env=env).invoke(app, ["diagnose", *ORDER_ARGS], catch_exceptions=False)
        assert result.exit_code == 2
        assert "not a real VTEX key or token" in result.stderr
        assert token not in result.stderr
    redactor = Redactor([KEY, TOKEN])
    assert redactor.text("linked to lin") == "linked to lin"
    assert redactor.text(f"key {KEY}.") == "key ***."


# ---- 14. a ruleset cannot hang a run --------------------------------------------------------


@pytest.mark.parametrize(
    "pattern", [r"(a+)+$", r"^(\w+\s?)*:$", r"(.*,)*x", r"(?:a|ab)*c", r"(x{1,9})+y"]
)
def test_item14_patterns_that_backtrack_catastrophically_are_refused(
    run_cli: RunCli, tmp_path: Path, state: Path, pattern: str
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    ruleset = {
        "error": {
            "code": "runaway_pattern",
            "title": "Runaway",
            "patterns": [pattern],
            "next_steps": ["x"],
        }
    }
    (rules / "runaway.yaml").write_text(json.dumps(ruleset), "utf-8")
    # A near-miss message that would take minutes to reject with (a+)+$ and the like.
    order = tmp_path / "order.json"
    message = "a" * 40 + "!"
    order.write_text(json.dumps({"order_id": "702-1", "error_message": message}), "utf-8")

    validated = run_cli("rules", "validate", str(rules))
    assert validated.exit_code == 2
    assert "runaway.yaml: error.patterns[0]:" in validated.stderr
    assert "backtrack catastrophically" in validated.stderr
    loaded = run_cli("diagnose", str(order), "--rules-dir", str(rules))
    assert loaded.exit_code == 2
    assert "backtrack catastrophically" in loaded.stderr
    assert loaded.stdout == ""


@pytest.mark.parametrize("pattern", [r"(a++)+$", r"(?>a+)+$", r"(?:sku|item)s?\s+(\d+)"])
def test_item14_safe_patterns_are_kept(pattern: str) -> None:
    assert backtracking_problem(pattern) is None


def test_item1_case_drafts_escape_ruleset_titles(diagnoser: Diagnoser) -> None:
    context = OrderContext(order_id="702-1", error_message="Order with SKU out of stock")
    finding = Finding(
        code="amazon_order_data",
        title=HOSTILE,  # as a user ruleset may word it
        status="confirmed",
        owner="amazon",
        playbook="contact-amazon",
        rule="r",
    )
    diagnosis = Diagnosis(
        order_id="702-1",
        mode="offline",
        error=ErrorInfo(code="sku_out_of_stock", title="t", message=context.error_message),
        findings=[finding, finding.model_copy(update={"owner": "store"})],
        checks=[],
        next_steps=[],
    )
    for to in ("amazon", "vtex_support"):
        case = CaseInput(
            to=to,
            context=context,
            diagnosis=diagnosis,
            vtex_sku_ids={},
            operator_answers=[("sku_active", None, True)],
            rulebook=diagnoser.rulebook,
        )
        text = case_draft(case)
        assert_no_escape(text)
        assert "\\x1b[2J" in text
