"""Case drafts (Markdown) for Amazon or VTEX support, from what a guided session gathered.

What goes in follows what a support desk asks for (see the README): the order id and the
marketplace, the exact error text, the SKUs as Amazon sent them and as VTEX knows them, and the
evidence that the store side is clean; for VTEX support also the checks that passed and the
known issue when one applies.
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
    lines += ["", "## Evidence that the store side is clean", ""]
    passed = [c for c in diagnosis.checks if c.outcome == "pass"]
    evidence = [f"- {_inline(c.detail)}" for c in passed]
    titles = {name: spec.title for name, spec in case.rulebook.checks.items()}
    evidence += [
        f"- {_inline(titles.get(check, check))}"
        f"{f' (SKU {sku})' if sku else ''}: confirmed by the store's operator"
        for check, sku, passes in case.operator_answers
        if passes
    ]
    lines += evidence or ["- No automated check could run (no VTEX API access in this session)."]
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
    for finding in diagnosis.findings:
        if finding.owner == "store":
            continue
        sku = f" (SKU {finding.sku_id})" if finding.sku_id else ""
        lines.append(f"- {_inline(finding.title)}{sku}")
        lines += [f"  - {_inline(line)}" for line in finding.evidence if line]
    if case.to == "vtex_support":
        lines += _vtex_support_section(case)
    clean = bool(evidence) and not store
    lines += ["", "## What we ask", "", _request(case, checked=clean), ""]
    return "\n".join(lines)


def _vtex_support_section(case: CaseInput) -> list[str]:
    lines = ["", "## Checks that passed", ""]
    passed = [c for c in case.diagnosis.checks if c.outcome == "pass"]
    lines += [
        f"- {c.name}{f' (SKU {c.sku_id})' if c.sku_id else ''}: {_inline(c.detail)}" for c in passed
    ] or ["- none could run automatically"]
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
