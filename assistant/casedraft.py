"""Case drafts (Markdown) for Amazon or VTEX support, from what a guided session gathered.

What goes in follows what a support desk asks for (see the README): the order id and the
marketplace, the exact error text, the SKUs as Amazon sent them and as VTEX knows them, and what
was checked, each check with its outcome; for VTEX support also the known issue when one
applies. A draft states only what was checked: a check that did not run is not listed, and
nothing is called clean that was not looked at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from assistant.models import Diagnosis, OrderContext
from assistant.rulesets import RuleBook
from assistant.safetext import printable

AUDIENCE = {"amazon": "Amazon Seller Support", "vtex_support": "VTEX support"}
_KNOWN_ISSUE_LINK = "/known-issues/"


@dataclass(frozen=True)
class CaseInput:
    to: str  # amazon | vtex_support
    context: OrderContext
    diagnosis: Diagnosis
    vtex_sku_ids: Mapping[str, str]  # Amazon's SKU id -> the VTEX SKU id, where known
    operator_answers: Sequence[tuple[str, str | None, bool]]  # (check, SKU, passes)
    rulebook: RuleBook
    trade_policy_id: str | None = None


def _inline(text: str) -> str:
    """A value from the order or an API on one Markdown line: control characters escaped (no
    terminal escapes, no new lines, so no injected headings or rows)."""
    return printable(text, limit=None)


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")


def _quoted_block(text: str) -> list[str]:
    """The error text exactly, as a fenced block: its lines stay its lines, and a fence longer
    than any run of backticks in it cannot be closed from inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    lines = [printable(line, limit=None) for line in text.splitlines() or [""]]
    return [fence, *lines, fence]


def case_draft(case: CaseInput) -> str:
    context, diagnosis = case.context, case.diagnosis
    lines = [
        f"# Case draft for {AUDIENCE[case.to]}: Amazon order {context.order_id}",
        "",
        "## The order",
        "",
        f"- Amazon order id: {context.order_id}",
        "- Marketplace: Amazon"
        + (f" ({context.country})" if context.country else "")
        + (", fulfilled by Amazon (FBA)" if context.is_fba else ""),
    ]
    if context.affiliate_id:
        lines.append(f"- VTEX affiliate id: {context.affiliate_id}")
    if case.trade_policy_id:
        lines.append(f"- Amazon's trade policy in VTEX: {_inline(case.trade_policy_id)}")
    if context.seller_id:
        lines.append(f"- Amazon seller id: {context.seller_id}")
    lines += [
        "- Error shown in VTEX (Marketplace > Connections > Orders), exactly:",
        "",
        *_quoted_block(context.error_message),
        "",
        "## SKUs",
        "",
        "| SKU id as Amazon sent it | seller SKU | VTEX SKU id | quantity |",
        "|---|---|---|---|",
    ]
    online = case.diagnosis.mode == "online"
    unknown = "not found in the VTEX catalog" if online else "not checked (no API access)"
    for item in context.items:
        vtex_id = case.vtex_sku_ids.get(item.sku_id, unknown)
        lines.append(
            f"| {_cell(item.sku_id)} | {_cell(item.seller_sku or '')} | {_cell(vtex_id)} "
            f"| {item.quantity} |"
        )
    if not context.items:
        lines.append("| (none given) | | | |")
    lines += ["", "## What was checked", ""]
    checked = _checked(case)
    lines += checked or ["No check could be run in this session (no VTEX API access)."]
    evidence = any(c.outcome == "pass" for c in diagnosis.checks) or any(
        passes for _, _, passes in case.operator_answers
    )
    store = [f for f in diagnosis.findings if f.owner == "store"]
    for heading, wanted in (
        ("Still open on the store side (we are working on these):", {"confirmed"}),
        ("Not yet ruled out on the store side (not checked):", {"suspected", "reported"}),
    ):
        listed = [f for f in store if f.status in wanted]
        if listed:
            lines += [
                "",
                heading,
                *(
                    f"- {_inline(f.title)}{f' (SKU {f.sku_id})' if f.sku_id else ''}"
                    for f in listed
                ),
            ]
    lines += ["", "## What we found", ""]
    found = [f for f in diagnosis.findings if f.owner != "store"]
    for finding in found:
        sku = f" (SKU {finding.sku_id})" if finding.sku_id else ""
        lines.append(f"- {_inline(finding.title)}{sku}")
        lines += [f"  - {_inline(line)}" for line in finding.evidence if line]
    if not found:
        lines.append(
            "The checks above point to no cause on your side in particular; the error text "
            "is all we have."
        )
    if case.to == "vtex_support":
        lines += _vtex_support_section(case)
    clean = evidence and not store
    lines += ["", "## What we ask", "", _request(case, checked=clean), ""]
    return "\n".join(lines)


_OUTCOME = {"pass": "passes", "fail": "fails", "error": "could not be read (VTEX API error)"}


def _checked(case: CaseInput) -> list[str]:
    """One line per check that ran, with its outcome; then the operator's answers for checks
    the API could not make, said to be theirs."""
    lines = []
    for check in case.diagnosis.checks:
        if check.outcome not in _OUTCOME:
            continue  # skipped: nothing was looked at
        sku = f" (SKU {_inline(check.sku_id)})" if check.sku_id else ""
        detail = f": {_inline(check.detail)}" if check.detail else ""
        lines.append(f"- {_title(case, check.name)}{sku}: {_OUTCOME[check.outcome]}{detail}")
    for check_name, sku_id, passes in case.operator_answers:
        sku = f" (SKU {_inline(sku_id)})" if sku_id else ""
        lines.append(
            f"- {_title(case, check_name)}{sku}: {'passes' if passes else 'fails'}, on the "
            "word of the store's operator (not read through the API)"
        )
    return lines


def _title(case: CaseInput, check: str) -> str:
    spec = case.rulebook.checks.get(check)
    return _inline(spec.title if spec else check)


def _vtex_support_section(case: CaseInput) -> list[str]:
    lines: list[str] = []
    known = {
        spec.help
        for finding in case.diagnosis.findings
        if (spec := case.rulebook.findings.get(finding.code)) is not None
        and spec.help
        and _KNOWN_ISSUE_LINK in spec.help
    }
    if known:
        lines += ["", "## Known issue", ""]
        for link in sorted(known):
            title = next(
                spec.title for spec in case.rulebook.findings.values() if spec.help == link
            )
            lines.append(f"- {_inline(title)}: {_inline(link)}")
    return lines


def _request(case: CaseInput, *, checked: bool) -> str:
    evidence = (
        "The store side has been checked (see the evidence above). "
        if checked
        else "Not every store-side check could be run yet (see above). "
    )
    if case.to == "amazon":
        return (
            f"The order failed to integrate into our VTEX store with the error above. {evidence}"
            "Please check the order's data and the SKU mapping of the listing, correct them, "
            "and tell us when the order can be processed again."
        )
    return (
        f"The order failed to integrate with the error above. {evidence}Please investigate on "
        "the platform side and tell us when the order can be reprocessed."
    )
