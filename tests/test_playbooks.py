"""Playbooks: the shipped set validates and covers every finding; broken files are reported
with file and key (exit 2, no traceback); `playbooks list|show|validate`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import playbook as playbook_module
from assistant.errors import RulesetError
from assistant.playbook import (
    END,
    PLACEHOLDERS,
    Playbook,
    PlaybookError,
    Step,
    load_playbooks,
    render,
    validate_playbook_dir,
)
from assistant.resources import builtin_dir
from assistant.rulesets import load_rulebook
from tests.conftest import EXAMPLES, REPO, RunCli

SHIPPED = REPO / "playbooks"
PLAYBOOK_IDS = {
    "activate-sku",
    "reindex-product",
    "add-to-collection",
    "activate-shipping-policy",
    "activate-product",
    "link-trade-policy",
    "activate-trade-policy",
    "restock",
    "fix-negative-inventory",
    "link-dock",
    "shipping-coverage",
    "cms-binding",
    "price-divergence-rule",
    "cancel-order",
    "canceled-on-amazon",
    "contact-amazon",
    "contact-vtex-support",
}
# The Admin paths as the help articles write them (NOTES-domain.md §6), and nothing else.
ADMIN_PATHS = {
    "Marketplace > Connections > Orders",
    "Marketplace > Connections > Marketplaces and Integrations",
    "Catalog > Products and SKUs",
    "Catalog > All products > [SKU] > Update > Trade policies",
    "Catalog > Inventory > Inventory management",
    "Shipping > Shipping Strategy > Shipping simulator",
    "Shipping > Shipping Strategy > Loading Docks",
    "Shipping > Shipping Strategy > Shipping Policies",
    "Storefront > Layout > CMS > Sites and channels",
    "Store setup > Trade policies",
}


@pytest.fixture(scope="module")
def shipped() -> dict[str, Playbook]:
    return load_playbooks()


# ---- the shipped playbooks ---------------------------------------------------------------------


def test_every_shipped_playbook_validates() -> None:
    # The strict loader (the one a user's folder gets: duplicate keys and anchors refused).
    assert validate_playbook_dir(SHIPPED) == []
    assert {p.stem for p in SHIPPED.glob("*.yaml")} == PLAYBOOK_IDS


def test_the_shipped_set_loads(shipped: dict[str, Playbook]) -> None:
    assert set(shipped) == PLAYBOOK_IDS
    for playbook_id, playbook in shipped.items():
        assert Path(playbook.source).name == f"{playbook_id}.yaml"
        assert Path(playbook.source).parent == builtin_dir("playbooks")


def test_every_finding_code_has_a_playbook_that_lists_it(shipped: dict[str, Playbook]) -> None:
    findings = load_rulebook().findings
    assert len(findings) == 20
    for code, finding in findings.items():
        assert (SHIPPED / f"{finding.playbook}.yaml").is_file(), code
        assert code in shipped[finding.playbook].findings, code
    for playbook in shipped.values():
        for code in playbook.findings:
            assert findings[code].playbook == playbook.id


def test_a_missing_playbook_file_is_reported_against_the_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "playbooks"
    shutil.copytree(SHIPPED, copy)
    (copy / "restock.yaml").unlink()
    real = builtin_dir
    monkeypatch.setattr(
        playbook_module, "builtin_dir", lambda kind: copy if kind == "playbooks" else real(kind)
    )
    with pytest.raises(PlaybookError) as caught:
        load_playbooks()
    (problem,) = caught.value.problems
    assert problem.path == str(builtin_dir("rulesets") / "catalog.yaml")
    assert problem.key == "findings.insufficient_stock.playbook"
    assert "no playbook file restock.yaml" in problem.message


def test_fixing_playbooks_end_by_reprocessing(shipped: dict[str, Playbook]) -> None:
    fixing = {p.id for p in shipped.values() if p.fixes}
    assert fixing == PLAYBOOK_IDS - {
        "cancel-order",
        "canceled-on-amazon",
        "contact-amazon",
        "contact-vtex-support",
    }
    for playbook_id in fixing:
        last = shipped[playbook_id].steps[-1]
        assert (last.id, last.kind, last.admin_path) == (
            "reprocess",
            "instruct",
            "Marketplace > Connections > Orders",
        )
        assert "Actions > Reprocess" in last.text
        assert "not canceled" in last.text
    for playbook_id in ("contact-amazon", "contact-vtex-support"):
        assert shipped[playbook_id].steps[-1].kind == "escalate"


def test_admin_paths_and_links_come_from_the_articles(shipped: dict[str, Playbook]) -> None:
    for playbook in shipped.values():
        for step in playbook.steps:
            where = f"{playbook.id}:{step.id}"
            assert step.admin_path is None or step.admin_path in ADMIN_PATHS, where
            assert step.help is None or step.help.startswith("https://help.vtex.com/en/"), where


def test_only_the_two_api_writes_are_actions(shipped: dict[str, Playbook]) -> None:
    actions = {
        (playbook.id, step.action)
        for playbook in shipped.values()
        for step in playbook.steps
        if step.kind == "action"
    }
    assert actions == {
        ("activate-sku", "activate_sku"),
        ("link-trade-policy", "link_trade_policy"),
    }


def _paths(playbook: Playbook, index: int = 0) -> Iterator[list[str]]:
    """Every run through the playbook (each answer and each check outcome), as step ids."""
    if index >= len(playbook.steps):
        yield []
        return
    step = playbook.steps[index]
    position = {s.id: i for i, s in enumerate(playbook.steps)}
    if step.kind in {"check", "verify"}:
        targets = [step.on_pass, step.on_fail]
    elif step.kind == "ask":
        targets = [choice.next for choice in step.choices]
    else:
        targets = [step.next]
    for target in dict.fromkeys(targets):
        following = index + 1 if target is None else len(playbook.steps) if target == END else None
        if following is None:
            following = position[target]  # type: ignore[index]
        for rest in _paths(playbook, following):
            yield [step.id, *rest]


def test_every_run_ends_and_every_step_is_on_some_run(shipped: dict[str, Playbook]) -> None:
    for playbook in shipped.values():
        runs = list(_paths(playbook))
        assert runs, playbook.id
        visited = {step_id for run in runs for step_id in run}
        assert visited == {s.id for s in playbook.steps}, playbook.id
        for run in runs:
            last = next(s for s in playbook.steps if s.id == run[-1])
            # A run ends by reprocessing, escalating, or at a step that says what to do instead.
            assert last.id == "reprocess" or last.kind in {"escalate", "instruct"}, run


def _step(playbook: Playbook, step_id: str) -> Step:
    return next(s for s in playbook.steps if s.id == step_id)


def test_activate_sku_branches(shipped: dict[str, Playbook]) -> None:
    steps = shipped["activate-sku"].steps
    assert [s.kind for s in steps[:3]] == ["check", "action", "verify"]
    assert steps[0].check == steps[2].check == "sku_active"
    assert steps[0].on_pass == "reprocess"  # active by now: only reprocessing is left
    why = steps[3]  # where a failed verification falls through to
    assert steps[2].on_fail is None
    assert why.kind == "instruct"
    assert why.admin_path == "Catalog > Products and SKUs"
    assert "image" in why.text
    assert "product" in why.text


def test_link_trade_policy_admin_steps(shipped: dict[str, Playbook]) -> None:
    playbook = shipped["link-trade-policy"]
    link = _step(playbook, "link")
    assert link.action == "link_trade_policy"
    assert any("Trade policies" in line for line in link.admin_steps)
    assert "reindex" in link.text
    assert _step(playbook, "check-linked").check == "sku_in_trade_policy"
    assert _step(playbook, "verify-linked").check == "sku_in_trade_policy"


@pytest.mark.parametrize(
    ("playbook_id", "check"),
    [
        ("restock", "inventory_available"),
        ("fix-negative-inventory", "inventory_available"),
        ("link-dock", "dock_linked"),
        ("shipping-coverage", "fulfillment_simulation"),
        ("activate-product", "product_active"),
        ("activate-trade-policy", "trade_policy_active"),
    ],
)
def test_admin_fixes_are_confirmed_then_verified(
    shipped: dict[str, Playbook], playbook_id: str, check: str
) -> None:
    steps = shipped[playbook_id].steps
    assert any(s.kind == "instruct" and s.confirm and s.admin_steps for s in steps)
    assert any(s.kind == "verify" and s.check == check for s in steps)
    assert not any(s.kind == "action" for s in steps)


def test_shipping_coverage_uses_the_simulator(shipped: dict[str, Playbook]) -> None:
    paths = {s.admin_path for s in shipped["shipping-coverage"].steps}
    assert "Shipping > Shipping Strategy > Shipping simulator" in paths


def test_cms_binding_asks_then_gives_the_cms_path(shipped: dict[str, Playbook]) -> None:
    steps = shipped["cms-binding"].steps
    assert steps[0].kind == "ask"
    fix = _step(shipped["cms-binding"], "fix-binding")
    assert fix.admin_path == "Storefront > Layout > CMS > Sites and channels"
    assert fix.next == "reprocess"
    assert any("Save Binding" in line for line in fix.admin_steps)


def test_cancel_order_is_a_human_decision(shipped: dict[str, Playbook]) -> None:
    playbook = shipped["cancel-order"]
    assert not playbook.fixes
    assert not any(s.kind == "action" for s in playbook.steps)
    assert playbook.steps[0].kind == "ask"
    assert {c.value for c in playbook.steps[0].choices} == {"open", "canceled"}


def test_contact_playbooks_escalate(shipped: dict[str, Playbook]) -> None:
    assert [s.to for s in shipped["contact-amazon"].steps if s.kind == "escalate"] == ["amazon"]
    assert [s.to for s in shipped["contact-vtex-support"].steps if s.kind == "escalate"] == [
        "vtex_support"
    ]
    assert shipped["contact-amazon"].steps[0].kind == "instruct"


# ---- placeholders -----------------------------------------------------------------------------


def test_render_fills_known_values_and_marks_missing_ones() -> None:
    assert render("SKU {sku_id} in {trade_policy_id}", {"sku_id": "12"}) == (
        "SKU 12 in <trade_policy_id>"
    )
    assert render("{order_id}", {"order_id": ""}) == "<order_id>"
    assert render("no placeholders", {}) == "no placeholders"


@pytest.mark.parametrize("template", ["{", "}", "{sku_id", "{sku_id!r}", "{0}", "{sku_id.x}"])
def test_render_never_raises(template: str) -> None:
    assert isinstance(render(template, {"sku_id": "1"}), str)


def test_placeholders_are_the_documented_ones() -> None:
    assert {"order_id", "sku_id", "vtex_sku_id", "account", "error_message"} <= PLACEHOLDERS
    assert len(PLACEHOLDERS) == 13


# ---- broken playbooks --------------------------------------------------------------------------

GOOD = """\
id: restock
title: Restock the SKU
summary: Not enough stock of SKU {sku_id}.
findings: [insufficient_stock]
fixes: true
steps:
  - id: check-stock
    kind: check
    title: Enough stock of {sku_id}?
    check: inventory_available
    question: Are {quantity} unit(s) of SKU {sku_id} available?
    on_pass: reprocess
  - id: pick
    kind: ask
    title: Do you have the stock?
    choices:
      - {value: "yes", label: "Yes", next: update}
      - {value: "no", label: "No", next: support}
  - id: update
    kind: instruct
    title: Update the count
    admin_path: Catalog > Inventory > Inventory management
    help: https://help.vtex.com/en/docs/tutorials/updating-the-quantity-of-items-in-inventory
    admin_steps: ["Update count for {sku_id}."]
    confirm: true
  - id: write
    kind: action
    title: Activate SKU {sku_id}
    action: activate_sku
    admin_steps: ["Tick Activate SKU if possible."]
  - id: verify-stock
    kind: verify
    title: Enough stock now?
    check: inventory_available
    question: Are {quantity} unit(s) available now?
    on_pass: reprocess
    on_fail: support
  - id: support
    kind: escalate
    title: Ask VTEX support
    to: vtex_support
    next: end
  - id: reprocess
    kind: instruct
    title: Reprocess {order_id}
    text: >-
      First confirm that the order is not canceled on Amazon. Then reprocess it in
      Marketplace > Connections > Orders > [order] > Actions > Reprocess.
"""


def _mutate(old: str, new: str, count: int = 1) -> str:
    assert GOOD.count(old) >= count, old  # the case still applies to GOOD
    return GOOD.replace(old, new, count)


CHECK_QUESTION = "    question: Are {quantity} unit(s) of SKU {sku_id} available?\n"

# case -> (content, key, problem[, file stem])
BROKEN: dict[str, tuple[str, ...]] = {
    "missing-kind": (
        _mutate("  - id: update\n    kind: instruct\n", "  - id: update\n"),
        "steps[2].kind",
        "is required",
    ),
    "unknown-check": (
        _mutate("check: inventory_available", "check: stock_ok"),
        "steps[0].check",
        "unknown check 'stock_ok'",
    ),
    "backward-branch": (
        _mutate("on_fail: support", "on_fail: check-stock"),
        "steps[4].on_fail",
        "branches back to 'check-stock'",
    ),
    "branch-to-itself": (
        _mutate("    to: vtex_support\n    next: end", "    to: vtex_support\n    next: support"),
        "steps[5].next",
        "branches back to 'support'",
    ),
    "dangling-target": (
        _mutate("on_pass: reprocess", "on_pass: reproces"),
        "steps[0].on_pass",
        "no step has the id 'reproces'",
    ),
    "dangling-choice-target": (
        _mutate("next: update}", "next: updat}"),
        "steps[1].choices[0].next",
        "no step has the id 'updat'",
    ),
    "duplicate-step-id": (
        _mutate("  - id: write\n", "  - id: update\n"),
        "steps[3].id",
        "duplicate step id (also steps[2])",
    ),
    "reserved-step-id": (
        _mutate("  - id: write\n", "  - id: end\n"),
        "steps[3].id",
        "'end' is reserved",
    ),
    "action-without-admin-steps": (
        _mutate('    admin_steps: ["Tick Activate SKU if possible."]\n', ""),
        "steps[3].admin_steps",
        "needs the Admin steps",
    ),
    "action-without-action": (
        _mutate("    action: activate_sku\n", ""),
        "steps[3].action",
        "is required on an action step",
    ),
    "unknown-action": (
        _mutate("action: activate_sku", "action: restock_sku"),
        "steps[3].action",
        "input should be 'activate_sku' or 'link_trade_policy'",
    ),
    "unknown-placeholder": (
        _mutate("Update count for {sku_id}.", "Update count for {sku}."),
        "steps[2].admin_steps[0]",
        "unknown placeholder {sku}",
    ),
    "placeholder-with-format": (
        _mutate("title: Enough stock of {sku_id}?", "title: Enough stock of {sku_id!r}?"),
        "steps[0].title",
        "must be a plain {name}",
    ),
    "malformed-braces": (
        _mutate("title: Update the count", "title: Update the {count"),
        "steps[2].title",
        "malformed placeholder braces",
    ),
    "fixes-without-reprocess": (
        GOOD + "  - id: after\n    kind: instruct\n    title: One more thing\n",
        "fixes",
        "must end with an instruct step with id 'reprocess'",
    ),
    "reprocess-without-amazon-check": (
        _mutate(
            "First confirm that the order is not canceled on Amazon. Then reprocess", "Reprocess"
        ),
        "steps[6].text",
        "not canceled on Amazon",
    ),
    "reprocess-without-admin-path": (
        _mutate("Marketplace > Connections > Orders > [order] > ", ""),
        "steps[6].text",
        "must say 'Marketplace > Connections > Orders'",
    ),
    "yaml-syntax-error": ("id: restock\nsteps: [unclosed\n", "", "invalid YAML at line"),
    "list-document": ("- id: restock\n- title: x\n", "", "must be a mapping"),
    "empty-file": ("", "", "is empty"),
    "yaml-anchor": (
        _mutate("findings: [insufficient_stock]", "findings: &f [insufficient_stock]"),
        "",
        "anchors are not allowed",
    ),
    "duplicate-yaml-key": (
        _mutate("fixes: true\n", "fixes: true\nfixes: false\n"),
        "",
        "duplicate key 'fixes'",
    ),
    "unknown-step-key": (
        _mutate("    confirm: true\n", "    confirm: true\n    colour: red\n"),
        "steps[2].colour",
        "unknown key (expected one of:",
    ),
    "unknown-top-level-key": (GOOD + "owner: store\n", "owner", "unknown key"),
    "unknown-choice-key": (
        _mutate('label: "No",', 'label: "No", colour: red,'),
        "steps[1].choices[1].colour",
        "unknown key (expected one of: finding, label, next, value)",
    ),
    "source-in-file": (GOOD + "source: elsewhere.yaml\n", "source", "set by the loader"),
    "wrong-type-title": (
        _mutate("title: Update the count", "title: [update, count]"),
        "steps[2].title",
        "input should be a valid string",
    ),
    "wrong-type-fixes": (
        _mutate("fixes: true", "fixes: 'yes'"),
        "fixes",
        "input should be a valid boolean",
    ),
    "steps-not-a-list": (
        GOOD.split("steps:")[0] + "steps: {check: x}\n",
        "steps",
        "must be a list of steps",
    ),
    "step-not-a-mapping": (
        _mutate("  - id: write\n", "  - just text\n  - id: write\n"),
        "steps[3]",
        "must be a mapping",
    ),
    "unquoted-yes-choice": (
        _mutate('value: "yes"', "value: yes"),
        "steps[1].choices[0].value",
        "quote yes/no",
    ),
    "unknown-kind": (
        _mutate("kind: escalate", "kind: escalation"),
        "steps[5].kind",
        "input should be 'instruct', 'check', 'ask', 'action', 'verify' or 'escalate'",
    ),
    "choices-on-instruct": (
        _mutate("    confirm: true\n", "    confirm: true\n    choices: [{value: a, label: A}]\n"),
        "steps[2].choices",
        "not allowed on an instruct step (belongs to ask steps)",
    ),
    "on-pass-on-ask": (
        _mutate(
            "    title: Do you have the stock?\n", "    title: Do you have it?\n    on_pass: end\n"
        ),
        "steps[1].on_pass",
        "not allowed on an ask step",
    ),
    "next-on-check": (
        _mutate(CHECK_QUESTION, CHECK_QUESTION + "    next: end\n"),
        "steps[0].next",
        "not allowed on a check step (branches with on_pass/on_fail",
    ),
    "confirm-on-escalate": (
        _mutate("    to: vtex_support\n", "    to: vtex_support\n    confirm: true\n"),
        "steps[5].confirm",
        "not allowed on an escalate step (belongs to instruct steps)",
    ),
    "check-without-question": (
        _mutate(CHECK_QUESTION, ""),
        "steps[0].question",
        "is required on a check step",
    ),
    "verify-without-check": (
        _mutate(
            "    check: inventory_available\n    question: Are {quantity} unit(s) available",
            "    question: Are {quantity} unit(s) available",
        ),
        "steps[4].check",
        "is required on a verify step",
    ),
    "ask-with-one-choice": (
        _mutate('      - {value: "no", label: "No", next: support}\n', ""),
        "steps[1].choices",
        "at least two choices",
    ),
    "duplicate-choice-value": (
        _mutate('value: "no"', 'value: "yes"'),
        "steps[1].choices[1].value",
        "duplicate value (also choices[0])",
    ),
    "escalate-without-to": (
        _mutate("    to: vtex_support\n", ""),
        "steps[5].to",
        "is required on an escalate step",
    ),
    "escalate-to-nobody-known": (
        _mutate("to: vtex_support", "to: the_moon"),
        "steps[5].to",
        "input should be 'amazon' or 'vtex_support'",
    ),
    "http-help-link": (
        _mutate("help: https://", "help: http://"),
        "steps[2].help",
        "must be an https:// URL",
    ),
    "unreachable-step": (
        _mutate("    confirm: true\n", "    confirm: true\n    next: verify-stock\n"),
        "steps[3]",
        "step 'write' can never be reached",
    ),
    "id-is-not-the-file-stem": (
        _mutate("id: restock", "id: restocking"),
        "id",
        "must equal the file name without .yaml ('restock')",
    ),
    "unknown-finding": (
        _mutate("findings: [insufficient_stock]", "findings: [insufficient_stock, nope]"),
        "findings[1]",
        "unknown finding code 'nope'",
    ),
    "finding-of-another-playbook": (
        _mutate("findings: [insufficient_stock]", "findings: [insufficient_stock, sku_inactive]"),
        "findings[1]",
        "the catalog names playbook 'activate-sku' for 'sku_inactive'",
    ),
    "finding-of-this-playbook-not-listed": (
        _mutate("id: restock", "id: link-dock").replace(
            "[insufficient_stock]", "[stock_not_reachable]"
        ),
        "findings",
        "the catalog names this playbook for dock_not_in_trade_policy",
        "link-dock",
    ),
    "no-findings": (
        _mutate("findings: [insufficient_stock]", "findings: []"),
        "findings",
        "needs at least one finding code",
    ),
}


def test_the_good_playbook_of_the_broken_table_validates(run_cli: RunCli, tmp_path: Path) -> None:
    # Each broken case is GOOD with one change: GOOD itself must pass, or the table proves nothing.
    (tmp_path / "restock.yaml").write_text(GOOD, "utf-8")
    result = run_cli("playbooks", "validate", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "ok: 1 playbooks"


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validate_names_the_file_and_key_of_each_problem(
    case: str, run_cli: RunCli, tmp_path: Path
) -> None:
    content, key, problem, *stem = BROKEN[case]
    path = tmp_path / f"{stem[0] if stem else 'restock'}.yaml"
    path.write_text(content, "utf-8")
    result = run_cli("playbooks", "validate", str(tmp_path))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    where = f"{path}: {key}: " if key else f"{path}: "
    assert any(line.startswith(where) and problem in line for line in result.stderr.splitlines()), (
        result.stderr
    )
    # The API gives the same problem as data.
    problems = validate_playbook_dir(tmp_path)
    assert any(p.path == str(path) and p.key == key and problem in p.message for p in problems)


def test_all_problems_are_reported_at_once(run_cli: RunCli, tmp_path: Path) -> None:
    content = _mutate("check: inventory_available", "check: stock_ok").replace(
        "on_fail: support", "on_fail: check-stock"
    )
    (tmp_path / "restock.yaml").write_text(content, "utf-8")
    (tmp_path / "broken.yaml").write_text("steps: [unclosed\n", "utf-8")
    result = run_cli("playbooks", "validate", str(tmp_path))
    assert result.exit_code == 2
    assert "unknown check 'stock_ok'" in result.stderr
    assert "branches back to 'check-stock'" in result.stderr
    assert "invalid YAML" in result.stderr
    assert "3 problem(s) found" in result.stderr


def test_empty_or_missing_folder_is_reported(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("playbooks", "validate", str(tmp_path))
    assert result.exit_code == 2
    assert "holds no *.yaml playbook files" in result.stderr
    result = run_cli("playbooks", "validate", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "is not a directory" in result.stderr


def test_yaml_and_yml_with_one_id_are_a_duplicate(tmp_path: Path) -> None:
    (tmp_path / "restock.yaml").write_text(GOOD, "utf-8")
    (tmp_path / "restock.yml").write_text(GOOD, "utf-8")
    problems = validate_playbook_dir(tmp_path)
    assert [(Path(p.path).name, p.key) for p in problems] == [("restock.yml", "id")]


def test_a_users_playbook_replaces_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "restock.yaml").write_text(GOOD.replace("Restock the SKU", "Our restock"), "utf-8")
    playbooks = load_playbooks([tmp_path])
    assert playbooks["restock"].title == "Our restock"
    assert playbooks["restock"].source == str(tmp_path / "restock.yaml")
    assert len(playbooks) == len(PLAYBOOK_IDS)


def test_a_broken_users_folder_raises_with_every_problem(tmp_path: Path) -> None:
    (tmp_path / "restock.yaml").write_text(BROKEN["unknown-check"][0], "utf-8")
    with pytest.raises(RulesetError) as caught:
        load_playbooks([tmp_path])
    assert isinstance(caught.value, PlaybookError)
    assert [(p.key, p.path) for p in caught.value.problems] == [
        ("steps[0].check", str(tmp_path / "restock.yaml"))
    ]


def test_a_playbook_for_a_custom_finding_needs_its_rules(run_cli: RunCli, tmp_path: Path) -> None:
    # examples/custom-rules adds the finding carrier_missing_in_erp, whose playbook is
    # register-carrier: a user's playbook validates against the user's rules.
    (tmp_path / "register-carrier.yaml").write_text(
        "id: register-carrier\ntitle: Register the carrier\nsummary: In the ERP.\n"
        "findings: [carrier_missing_in_erp]\nfixes: false\nsteps:\n"
        "  - {id: register, kind: instruct, title: Register the carrier in the ERP}\n",
        "utf-8",
    )
    custom = str(EXAMPLES / "custom-rules")
    result = run_cli("playbooks", "validate", str(tmp_path), "--rules-dir", custom)
    assert result.exit_code == 0, result.stderr
    without = run_cli("playbooks", "validate", str(tmp_path))
    assert without.exit_code == 2
    assert "findings[0]: unknown finding code 'carrier_missing_in_erp'" in without.stderr
    listed = run_cli(
        "playbooks", "list", "--json", "--playbooks-dir", str(tmp_path), "--rules-dir", custom
    )
    assert "register-carrier" in [row["id"] for row in json.loads(listed.stdout)["playbooks"]]


# ---- the commands ------------------------------------------------------------------------------


def test_playbooks_validate_the_shipped_set(run_cli: RunCli) -> None:
    result = run_cli("playbooks", "validate")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"ok: {len(PLAYBOOK_IDS)} playbooks"


def test_playbooks_list(run_cli: RunCli) -> None:
    result = run_cli("playbooks", "list")
    assert result.exit_code == 0
    for playbook_id in PLAYBOOK_IDS:
        assert playbook_id in result.stdout
    assert "insufficient_stock" in result.stdout


def test_playbooks_list_json(run_cli: RunCli) -> None:
    result = run_cli("playbooks", "list", "--json")
    assert result.exit_code == 0
    rows = {row["id"]: row for row in json.loads(result.stdout)["playbooks"]}
    assert set(rows) == PLAYBOOK_IDS
    assert rows["link-dock"]["findings"] == ["stock_not_reachable", "dock_not_in_trade_policy"]
    assert rows["link-dock"]["fixes"] is True
    assert rows["cancel-order"]["fixes"] is False
    assert rows["restock"]["title"] == "Restock the SKU"


def test_playbooks_show_gives_steps_branches_and_admin_paths(run_cli: RunCli) -> None:
    result = run_cli("playbooks", "show", "activate-sku")
    assert result.exit_code == 0
    out = result.stdout
    assert "check sku_active" in out
    assert "action activate_sku" in out
    assert "pass → reprocess" in out
    assert "fail → why-inactive" in out
    assert "Admin: Catalog > Products and SKUs" in out
    assert "https://help.vtex.com/en/docs/tutorials/activating-skus-in-bulk" in out
    assert "{sku_id}" in out  # placeholders are shown unfilled
    ask = run_cli("playbooks", "show", "cms-binding").stdout
    assert "not_ticked → fix-binding" in ask
    assert "Storefront > Layout > CMS > Sites and channels" in ask


def test_playbooks_show_unknown_id_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("playbooks", "show", "nope")
    assert result.exit_code == 2
    assert "unknown playbook 'nope'" in result.stderr
    assert "activate-sku" in result.stderr
    assert result.stdout == ""


def test_a_broken_playbooks_dir_makes_list_exit_2(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "restock.yaml").write_text(BROKEN["backward-branch"][0], "utf-8")
    result = run_cli("playbooks", "list", "--playbooks-dir", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "steps[4].on_fail" in result.stderr
    assert "Traceback" not in result.stderr


def test_markup_in_a_title_is_printed_literally(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "restock.yaml").write_text(
        GOOD.replace("Restock the SKU", "'[/]x [bold]y'"), "utf-8"
    )
    result = run_cli("playbooks", "show", "restock", "--playbooks-dir", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert "[/]x [bold]y" in result.stdout


def test_an_order_amazon_canceled_has_its_own_flow_not_cancel_order(
    shipped: dict[str, Playbook],
) -> None:
    """The article's rule for a missing SKU (decide, then cancel on Amazon) is not the known
    issue's workaround for an order Amazon canceled (cancel it in the OMS by hand)."""
    findings = load_rulebook().findings
    assert findings["order_canceled"].playbook == "canceled-on-amazon"
    assert shipped["cancel-order"].findings == ("sku_not_found",)
    flow = shipped["canceled-on-amazon"]
    assert not flow.fixes
    assert not any(s.kind in ("action", "ask") for s in flow.steps)
    manual = [s for s in flow.steps if s.confirm]
    assert [s.id for s in manual] == ["cancel-in-oms"]
    assert manual[0].help == "https://help.vtex.com/en/known-issues/amazon-order-cancellation-flow"


def test_the_bulk_enable_all_skus_advice_carries_the_articles_warning(
    shipped: dict[str, Playbook],
) -> None:
    text = _step(shipped["activate-sku"], "activate").text
    assert "Enable all SKUs" in text
    assert "invalid data" in text
    assert "repeat" in text
    assert "every SKU registered in the store" in text


def test_no_playbook_promises_a_price_the_articles_do_not_give(
    shipped: dict[str, Playbook],
) -> None:
    for playbook in shipped.values():
        for step in playbook.steps:
            words = f"{step.title} {step.text} {' '.join(step.admin_steps)}".lower()
            assert " free" not in words, f"{playbook.id}:{step.id}"


def test_fixing_playbooks_never_escalate_their_own_store_side_cause(
    shipped: dict[str, Playbook],
) -> None:
    """While the store's own cause is confirmed the guide drafts no case, so the playbooks of
    the catalog causes end by saying what is left to do instead."""
    for playbook_id in (
        "activate-sku",
        "activate-product",
        "link-trade-policy",
        "reindex-product",
        "add-to-collection",
        "activate-shipping-policy",
        "activate-trade-policy",
        "link-dock",
        "fix-negative-inventory",
    ):
        assert not any(s.kind == "escalate" for s in shipped[playbook_id].steps), playbook_id


@pytest.mark.parametrize(
    ("playbook_id", "check"),
    [
        ("reindex-product", "sku_indexed_in_trade_policy"),
        ("add-to-collection", "sku_in_collection"),
        ("activate-shipping-policy", "shipping_policy_active"),
    ],
)
def test_the_new_playbooks_check_first_then_verify_with_their_own_check(
    shipped: dict[str, Playbook], playbook_id: str, check: str
) -> None:
    steps = shipped[playbook_id].steps
    assert (steps[0].kind, steps[0].check, steps[0].on_pass) == ("check", check, "reprocess")
    assert any(s.kind == "verify" and s.check == check for s in steps)
    assert any(s.kind == "instruct" and s.confirm and s.admin_steps for s in steps)


def test_link_trade_policy_links_without_asking_about_the_assortment(
    shipped: dict[str, Playbook],
) -> None:
    steps = shipped["link-trade-policy"].steps
    assert [s.kind for s in steps[:3]] == ["check", "action", "verify"]
    assert not any(s.kind == "ask" for s in steps)


def test_choices_that_name_a_finding_are_the_diagnosis_answer(shipped: dict[str, Playbook]) -> None:
    [ask] = [s for s in shipped["contact-amazon"].steps if s.kind == "ask"]
    assert {c.finding: c.value for c in ask.choices} == {
        "sku_id_mismatch": "id_mismatch",
        "amazon_order_data": "order_data",
    }


def test_a_default_must_be_a_choice_and_safe_needs_a_default(tmp_path: Path) -> None:
    shipped = (SHIPPED / "cms-binding.yaml").read_text()
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "cms-binding.yaml").write_text(shipped.replace("default: not_sure", "default: maybe"))
    problems = validate_playbook_dir(folder)
    assert [(p.key, p.message) for p in problems] == [
        ("steps[0].default", "'maybe' is not one of the choices' values")
    ]
    (folder / "cms-binding.yaml").write_text(shipped.replace("    default: not_sure\n", ""))
    assert [p.key for p in validate_playbook_dir(folder)] == ["steps[0].safe_default"]
    (folder / "cms-binding.yaml").write_text(
        shipped.replace(
            "        next: already-ticked",
            "        next: already-ticked\n        finding: sku_inactive",
        )
    )
    assert [p.key for p in validate_playbook_dir(folder)] == ["steps[0].choices[2].finding"]
