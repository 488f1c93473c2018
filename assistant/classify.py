"""Message -> error code (+ params), using the patterns declared in the rulesets.

Matching is done with Python `re` on a normalised message, never with durable_rules' `$mt`/`$imt`
(they give silent false negatives on alternation and fold ASCII case only).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from assistant.rulesets import UNRECOGNIZED, RuleBook

_TYPOGRAPHIC = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u00a0": " ",
    }
)
# A label an operator may paste in front of the message ("Error: ...", "Erro - ...").
_LEADING_LABEL = re.compile(r"^(?:error|erro|erreur)\s*[:\-]\s*", re.IGNORECASE)
_QUOTES = "`\"'"


class Classification(NamedTuple):
    code: str
    params: Mapping[str, str] = MappingProxyType({})
    # The causes the wording names ("Negative inventory"): listed first, never confirmed by it.
    named: tuple[str, ...] = ()


def normalise(message: str) -> str:
    """Fold what the Admin, the articles and copy-paste vary on: typographic quotes and
    dashes, runs of whitespace, surrounding quotes/backticks, a leading label, a final period."""
    # NFC: a message pasted in decomposed form (a + combining acute) still reads "política".
    text = " ".join(unicodedata.normalize("NFC", message).translate(_TYPOGRAPHIC).split())
    previous = None
    while text != previous:
        previous = text
        text = text.strip().strip(_QUOTES).strip()
        text = _LEADING_LABEL.sub("", text)
        text = text.rstrip(". ")
    return text


def classify(message: str, rulebook: RuleBook) -> Classification:
    text = normalise(message)
    for error in rulebook.errors.values():
        for index, pattern in enumerate(error.patterns):
            match = pattern.fullmatch(text)
            if match:
                params = {k: v for k, v in match.groupdict().items() if v is not None}
                named = error.named_causes[index] if index < len(error.named_causes) else ()
                return Classification(error.code, params, named)
    return Classification(UNRECOGNIZED)
