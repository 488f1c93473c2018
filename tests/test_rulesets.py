"""`rules list|show|validate` and `--rules-dir`: broken files are reported with file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, RunCli

CUSTOM = EXAMPLES / "custom-rules"

GOOD_RULE = """
rules:
  {name}:
    finding: sku_inactive
    status: suspected
    evidence: "a test rule"
    all:
      - order: {{$and: [{{kind: order}}, {{error_code: sku_inactive}}]}}
"""

BROKEN = {
    "bad-yaml": ("rules: [unclosed", "line", "invalid YAML"),
    "unknown-durable-key": (
        GOOD_RULE.format(name="r_salience") + "    salience: 3\n",
        "rules.r_salience.salience",
        "unknown key",
    ),
    "unknown-operator": (
        """
rules:
  r_in:
    finding: sku_inactive
    status: suspected
    evidence: "x"
    all:
      - order: {$and: [{kind: order}, {$in: {error_code: 1}}]}
""",
        "rules.r_in.all[0].order.$and[1].$in",
        "unknown durable key",
    ),
    "engine-regex": (
        """
rules:
  r_regex:
    finding: sku_inactive
    status: suspected
    evidence: "x"
    all:
      - order: {$and: [{kind: order}, {$imt: {message: '.*inativo.*'}}]}
""",
        "rules.r_regex.all[0].order.$and[1].$imt",
        "error.patterns",
    ),
    "duplicate-error-code": (
        """
error:
  code: sku_inactive
  title: again
  patterns: ['again']
  next_steps: [x]
""",
        "error.code",
        "duplicate error code 'sku_inactive'",
    ),
    "pattern-does-not-compile": (
        """
error:
  code: broken_pattern
  title: broken
  patterns: ['unclosed (group']
  next_steps: [x]
""",
        "error.patterns[0]",
        "does not compile",
    ),
    "evidence-unknown-check": (
        GOOD_RULE.format(name="r_evidence").replace("a test rule", "{check_nope}"),
        "rules.r_evidence.evidence",
        "names no declared check 'nope'",
    ),
    "named-cause-unknown": (
        """
error:
  code: named_cause
  title: named
  patterns: [{pattern: 'named cause', names: [nope]}]
  next_steps: [x]
""",
        "error.patterns[0].names[0]",
        "unknown finding code 'nope'",
    ),
    "named-cause-unknown-key": (
        """
error:
  code: named_key
  title: named
  patterns: [{pattern: 'named key', cause: [sku_inactive]}]
  next_steps: [x]
""",
        "error.patterns[0].cause",
        "unknown key",
    ),
    "unknown-finding": (
        GOOD_RULE.format(name="r_unknown").replace("finding: sku_inactive", "finding: nope"),
        "rules.r_unknown.finding",
        "unknown finding code 'nope'",
    ),
    "no-kind-discriminator": (
        """
rules:
  r_nokind:
    finding: sku_inactive
    status: suspected
    evidence: "x"
    all:
      - order: {$nex: {whatever: 1}}
""",
        "rules.r_nokind.all[0].order",
        "kind",
    ),
    "params-do-not-match-groups": (
        """
error:
  code: half_params
  title: half
  params: [seller, sales_channel]
  patterns: ['seller (?P<seller>\\S+)']
  next_steps: [x]
""",
        "error.patterns[0]",
        "named groups",
    ),
    "unknown-top-level-key": ("rulez: {}\n", "rulez", "unknown key"),
    "item-alias-in-any": (
        GOOD_RULE.format(name="r_any").replace("    all:\n", "    any:\n")
        + "      - item: {kind: item}\n",
        "rules.r_any.any[1].item",
        "need `all`",
    ),
    "item-kind-under-another-alias": (
        GOOD_RULE.format(name="r_alias") + "      - sku: {kind: item}\n",
        "rules.r_alias.all[1].sku",
        "must be aliased `item`",
    ),
    "evidence-format-spec": (
        GOOD_RULE.format(name="r_fmt").replace('"a test rule"', '"{quantity:d}"'),
        "rules.r_fmt.evidence",
        "must be a plain name",
    ),
    "evidence-attribute-access": (
        GOOD_RULE.format(name="r_attr").replace('"a test rule"', '"{sku.__class__}"'),
        "rules.r_attr.evidence",
        "must be a plain name",
    ),
    "misspelled-attribute": (
        GOOD_RULE.format(name="r_typo").replace("{error_code: sku_inactive}", "{eror_code: x}"),
        "rules.r_typo.all[0].order.$and[1].eror_code",
        "has no attribute 'eror_code'",
    ),
    "null-value": (
        GOOD_RULE.format(name="r_null").replace("{error_code: sku_inactive}", "{error_code: null}"),
        "rules.r_null.all[0].order.$and[1].error_code",
        "must be a string, number or boolean",
    ),
    "and-not-a-list": (
        GOOD_RULE.format(name="r_andx").replace(
            "{$and: [{kind: order}, {error_code: sku_inactive}]}", "{kind: order, $and: x}"
        ),
        "rules.r_andx.all[0].order.$and",
        "non-empty list",
    ),
    "unknown-error-code-value": (
        GOOD_RULE.format(name="r_code").replace("error_code: sku_inactive", "error_code: nope"),
        "rules.r_code.all[0].order.$and[1].error_code",
        "unknown error code 'nope'",
    ),
    "confirmed-without-a-check": (
        GOOD_RULE.format(name="r_conf").replace("status: suspected", "status: confirmed"),
        "rules.r_conf.status",
        "only a check can confirm",
    ),
    "empty-patterns": (
        "error:\n  code: no_patterns\n  title: t\n  patterns: []\n  next_steps: [x]\n",
        "error.patterns",
        "needs at least one pattern",
    ),
    "alias-bomb": (
        "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}]\n" for n in range(1, 9)
        ),
        "",
        "anchors are not allowed",
    ),
    "duplicate-rule-name": (
        GOOD_RULE.format(name="inactive_sku_reported"),
        "rules.inactive_sku_reported",
        "duplicate rule name (also in",
    ),
    "duplicate-finding-code": (
        "findings:\n  sku_inactive: {title: again, owner: store, playbook: activate-sku}\n",
        "findings.sku_inactive",
        "duplicate finding code",
    ),
    "bad-status": (
        GOOD_RULE.format(name="r_status").replace("status: suspected", "status: maybe"),
        "rules.r_status.status",
        "must be one of",
    ),
    "params-not-a-list": (
        "error:\n  code: one_param\n  title: t\n  params: seller\n  patterns: ['x']\n"
        "  next_steps: [x]\n",
        "error.params",
        "must be a list (got 'seller')",
    ),
    "empty-error-section": ("error:\n", "error", "must be a mapping"),
    "finding-code-not-snake-case": (
        "findings:\n  Bad-Code: {title: t, owner: store, playbook: activate-sku}\n",
        "findings.Bad-Code",
        "finding code must be lower_snake_case",
    ),
    "runaway-pattern": (
        "error:\n  code: runaway\n  title: t\n  patterns: ['(a+)+$']\n  next_steps: [x]\n",
        "error.patterns[0]",
        "backtrack",
    ),
    "finding-unknown-key": (
        "findings:\n  new_f: {title: t, owner: store, playbook: activate-sku, colour: red}\n",
        "findings.new_f.colour",
        "unknown key (expected one of: admin_path, help, owner, playbook, title)",
    ),
    "unknown-evidence-field": (
        GOOD_RULE.format(name="r_evidence").replace('"a test rule"', '"{password}"'),
        "rules.r_evidence.evidence",
        "unknown template field",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validate_names_the_file_and_key_of_each_problem(
    case: str, run_cli: RunCli, tmp_path: Path
) -> None:
    content, key, problem = BROKEN[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(content, "utf-8")
    result = run_cli("rules", "validate", str(tmp_path))
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(path))]
    assert lines, result.stderr
    assert any(key in line and problem in line for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_the_same_broken_folder_makes_diagnose_exit_2(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BROKEN["unknown-finding"][0], "utf-8")
    result = run_cli("diagnose", str(EXAMPLES / "sku_inactive.json"), "--rules-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "unknown finding code 'nope'" in result.stderr


def test_all_problems_are_reported_at_once(run_cli: RunCli, tmp_path: Path) -> None:
    for case in ("unknown-finding", "pattern-does-not-compile"):
        (tmp_path / f"{case}.yaml").write_text(BROKEN[case][0], "utf-8")
    result = run_cli("rules", "validate", str(tmp_path))
    assert "unknown finding code" in result.stderr
    assert "does not compile" in result.stderr
    assert "2 problem(s) found" in result.stderr


def test_empty_folder_is_reported(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("rules", "validate", str(tmp_path))
    assert result.exit_code == 2
    assert "holds no *.yaml ruleset files" in result.stderr


def test_builtin_rulesets_validate(run_cli: RunCli) -> None:
    result = run_cli("rules", "validate")
    assert result.exit_code == 0
    assert "11 error types" in result.stdout


def test_rules_list_shows_every_error_code(run_cli: RunCli) -> None:
    result = run_cli("rules", "list", "--json")
    assert result.exit_code == 0
    codes = [row["code"] for row in json.loads(result.stdout)["errors"]]
    assert "sla_unavailable" in codes
    assert "catalog_unauthorized" in codes
    assert len(codes) == 11
    table = run_cli("rules", "list")
    assert "sku_without_trade_policy" in table.stdout


def test_rules_show_gives_patterns_rules_and_steps(run_cli: RunCli) -> None:
    result = run_cli("rules", "show", "sla_unavailable")
    assert result.exit_code == 0
    assert "no available sla to deliver this order" in result.stdout
    assert "sla_candidate_dock" in result.stdout
    assert "dock_not_in_trade_policy" in result.stdout
    assert "Actions > Reprocess" in result.stdout


def test_rules_show_unknown_code_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("rules", "show", "nope")
    assert result.exit_code == 2
    assert "unknown error code 'nope'" in result.stderr


def test_a_new_error_type_needs_only_yaml(run_cli: RunCli) -> None:
    # The README's worked example: examples/custom-rules/ adds an error type, a finding and a
    # rule without touching Python.
    result = run_cli("diagnose", str(CUSTOM / "order.json"), "--rules-dir", str(CUSTOM), "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["error"]["code"] == "carrier_not_registered"
    assert [(f["code"], f["status"]) for f in document["findings"]] == [
        ("carrier_missing_in_erp", "reported")
    ]
    listed = run_cli("rules", "list", "--rules-dir", str(CUSTOM), "--json")
    assert "carrier_not_registered" in [row["code"] for row in json.loads(listed.stdout)["errors"]]
    without = run_cli("diagnose", str(CUSTOM / "order.json"), "--json")
    assert without.exit_code == 3


def test_custom_rules_folder_validates(run_cli: RunCli) -> None:
    result = run_cli("rules", "validate", str(CUSTOM))
    assert result.exit_code == 0, result.stderr


def test_deep_nesting_is_reported_not_a_recursion_error(run_cli: RunCli, tmp_path: Path) -> None:
    expression = "{kind: order}"
    for _ in range(300):
        expression = "{$and: [" + expression + "]}"
    rule = GOOD_RULE.format(name="r_deep").replace(
        "{$and: [{kind: order}, {error_code: sku_inactive}]}", expression
    )
    (tmp_path / "deep.yaml").write_text(rule, "utf-8")
    result = run_cli("rules", "validate", str(tmp_path))
    assert result.exit_code == 2
    assert "levels deep" in result.stderr or "invalid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_markup_in_a_title_is_printed_literally(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "markup.yaml").write_text(
        "error:\n  code: markup_title\n  title: '[/]oops [bold]x'\n  patterns: ['markup']\n"
        "  next_steps: [x]\n",
        "utf-8",
    )
    result = run_cli("rules", "list", "--rules-dir", str(tmp_path))
    assert result.exit_code == 0
    assert "[/]oops [bold]x" in result.stdout


def test_several_problems_print_one_per_line_in_diagnose(run_cli: RunCli, tmp_path: Path) -> None:
    for case in ("unknown-finding", "pattern-does-not-compile"):
        (tmp_path / f"{case}.yaml").write_text(BROKEN[case][0], "utf-8")
    result = run_cli(
        "diagnose",
        "--order-id",
        "1",
        "-m",
        "x",
        "--rules-dir",
        str(tmp_path),
        "--rules-dir",
        str(tmp_path),
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2  # the folder given twice is read once
    assert all(line.startswith("error: ") for line in lines)
