"""The shipped rulesets and playbooks, parsed and validated ahead of time, for start-up time.

Importing PyYAML and parsing the shipped files costs a one-order `diagnose` about 20 ms; the
same documents read from JSON cost under 1 ms. `builtin_yaml.json` holds each shipped file's
parsed document with the SHA-256 of its text: a file whose text no longer matches (edited in a
checkout) is parsed from its YAML as before.

Validating the shipped rulesets costs another 20 ms (pydantic models, durable_rules' grammar).
`builtin_rulebook.json` holds the rulebook they make, keyed by one SHA-256 over the shipped
ruleset files and the modules that validate them: an edit to either makes it stale, and the
files are validated as they are read.

Both snapshots can be stale but never wrong, and a test keeps them current. Regenerate them
with `python -m assistant.snapshot`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("builtin_yaml.json")
RULEBOOK = Path(__file__).with_name("builtin_rulebook.json")
# The modules whose code decides what a shipped ruleset file becomes in the rulebook.
_CODE_DIR = Path(__file__).parent
_VALIDATING_CODE = (
    "rulesets.py",
    "ruleset_schema.py",
    "facts.py",
    "regexsafety.py",
    "yamlio.py",  # what a shipped file parses to
    "snapshot.py",  # the parsed snapshot of builtin_yaml.json, and this key
)


def key(path: Path) -> str:
    """`rulesets/NAME.yaml` or `playbooks/NAME.yaml`, wherever the folder is installed."""
    return f"{path.parent.name}/{path.name}"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.cache
def _entries() -> dict[str, dict[str, str]]:
    try:
        entries = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def parsed(path: Path, text: str) -> Any | None:
    """The file's document when the snapshot holds this very text, else None. Each call gets
    its own copy (the entry is kept as JSON text), so callers may change what they get."""
    entry = _entries().get(key(path))
    if entry is None or entry.get("sha256") != digest(text):
        return None
    return json.loads(entry["json"])


def rulebook_key(folder: Path) -> str | None:
    """One SHA-256 over the folder's ruleset files (names and texts) and the validating code;
    None when one cannot be read (then nothing is taken on trust)."""
    whole = hashlib.sha256()
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix in {".yaml", ".yml"})
        for path in [*files, *(_CODE_DIR / name for name in _VALIDATING_CODE)]:
            data = path.read_bytes()
            # os.fsencode: a file name need not be UTF-8.
            whole.update(os.fsencode(f"{path.parent.name}/{path.name}") + b"\0")
            whole.update(hashlib.sha256(data).digest())
    except OSError:  # the validation reads the folder and names the problem
        return None
    return whole.hexdigest()


def validated_rulebook(folder: Path) -> Any | None:
    """The rulebook document (assistant.rulesets.rulebook_document) of the shipped folder, when
    the snapshot was made from these very files and this very code; else None."""
    try:
        entry = json.loads(RULEBOOK.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("sha256") != rulebook_key(folder):
        return None
    return entry.get("rulebook")


def build_rulebook(folder: Path) -> dict[str, Any]:
    """The rulebook snapshot of the shipped folder, validated from its files."""
    from assistant.ruleset_schema import validate_rulesets
    from assistant.rulesets import rulebook_document

    return {
        "sha256": rulebook_key(folder),
        "rulebook": rulebook_document(validate_rulesets([folder])),
    }


def build(folders: list[Path]) -> dict[str, dict[str, str]]:
    """Entries for every YAML file in the folders whose document survives a JSON round trip
    unchanged (YAML dates or non-string keys would not: those stay out)."""
    from assistant.yamlio import decode, load_ruleset_yaml, read_file_capped

    entries: dict[str, dict[str, str]] = {}
    for folder in folders:
        for path in sorted(p for p in folder.iterdir() if p.suffix in {".yaml", ".yml"}):
            text = decode(read_file_capped(path))
            document = load_ruleset_yaml(path, shipped=True, snapshot=False)
            encoded = json.dumps(document, ensure_ascii=False)  # key order is meaning: rule order
            if json.loads(encoded) == document:
                entries[key(path)] = {"sha256": digest(text), "json": encoded}
    return entries


def main() -> None:
    from assistant.resources import builtin_dir

    entries = build([builtin_dir("rulesets"), builtin_dir("playbooks")])
    SNAPSHOT.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{SNAPSHOT.name}: {len(entries)} files")
    rulebook = build_rulebook(builtin_dir("rulesets"))
    # Not sorted: the order of errors and rules is meaning (classification, engine order).
    RULEBOOK.write_text(json.dumps(rulebook, indent=1) + "\n", encoding="utf-8")
    print(f"{RULEBOOK.name}: {len(rulebook['rulebook']['rules'])} rules")


if __name__ == "__main__":
    main()
