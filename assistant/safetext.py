"""Text from outside (VTEX responses, recordings, order files, rulesets, playbooks, session
files) made safe to show on a terminal or in Markdown: the one place that escapes it.

Every character Python does not call printable is shown as its escape sequence, as visible
text: C0 and C1 controls (so no ANSI/OSC sequence from data ever reaches the terminal), DEL,
line and paragraph separators, bidi overrides and isolates (`\\u202e` would reverse what
follows), zero-width characters and other format characters, and non-ASCII spaces. JSON output
does not need this: json.dumps escapes controls itself and must stay exact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported when something is drawn, not on the --json path
    from rich.text import Text


def printable(text: str, limit: int | None = 60) -> str:
    """`text` with every non-printable character escaped (`\\x1b`, `\\u202e`), cut to `limit`
    characters when one is given. Idempotent on its own output, so a message may pass
    through it twice."""
    shown = text if limit is None or len(text) <= limit else text[:limit] + "..."
    if shown.isprintable():  # the common case, without a per-character loop
        return shown
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in shown)


def safe_text(text: str, style: str = "") -> Text:
    """A rich `Text` of data: escaped, and never parsed as rich markup (`[red]` stays text)."""
    from rich.text import Text

    return Text(printable(text, limit=None), style=style)


# What makes Excel, LibreOffice or Google Sheets read a cell as a formula (OWASP, "CSV
# Injection"): a leading =, +, - or @, or a tab or carriage return before one.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: one that could start a formula gets a leading
    single quote, as OWASP's CSV-injection guidance recommends (the csv module quotes the
    rest). Lossy on purpose, for a file meant to be opened in a spreadsheet."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value
