"""Bulk remediation: a triaged backlog becomes a fix plan, applied once, then re-verified.

    triage FILE --plan PLAN.json   PlanBuilder: every distinct API fix once, with the orders it
                                   unblocks, the evidence that confirmed it and the VTEX state it
                                   rests on; the rest grouped as manual steps or escalations
    plan show PLAN.json            load_plan, then plan_view renders it
    plan apply PLAN.json           apply_plan (dry-run unless asked), then reverify

Only a finding that VTEX's data proves by itself (`confirmed`), owned by the store, of one of the
two codes the API can fix, becomes a write: nothing is planned from a suspected cause. The write
itself is assistant.fixes' (it re-reads the record and refuses an unsafe body), so the plan adds
two guards of its own: each fix carries the state it was planned from (the SKU's `IsActive` and
product, or the product's trade-policy list) and is skipped when VTEX shows something else now,
and a progress file next to the plan records each write as `sending` before and `done` after, so
a run killed at any moment continues without sending any write twice (a `sending` entry is
settled by the re-read: already right means it went through).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.checks import Checker
from assistant.errors import (
    EXIT_ACTION_NEEDED,
    EXIT_OK,
    EXIT_UNDECIDED,
    InputError,
    UsageError,
    VtexApiError,
)
from assistant.fixes import (
    PRODUCT_POLICY_PATH,
    SKU_RECORD_PATH,
    FixPlan,
    plan_activate_sku,
    plan_link_trade_policy,
)
from assistant.models import Diagnosis, Finding, OrderContext, Verdict
from assistant.outfiles import write_atomic
from assistant.sessions import AuditEntry, SessionStore, now
from assistant.triage.exports import BadRow, BulkOrder
from assistant.validation import first_problem
from assistant.verdict import batch_exit_code, judge

if TYPE_CHECKING:
    from assistant.diagnose import Diagnoser
    from assistant.playbook import Playbook
    from assistant.triage import Triaged
    from assistant.vtex import VtexClient

PLAN_SCHEMA: Literal[1] = 1
PLAN_KIND: Literal["order-assistant fix plan"] = "order-assistant fix plan"
# The finding codes the API can fix, and how. Everything else is left to the operator.
WRITABLE: Mapping[str, str] = {
    "sku_inactive": "activate_sku",
    "sku_not_in_trade_policy": "link_trade_policy",
}
PLAYBOOK_OF_ACTION = {"activate_sku": "activate-sku", "link_trade_policy": "link-trade-policy"}
# Writes in flight at once: few, so the store's own integrations keep most of the rate limit
# (the client's token bucket and its 429/Retry-After handling pace them further).
DEFAULT_WRITERS = 4
MAX_EVIDENCE = 5  # distinct evidence lines kept per fix: they repeat across orders
REPROCESS_SCREEN = "Marketplace > Connections > Orders"

FixAction = Literal["activate_sku", "link_trade_policy"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlannedFix(_Model):
    """One API write, planned once however many orders it unblocks."""

    id: str
    action: FixAction
    finding: str
    sku_ids: list[str]  # the VTEX SKU ids the write concerns (the product's, for a link)
    product_id: str
    trade_policy_id: str | None = None
    method: Literal["PUT", "POST"]
    path: str
    summary: str
    orders: list[str]
    evidence: list[str]
    # The VTEX state the fix was planned from, and its digest: apply compares it with what it
    # reads right before writing.
    state: dict[str, Any]
    state_digest: str


class ManualGroup(_Model):
    """A store-side cause no API write fixes (or not proven enough to write): Admin steps."""

    admin_screen: str
    finding: str
    title: str
    status: str
    playbook: str
    orders: list[str]
    sku_ids: list[str]


class Escalation(_Model):
    owner: Literal["amazon", "vtex_support"]
    finding: str
    title: str
    playbook: str
    orders: list[str]


class PlanOrder(_Model):
    context: OrderContext
    verdict: Verdict
    causes: list[str]  # store-side findings at triage: "code (status, SKU n)"
    fixes: list[str]  # ids of the planned fixes that concern it


class Plan(_Model):
    schema_version: Literal[1] = PLAN_SCHEMA
    kind: Literal["order-assistant fix plan"] = PLAN_KIND
    account: str
    created_at: str
    source: str  # the export's file name
    state_digest: str
    fixes: list[PlannedFix]
    manual: list[ManualGroup]
    escalations: list[Escalation]
    orders: list[PlanOrder]  # the orders blocked on the store side: re-verified after apply
    not_blocked: list[str] = Field(default_factory=list)  # clear at triage: not in the plan

    def unblocked_by_writes(self) -> int:
        return len({order for fix in self.fixes for order in fix.orders})


def digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_digest(plan: Plan) -> str:
    """The digest of the whole plan but the digest itself: the state every fix rests on, and
    what apply does with it (paths, orders, evidence, the orders it re-verifies, when it was
    made). A plan edited after triage wrote it no longer matches; a new plan written under an
    old one's name does not either, so the old progress file is not taken for its own."""
    return digest(plan.model_dump(mode="json", exclude={"state_digest"}))


# ---- building the plan from triage results -----------------------------------------------------


def _cause(finding: Finding) -> str:
    sku = f", SKU {finding.sku_id}" if finding.sku_id else ""
    return f"{finding.code} ({finding.status}{sku})"


def _admin_screen(playbook: Playbook | None) -> str:
    if playbook is not None:
        for step in playbook.steps:
            if step.admin_path:
                return step.admin_path
    return "(no Admin screen named)"


class PlanBuilder:
    """Collects triaged orders (online: the client's cache answers every id it needs) and builds
    the plan. Fed from one thread, in input order."""

    def __init__(self, client: VtexClient, playbooks: Mapping[str, Playbook], source: str) -> None:
        self.client = client
        self.playbooks = playbooks
        self.source = source
        self._fixes: dict[str, PlannedFix] = {}
        self._manual: dict[tuple[str, str, str], ManualGroup] = {}
        self._escalations: dict[tuple[str, str], Escalation] = {}
        self._orders: list[PlanOrder] = []
        self._not_blocked: list[str] = []

    def add(self, result: Triaged | BadRow) -> None:
        if isinstance(result, BadRow):
            return
        diagnosis, context = result.diagnosis, result.order.context
        verdict, _ = judge(diagnosis)
        for finding in diagnosis.findings:
            if finding.owner != "store":
                self._escalate(finding, context.order_id)
        if verdict == "clean":
            self._not_blocked.append(context.order_id)
            return
        fix_ids: list[str] = []
        for finding in diagnosis.findings:
            if finding.owner != "store":
                continue
            fix = self._fix_for(finding, context)
            if fix is None:
                self._manual_step(finding, context.order_id)
                continue
            _append_order(fix.orders, context.order_id)
            for line in finding.evidence:
                if len(fix.evidence) < MAX_EVIDENCE:
                    _append_once(fix.evidence, line)
            _append_once(fix_ids, fix.id)
        causes = [_cause(f) for f in diagnosis.findings if f.owner == "store"]
        self._orders.append(
            PlanOrder(context=context, verdict=verdict, causes=causes, fixes=fix_ids)
        )

    def build(self) -> Plan:
        fixes = sorted(self._fixes.values(), key=lambda fix: (-len(fix.orders), fix.id))
        account = self.client.config.account
        plan = Plan(
            account=account,
            created_at=now(),
            source=self.source,
            state_digest="",
            fixes=fixes,
            manual=sorted(
                self._manual.values(), key=lambda g: (g.admin_screen, -len(g.orders), g.finding)
            ),
            escalations=sorted(
                self._escalations.values(), key=lambda e: (e.owner, -len(e.orders), e.finding)
            ),
            orders=self._orders,
            not_blocked=self._not_blocked,
        )
        return plan.model_copy(update={"state_digest": plan_digest(plan)})

    # ---- one finding ------------------------------------------------------------------------

    def _fix_for(self, finding: Finding, context: OrderContext) -> PlannedFix | None:
        """The planned write for a finding, or None when it is not one the API may fix: not
        confirmed, not the store's, not one of the two codes, or its ids cannot be read."""
        action = WRITABLE.get(finding.code)
        if action is None or finding.status != "confirmed" or finding.sku_id is None:
            return None
        index = next(
            (i for i, item in enumerate(context.items) if item.sku_id == finding.sku_id), None
        )
        if index is None:
            return None
        checker = Checker(context, self.client, workers=1)
        sku = checker.resolve_sku(index)  # from the client's cache: triage read it
        if sku is None:
            return None
        if action == "activate_sku":
            return self._activate(sku.Id, sku.ProductId, sku.IsActive)
        trade_policy_id = checker.trade_policy_id()
        if not trade_policy_id:
            return None
        try:
            linked = self.client.get_product_sales_policies(sku.ProductId)
        except VtexApiError:
            return None
        policies = sorted({policy.StoreId for policy in linked})
        if not policies:
            # An empty list opens the product to every trade policy: linking one would narrow
            # it to that one, taking it off every other store. Never planned.
            return None
        return self._link(sku.Id, sku.ProductId, trade_policy_id, policies)

    def _activate(self, sku_id: str, product_id: str, active: bool) -> PlannedFix:
        return self._planned(
            f"activate_sku:{sku_id}",
            {"sku_id": sku_id, "ProductId": product_id, "IsActive": active},
            action="activate_sku",
            finding="sku_inactive",
            sku_ids=[sku_id],
            product_id=product_id,
            method="PUT",
            path=SKU_RECORD_PATH.format(sku_id=sku_id),
            summary=f"activate SKU {sku_id} (the full record read back, IsActive: true)",
        )

    def _link(
        self, sku_id: str, product_id: str, trade_policy_id: str, policies: list[str]
    ) -> PlannedFix:
        fix = self._planned(
            f"link_trade_policy:{product_id}:{trade_policy_id}",
            {
                "product_id": product_id,
                "trade_policy_id": trade_policy_id,
                "trade_policies": policies,
            },
            action="link_trade_policy",
            finding="sku_not_in_trade_policy",
            sku_ids=[],
            product_id=product_id,
            trade_policy_id=trade_policy_id,
            method="POST",
            path=PRODUCT_POLICY_PATH.format(product_id=product_id, trade_policy_id=trade_policy_id),
            summary=f"link product {product_id} to trade policy {trade_policy_id}",
        )
        _append_once(fix.sku_ids, sku_id)  # several SKUs of one product share one link
        return fix

    def _planned(self, fix_id: str, state: dict[str, Any], **request: Any) -> PlannedFix:
        """The fix with that id, planned once from the state it rests on; later orders reuse
        it and add themselves to its orders."""
        if fix_id not in self._fixes:
            self._fixes[fix_id] = PlannedFix(
                id=fix_id,
                orders=[],
                evidence=[],
                state=state,
                state_digest=digest(state),
                **request,
            )
        return self._fixes[fix_id]

    def _manual_step(self, finding: Finding, order_id: str) -> None:
        playbook = self.playbooks.get(finding.playbook)
        screen = _admin_screen(playbook)
        key = (screen, finding.code, finding.status)
        group = self._manual.get(key)
        if group is None:
            group = self._manual[key] = ManualGroup(
                admin_screen=screen,
                finding=finding.code,
                title=finding.title,
                status=finding.status,
                playbook=finding.playbook,
                orders=[],
                sku_ids=[],
            )
        _append_order(group.orders, order_id)
        if finding.sku_id:
            _append_once(group.sku_ids, finding.sku_id)

    def _escalate(self, finding: Finding, order_id: str) -> None:
        assert finding.owner != "store"
        key = (finding.owner, finding.code)
        escalation = self._escalations.get(key)
        if escalation is None:
            escalation = self._escalations[key] = Escalation(
                owner=finding.owner,
                finding=finding.code,
                title=finding.title,
                playbook=finding.playbook,
                orders=[],
            )
        _append_order(escalation.orders, order_id)


def _append_once(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)


def _append_order(orders: list[str], order_id: str) -> None:
    # Orders arrive one at a time, in input order: a repeat can only be the last one (an order
    # with two SKUs behind the same fix), and a backlog's group can hold thousands of them.
    if not orders or orders[-1] != order_id:
        orders.append(order_id)


# ---- the plan file --------------------------------------------------------------------------


def save_plan(plan: Plan, path: Path) -> None:
    try:
        write_atomic(path, plan.model_dump_json(indent=2) + "\n")
    except OSError as exc:
        raise InputError(str(path), f"cannot be written ({exc.strerror})") from None


def load_plan(path: Path) -> Plan:
    """Read and check a plan file: bad JSON, a wrong field, or fixes that no longer match the
    plan's digest (edited by hand) end with exit 2 and the field named."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(str(path), f"cannot be read ({reason})") from None
    try:
        plan = Plan.model_validate_json(text)
    except ValidationError as exc:
        where, problem = first_problem(exc)
        raise InputError(str(path), f"{where}: {problem}") from None
    for index, fix in enumerate(plan.fixes):
        if digest(fix.state) != fix.state_digest:
            raise InputError(
                str(path), f"fixes.{index}.state: does not match its state_digest (edited?)"
            )
    if plan_digest(plan) != plan.state_digest:
        raise InputError(
            str(path),
            "state_digest: the plan does not match its digest; it was edited after triage "
            "wrote it: run `triage --plan` again",
        )
    return plan


# ---- applying -------------------------------------------------------------------------------

WriteOutcome = Literal[
    "written", "already_fixed", "changed", "failed", "would_write", "done_before", "not_read"
]
OUTCOME_WORDS: Mapping[str, str] = {
    "written": "written",
    "already_fixed": "already fixed",
    "changed": "skipped: changed since the plan",
    "failed": "failed",
    "would_write": "would write (dry-run)",
    "done_before": "done in an earlier run",
    "not_read": "not re-read (offline dry-run)",
}


@dataclass(frozen=True)
class FixResult:
    fix: PlannedFix
    outcome: WriteOutcome
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "fix": self.fix.id,
            "method": self.fix.method,
            "path": self.fix.path,
            "orders": len(self.fix.orders),
            "outcome": self.outcome,
            "detail": self.detail,
        }


class ProgressEntry(_Model):
    status: Literal["sending", "done"]
    outcome: str = ""
    time: str


class ProgressFile(_Model):
    schema_version: Literal[1] = 1
    plan_digest: str
    fixes: dict[str, ProgressEntry] = Field(default_factory=dict)


def progress_path(plan_path: Path) -> Path:
    return plan_path.with_name(plan_path.name + ".progress")


class Progress:
    """The progress file: which writes were sent (`sending`) and settled (`done`). Rewritten
    atomically after every change, from any writer thread."""

    def __init__(self, path: Path, plan: Plan) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.stale = False  # a progress file of another plan was found (and is replaced)
        self.state = ProgressFile(plan_digest=plan.state_digest)
        try:
            found = ProgressFile.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError, ValidationError):
            raise InputError(
                str(path), "is not a progress file this version can read; remove it to start over"
            ) from None
        if found.plan_digest == plan.state_digest:
            self.state = found
        else:
            self.stale = True

    def get(self, fix_id: str) -> ProgressEntry | None:
        with self._lock:
            return self.state.fixes.get(fix_id)

    def mark(self, fix_id: str, status: Literal["sending", "done"], outcome: str = "") -> None:
        with self._lock:
            self.state.fixes[fix_id] = ProgressEntry(status=status, outcome=outcome, time=now())
            write_atomic(self.path, self.state.model_dump_json(indent=2) + "\n")


@dataclass
class Applier:
    """Re-reads and (with `apply`) sends each planned write, `writers` at a time."""

    plan: Plan
    client: VtexClient | None
    audit: SessionStore
    progress: Progress | None  # None in a dry-run: it records nothing
    apply: bool
    writers: int = DEFAULT_WRITERS

    def run(self, on_result: Callable[[FixResult], None] = lambda _: None) -> list[FixResult]:
        if self.client is None:
            offline = [self._offline(fix) for fix in self.plan.fixes]
            for result in offline:
                on_result(result)
            return offline
        self.client.forget()  # every decision rests on what VTEX says now
        results: list[FixResult] = []
        pool = ThreadPoolExecutor(max_workers=self.writers, thread_name_prefix="plan-apply")
        try:
            futures = [pool.submit(self._one, fix) for fix in self.plan.fixes]
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                on_result(result)
        finally:
            # Ctrl-C: writes not started are dropped; those in flight finish and are recorded.
            pool.shutdown(wait=True, cancel_futures=True)
        order = {fix.id: index for index, fix in enumerate(self.plan.fixes)}
        return sorted(results, key=lambda r: order[r.fix.id])

    def _offline(self, fix: PlannedFix) -> FixResult:
        self._audit(fix, "dry-run", "not re-read: no VTEX credentials")
        return FixResult(fix, "not_read", "no VTEX credentials: the plan's request as written")

    def _one(self, fix: PlannedFix) -> FixResult:
        assert self.client is not None
        entry = self.progress.get(fix.id) if self.progress is not None else None
        # Every fix is re-read, a `done` one too: the progress file says what an earlier run
        # did, the re-read says whether it still holds (a SKU switched off again is written
        # again; one still right is not). A `sending` entry (the process stopped while the
        # write was out) is settled the same way: already right means it went through.
        interrupted = entry is not None and entry.status == "sending"
        try:
            decision = self._decide(fix)
        except (VtexApiError, LookupError, ValueError) as exc:
            text = self.client.redact(exc.message if isinstance(exc, VtexApiError) else str(exc))
            self._audit(fix, "failed", f"could not re-read: {text}")
            return FixResult(fix, "failed", f"could not re-read: {text}")
        done_before = entry is not None and entry.status == "done"
        if isinstance(decision, FixResult) and done_before and decision.outcome == "already_fixed":
            assert entry is not None
            return FixResult(fix, "done_before", entry.outcome)
        if isinstance(decision, FixResult):
            if decision.outcome == "already_fixed" and interrupted:
                decision = FixResult(fix, "written", "sent before the interruption; re-read: done")
            if self.progress is not None:
                self.progress.mark(fix.id, "done", decision.outcome)
            self._audit(fix, "unchanged", decision.detail)
            return decision
        if not self.apply:
            self._audit(fix, "dry-run")
            return FixResult(fix, "would_write", fix.summary)
        assert self.progress is not None
        self.progress.mark(fix.id, "sending")
        try:
            decision.send()
        except (VtexApiError, ValueError) as exc:
            # Left `sending`: the next run re-reads before deciding, whatever VTEX did.
            text = self.client.redact(exc.message if isinstance(exc, VtexApiError) else str(exc))
            self._audit(fix, "failed", text)
            return FixResult(fix, "failed", text)
        self.progress.mark(fix.id, "done", "written")
        self._audit(fix, "written")
        return FixResult(fix, "written", fix.summary)

    def _decide(self, fix: PlannedFix) -> FixPlan | FixResult:
        """Re-read the record the fix rests on: the write to send, or why none is sent."""
        assert self.client is not None
        if fix.action == "activate_sku":
            sku_id = fix.state["sku_id"]
            planned = plan_activate_sku(self.client, sku_id)
            if planned.request is None:
                return FixResult(fix, "already_fixed", planned.state)
            body = planned.request.body or {}
            if str(body.get("ProductId")) != str(fix.state["ProductId"]):
                return FixResult(
                    fix,
                    "changed",
                    f"SKU {sku_id} now belongs to product {body.get('ProductId')}, "
                    f"not {fix.state['ProductId']} as planned",
                )
            return planned
        product_id, trade_policy_id = fix.state["product_id"], fix.state["trade_policy_id"]
        linked = sorted({p.StoreId for p in self.client.get_product_sales_policies(product_id)})
        if trade_policy_id in linked:
            return FixResult(
                fix,
                "already_fixed",
                f"product {product_id} is already linked to trade policy {trade_policy_id}",
            )
        if linked != fix.state["trade_policies"]:
            return FixResult(
                fix,
                "changed",
                f"product {product_id}'s trade policies are now {linked or 'none (all)'}, "
                f"not {fix.state['trade_policies']} as planned",
            )
        return plan_link_trade_policy(self.client, product_id, trade_policy_id)

    def _audit(self, fix: PlannedFix, outcome: str, detail: str = "") -> None:
        self.audit.audit(
            AuditEntry(
                time=now(),
                session=f"plan-{self.plan.state_digest[:12]}",
                order=f"{len(fix.orders)} order(s): {', '.join(fix.orders[:3])}"
                + (", ..." if len(fix.orders) > 3 else ""),
                playbook=PLAYBOOK_OF_ACTION[fix.action],
                step="plan-apply",
                method=fix.method,
                path=fix.path,
                outcome=outcome,
                detail=detail,
            )
        )


# ---- re-verifying ---------------------------------------------------------------------------


class OrderAfter(_Model):
    order_id: str
    verdict: Verdict
    reason: str
    causes: list[str]


class Reverified(_Model):
    """Every order of the plan, checked again as `verify` does."""

    clear: list[str] = Field(default_factory=list)  # reprocess these
    blocked: list[OrderAfter] = Field(default_factory=list)
    undecided: list[OrderAfter] = Field(default_factory=list)
    escalate: list[OrderAfter] = Field(default_factory=list)  # clean store side, not ours

    def add(self, diagnosis: Diagnosis) -> None:
        verdict, reason = judge(diagnosis)
        causes = [_cause(f) for f in diagnosis.findings]
        after = OrderAfter(
            order_id=diagnosis.order_id, verdict=verdict, reason=reason, causes=causes
        )
        if verdict == "action_needed":
            self.blocked.append(after)
        elif verdict == "undecided":
            self.undecided.append(after)
        elif any(f.owner != "store" for f in diagnosis.findings):
            # The store side is clean but the fault is Amazon's or VTEX's: reprocessing would
            # fail again; the plan's escalations say whom to contact.
            self.escalate.append(after)
        else:
            self.clear.append(diagnosis.order_id)

    def exit_code(self) -> int:
        """As triage and verify: undecided orders first, then a store-side cause remaining."""
        return batch_exit_code(
            [*(o.verdict for o in self.undecided), *(o.verdict for o in self.blocked)]
        )


def reverify(
    plan: Plan,
    diagnoser: Diagnoser,
    client: VtexClient,
    *,
    concurrency: int = 8,
    on_order: Callable[[], None] = lambda: None,
) -> Reverified:
    from assistant.triage import Triaged, triage

    client.forget()  # the writes changed the store: nothing read before them counts
    rows: Iterator[BulkOrder] = (
        BulkOrder(index + 1, order.context) for index, order in enumerate(plan.orders)
    )
    found = Reverified()
    for result in triage(rows, diagnoser, client, concurrency=concurrency):
        assert isinstance(result, Triaged)
        found.add(result.diagnosis)
        on_order()
    return found


# ---- the result files -----------------------------------------------------------------------


def result_document(
    plan: Plan, results: list[FixResult], after: Reverified | None, *, applied: bool
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    document: dict[str, Any] = {
        "schema_version": PLAN_SCHEMA,
        "account": plan.account,
        "plan_digest": plan.state_digest,
        "applied": applied,
        "finished_at": now(),
        "writes": {"counts": counts, "fixes": [r.as_dict() for r in results]},
    }
    if after is not None:
        document["reverified"] = {
            "orders": len(plan.orders),
            "reprocess": after.clear,
            "blocked": [o.model_dump() for o in after.blocked],
            "undecided": [o.model_dump() for o in after.undecided],
            "escalate": [o.model_dump() for o in after.escalate],
        }
        document["reprocess_in"] = REPROCESS_SCREEN
        document["exit_code"] = after.exit_code()
    return document


def result_paths(plan_path: Path) -> tuple[Path, Path]:
    """Where `plan apply` writes its result: PLAN.result.json and PLAN.reprocess.csv."""
    stem = plan_path.name.removesuffix(".json")
    return (
        plan_path.with_name(f"{stem}.result.json"),
        plan_path.with_name(f"{stem}.reprocess.csv"),
    )


def reprocess_csv(plan: Plan, clear: list[str]) -> str:
    contexts = {order.context.order_id: order for order in plan.orders}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["order_id", "error_message", "causes_fixed"])
    for order_id in clear:
        order = contexts[order_id]
        writer.writerow([order_id, order.context.error_message, "; ".join(order.causes)])
    return buffer.getvalue()


def save_results(plan: Plan, plan_path: Path, document: Mapping[str, Any]) -> tuple[Path, Path]:
    json_path, csv_path = result_paths(plan_path)
    clear = document.get("reverified", {}).get("reprocess", [])
    try:
        write_atomic(json_path, json.dumps(document, indent=2) + "\n")
        write_atomic(csv_path, reprocess_csv(plan, clear))
    except OSError as exc:
        raise InputError(str(json_path.parent), f"cannot be written ({exc.strerror})") from None
    return json_path, csv_path


def check_account(plan: Plan, account: str | None) -> None:
    if account is not None and account != plan.account:
        raise UsageError(
            f"the plan was computed for account {plan.account!r}, but VTEX_ACCOUNT is "
            f"{account!r}: apply it with that account's credentials"
        )


def dry_run_exit_code(plan: Plan, results: Sequence[FixResult]) -> int:
    """A dry-run re-verifies no order, so it vouches only for what its re-reads saw: 0 when
    every order of the plan rests solely on fixes found already made; 3 when a fix was not
    re-read (no credentials, or the read failed) or changed since the plan; else 1 (a write, a
    manual step or an escalation remains)."""
    outcomes = {result.fix.id: result.outcome for result in results}
    if any(outcome in ("failed", "changed", "not_read") for outcome in outcomes.values()):
        return EXIT_UNDECIDED
    elsewhere = {order for group in plan.manual for order in group.orders} | {
        order for escalation in plan.escalations for order in escalation.orders
    }
    done = ("already_fixed", "done_before")
    for order in plan.orders:
        if order.verdict == "undecided":
            return EXIT_UNDECIDED
        made = all(outcomes.get(fix) in done for fix in order.fixes)
        if not order.fixes or not made or order.context.order_id in elsewhere:
            return EXIT_ACTION_NEEDED
    return EXIT_OK
