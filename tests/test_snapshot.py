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
