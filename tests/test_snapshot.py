"""The parsed snapshot of the shipped YAML (start-up time) is current, and never wrong when not."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from assistant import snapshot
from assistant.resources import builtin_dir
from assistant.rulesets import load_rulebook
from assistant.yamlio import load_ruleset_yaml
from tests.conftest import RunCli

SHIPPED = [builtin_dir("rulesets"), builtin_dir("playbooks")]


def test_the_snapshot_holds_every_shipped_file_as_its_yaml_parses() -> None:
    committed = json.loads(snapshot.SNAPSHOT.read_text(encoding="utf-8"))
    assert committed == snapshot.build(SHIPPED), "run: python -m assistant.snapshot"
    shipped = {snapshot.key(p) for folder in SHIPPED for p in folder.glob("*.yaml")}
    assert set(committed) == shipped


@pytest.mark.parametrize(
    "path", [p for folder in SHIPPED for p in sorted(folder.glob("*.yaml"))], ids=lambda p: p.name
)
def test_the_snapshot_keeps_each_documents_keys_in_their_yaml_order(path: Path) -> None:
    # Mappings are ordered: the rules' order is the order `rules list` shows and the engine
    # registers them in.
    from_snapshot = load_ruleset_yaml(path, shipped=True)
    from_yaml = load_ruleset_yaml(path, shipped=True, snapshot=False)
    assert json.dumps(from_snapshot) == json.dumps(from_yaml)


def test_a_shipped_file_is_read_from_the_snapshot() -> None:
    path = builtin_dir("rulesets") / "sla_unavailable.yaml"
    from_snapshot = load_ruleset_yaml(path, shipped=True)
    assert from_snapshot == load_ruleset_yaml(path, shipped=True, snapshot=False)
    from_snapshot["error"] = "changed by a caller"  # each caller gets its own copy
    assert load_ruleset_yaml(path, shipped=True)["error"] != "changed by a caller"


def test_an_edited_shipped_file_is_parsed_from_its_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rulesets = tmp_path / "rulesets"
    shutil.copytree(builtin_dir("rulesets"), rulesets)
    edited = rulesets / "sla_unavailable.yaml"
    text = edited.read_text(encoding="utf-8")
    title = "No available SLA (edited in a checkout)"
    edited.write_text(re.sub(r"(?m)^  title: .*$", f"  title: {title}", text, count=1))
    monkeypatch.setattr("assistant.resources._PACKAGE_DIR", tmp_path / "assistant")
    assert load_rulebook([]).errors["sla_unavailable"].title == title


# ---- the validated rulebook ------------------------------------------------------------------


def test_the_rulebook_snapshot_is_current() -> None:
    committed = json.loads(snapshot.RULEBOOK.read_text(encoding="utf-8"))
    assert committed == snapshot.build_rulebook(builtin_dir("rulesets")), (
        "run: python -m assistant.snapshot"
    )


def test_the_shipped_rulebook_comes_from_its_snapshot_equal_to_the_validated_files() -> None:
    assert snapshot.validated_rulebook(builtin_dir("rulesets")) is not None
    from_snapshot = load_rulebook([])
    validated = load_rulebook([], use_snapshot=False)
    assert from_snapshot == validated
    assert list(from_snapshot.errors) == list(validated.errors)  # classification order
    assert list(from_snapshot.rules) == list(validated.rules)  # the engine's order
    assert from_snapshot.sources == validated.sources


def test_an_edited_validator_makes_the_rulebook_snapshot_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "assistant"
    shutil.copytree(snapshot._CODE_DIR, code, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(snapshot, "_CODE_DIR", code)
    assert snapshot.validated_rulebook(builtin_dir("rulesets")) is not None
    schema = code / "ruleset_schema.py"
    schema.write_text(schema.read_text(encoding="utf-8") + "\n# a new check\n", encoding="utf-8")
    assert snapshot.validated_rulebook(builtin_dir("rulesets")) is None


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"sha256": "0"}', None],
    ids=["unparsable", "not-an-object", "another-key", "wrong-shape"],
)
def test_a_broken_rulebook_snapshot_falls_back_to_the_files(
    content: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "builtin_rulebook.json"
    if content is None:  # the right key over a document of another shape
        content = json.dumps(
            {"sha256": snapshot.rulebook_key(builtin_dir("rulesets")), "rulebook": {"errors": 3}}
        )
    broken.write_text(content, encoding="utf-8")
    monkeypatch.setattr(snapshot, "RULEBOOK", broken)
    assert load_rulebook([]) == load_rulebook([], use_snapshot=False)


def test_rules_validate_validates_the_files_not_the_snapshot(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A snapshot that is keyed right but says less than the files (as one made by older code
    # could): everyday commands trust it, `rules validate` reads the files themselves.
    entry = json.loads(snapshot.RULEBOOK.read_text(encoding="utf-8"))
    entry["rulebook"]["rules"] = entry["rulebook"]["rules"][:1]
    short = tmp_path / "builtin_rulebook.json"
    short.write_text(json.dumps(entry), encoding="utf-8")
    monkeypatch.setattr(snapshot, "RULEBOOK", short)
    rules = len(load_rulebook([], use_snapshot=False).rules)
    assert len(load_rulebook([]).rules) == 1
    result = run_cli("rules", "validate")
    assert result.exit_code == 0, result.output
    assert f"{rules} rules" in result.output
