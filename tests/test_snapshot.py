"""The parsed snapshot of the shipped YAML (start-up time) is current, and never wrong when not."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assistant import snapshot
from assistant.resources import builtin_dir
from assistant.rulesets import load_rulebook, rulebook_from_document
from assistant.yamlio import load_ruleset_yaml
from tests.conftest import EXAMPLES, RunCli

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
    document = snapshot.validated_rulebook(builtin_dir("rulesets"))
    assert document is not None
    # Taken as it is, not replaced by the files (which would give the same rulebook).
    assert rulebook_from_document(document, builtin_dir("rulesets")) == load_rulebook([])
    from_snapshot = load_rulebook([])
    validated = load_rulebook([], use_snapshot=False)
    assert from_snapshot == validated
    assert list(from_snapshot.errors) == list(validated.errors)  # classification order
    assert list(from_snapshot.rules) == list(validated.rules)  # the engine's order
    assert from_snapshot.sources == validated.sources


# Each module whose code decides what a shipped ruleset file becomes; yamlio decides what it
# parses to.
@pytest.mark.parametrize("module", ["ruleset_schema.py", "yamlio.py", "facts.py"])
def test_an_edited_validating_module_makes_the_rulebook_snapshot_stale(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "assistant"
    shutil.copytree(snapshot._CODE_DIR, code, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(snapshot, "_CODE_DIR", code)
    assert snapshot.validated_rulebook(builtin_dir("rulesets")) is not None
    edited = code / module
    edited.write_text(edited.read_text(encoding="utf-8") + "\n# a new check\n", encoding="utf-8")
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


# ---- a snapshot that is keyed right but says something validation could not have said --------
# (found by the review of this change: each was taken on trust and broke every diagnosis)


def _keyed(tmp_path: Path, rulebook: object) -> Path:
    """A rulebook snapshot under the right key (the shipped files and code as they are)."""
    path = tmp_path / "builtin_rulebook.json"
    key = snapshot.rulebook_key(builtin_dir("rulesets"))
    path.write_text(json.dumps({"sha256": key, "rulebook": rulebook}), encoding="utf-8")
    return path


def _committed_book() -> dict[str, Any]:
    book: dict[str, Any] = json.loads(snapshot.RULEBOOK.read_text(encoding="utf-8"))["rulebook"]
    return book


def _pattern_as_one_string(book: dict[str, Any]) -> None:
    # tuple("text") would be one-character patterns: no message would match them.
    first = next(e for e in book["errors"] if e["pattern_texts"])
    first["pattern_texts"] = first["pattern_texts"][0]


def _no_help_key(book: dict[str, Any]) -> None:
    del book["findings"][0]["help"]


def _rule_of_an_unknown_finding(book: dict[str, Any]) -> None:
    book["rules"][0]["finding"] = "no_such_finding"


def _error_twice(book: dict[str, Any]) -> None:
    book["errors"].append(book["errors"][0])


def _source_elsewhere(book: dict[str, Any]) -> None:
    book["rules"][0]["source"] = "../elsewhere.yaml"


def _empty(book: dict[str, Any]) -> None:
    for section in ("errors", "findings", "checks", "rules", "sources"):
        book[section] = []


@pytest.mark.parametrize(
    "damage",
    [
        _pattern_as_one_string,
        _no_help_key,
        _rule_of_an_unknown_finding,
        _error_twice,
        _source_elsewhere,
        _empty,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_keyed_snapshot_validation_could_not_have_made_is_replaced_by_the_files(
    damage: Callable[[dict[str, Any]], None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = _committed_book()
    damage(book)
    monkeypatch.setattr(snapshot, "RULEBOOK", _keyed(tmp_path, book))
    assert load_rulebook([]) == load_rulebook([], use_snapshot=False)


def test_with_an_empty_keyed_snapshot_diagnose_still_diagnoses(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = _committed_book()
    _empty(book)
    monkeypatch.setattr(snapshot, "RULEBOOK", _keyed(tmp_path, book))
    result = run_cli("diagnose", str(EXAMPLES / "sku_inactive.yaml"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["error"]["code"] == "sku_inactive"


def test_every_module_the_validation_runs_that_shapes_a_valid_rulebook_is_in_the_key() -> None:
    # The validation's own modules, from a fresh interpreter. The others only word the
    # problems of an invalid file, and a snapshot exists only for valid ones.
    probe = (
        "import sys, assistant.ruleset_schema; "
        "print(' '.join(m for m in sys.modules if m.startswith('assistant.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.split()
    wording_only = {"errors", "validation", "safetext", "resources"}
    modules = {name.removeprefix("assistant.") for name in loaded} - wording_only
    assert {f"{name}.py" for name in modules} <= set(snapshot._VALIDATING_CODE)


def test_a_missing_shipped_rulesets_folder_is_named(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("assistant.resources._PACKAGE_DIR", tmp_path / "assistant")
    result = run_cli("diagnose", str(EXAMPLES / "sku_inactive.yaml"), "--json")
    assert result.exit_code == 2
    assert f"{tmp_path / 'rulesets'}: is not a directory" in result.stderr


def test_a_shipped_file_name_that_is_not_utf8_leaves_the_rulebook_to_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(builtin_dir("rulesets"), tmp_path / "rulesets")
    odd = Path(os.fsdecode(os.fsencode(tmp_path / "rulesets") + b"/extra\xe9.yaml"))
    odd.write_text("findings: {}\n", encoding="utf-8")
    monkeypatch.setattr("assistant.resources._PACKAGE_DIR", tmp_path / "assistant")
    assert load_rulebook([]) == load_rulebook([], use_snapshot=False)
