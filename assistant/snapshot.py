"""The shipped rulesets and playbooks, parsed ahead of time, for start-up time.

Importing PyYAML and parsing the shipped files costs a one-order `diagnose` about 20 ms; the
same documents read from JSON cost under 1 ms. `builtin_yaml.json` holds each shipped file's
parsed document with the SHA-256 of its text: a file whose text no longer matches (edited in a
checkout) is parsed from its YAML as before, so the snapshot can be stale but never wrong, and
a test keeps it current. Regenerate it with `python -m assistant.snapshot`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("builtin_yaml.json")


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


if __name__ == "__main__":
    main()
