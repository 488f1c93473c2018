"""Keeping the API key pair out of everything the assistant writes or shows.

A secret can come back from VTEX (or a proxy) in more shapes than the one sent: as is, inside a
JSON string with some characters escaped (`\\/`, `\\u0041`), percent-encoded in a URL or a form
(`%2B`, `+` for a space), in a response header. `Redactor` blanks each of those shapes, then
looks again at the text decoded (JSON strings, percent-encoding): a secret still visible there
means an encoding it does not rewrite, and the whole text is withheld rather than kept.

Only whole secret values are replaced, and only secrets long enough to be one: the config
refuses a key or token that is obviously not a real one (see `secret_problem`), so a short
value can never turn an ordinary word into `lin***ed`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

REDACTED = "***"
WITHHELD = "*** (withheld: it held the VTEX key or token in a form that cannot be blanked)"
# VTEX app keys look like `vtexappkey-<account>-<6 letters>` and tokens are about 100
# characters: anything shorter than this is a typo or a placeholder, not a credential.
MIN_SECRET_LENGTH = 12
_PLACEHOLDERS = {
    "appkey",
    "apptoken",
    "changeme",
    "changethis",
    "example",
    "examplekey",
    "exampletoken",
    "password",
    "placeholder",
    "redacted",
    "replaceme",
    "secret",
    "token",
    "yourappkey",
    "yourapptoken",
    "yourkey",
    "yourtoken",
    "vtexappkey",
    "vtexapptoken",
}
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def secret_problem(value: str) -> str | None:
    """Why `value` cannot be a real VTEX key or token, or None. Never quotes the value."""
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters: not a real VTEX key or token"
    letters = re.sub(r"[^a-z0-9]", "", value.lower())
    if letters in _PLACEHOLDERS or len(set(letters)) <= 2 or "<" in value or "${" in value:
        return "is a placeholder, not a real VTEX key or token"
    return None


def _shapes(secret: str) -> list[str]:
    """The forms a secret takes in JSON text, URLs and forms, longest first."""
    shapes = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret).replace("/", "\\/")[1:-1],
        json.dumps(secret, ensure_ascii=True)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
    }
    shapes |= {shape.lower() for shape in shapes if "%" in shape}  # %2f as well as %2F
    return sorted(shapes, key=len, reverse=True)


class Redactor:
    """Blanks a fixed set of secrets wherever they occur, in any of their usual shapes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = [secret for secret in dict.fromkeys(secrets) if secret]
        self._shapes = [shape for secret in self.secrets for shape in _shapes(secret)]

    def text(self, text: str) -> str:
        """`text` with every secret blanked; withheld whole if one survives in a decoding."""
        if not self.secrets:
            return text
        for shape in self._shapes:
            if shape in text:
                text = text.replace(shape, REDACTED)
        if self._visible_decoded(text):
            return WITHHELD
        return text

    def body(self, text: str) -> str:
        """A response or request body: JSON is blanked value by value (a secret can hide
        behind any escape there), other text as `text`."""
        if not self.secrets or not text:
            return text
        try:
            document = json.loads(text)
        except ValueError:
            return self.text(text)
        blanked = self._walk(document)
        if blanked == document:
            return self.text(text)  # nothing inside: keep the bytes as they came
        return self.text(json.dumps(blanked, ensure_ascii=False))

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        if isinstance(value, dict):
            return {self.text(key): self._walk(item) for key, item in value.items()}
        return value

    def _visible_decoded(self, text: str) -> bool:
        # Fast path (check details are redacted on every triage row): only percent-encoding
        # and \u escapes can hide a secret that survived the shapes (a key pair has no spaces,
        # so `+` read as a space can hide one but never reveal one).
        views = []
        if "%" in text:
            views += [unquote(text), unquote_plus(text)]
        if "\\u" in text:
            views.append(_UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text))
        return any(secret in view for view in views for secret in self.secrets)
