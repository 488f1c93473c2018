"""The step runner behind `guide`: diagnose, then walk the playbooks of the findings.

The runner knows nothing of terminals. It asks a `Prompter` for answers (a terminal, or an
answers file with `--yes`) and tells a `View` what happens; the CLI supplies both. The session
is saved after every step, so a run stopped at any point resumes at the step it stopped at.

What an answer does:
- `check` and `verify` steps run the named check against VTEX when online; when it cannot run
  (offline, or the API failed) the step's question goes to the operator, and the answer is fed
  back into the rules: a cause the operator rules out leaves the plan.
- `action` steps plan the write (re-reading the live state: nothing is written when it is
  already right), show the exact request, and send it only with `--apply` after a confirmation
  (or `--yes`). Every write and would-be write goes to the audit log with its outcome.
- `instruct` steps with `confirm: true` are manual: only the operator can say they are done
  (a terminal answer, or `--answers`), never `--yes`. A scripted run that reaches one without
  an answer stops there and says what to do.
- `ask` steps take their answer from the operator; `--yes` takes the playbook's `default` only
  where the playbook marks it `safe_default`.
- `escalate` steps write a case draft for Amazon or VTEX support, unless the assistant's own
  evidence shows a store-side cause: then there is nothing to escalate yet.

The exit code comes from the diagnosis run again after the walk (fresh reads online; offline
with the operator's answers): 0 only when no store-side cause remains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from assistant.casedraft import AUDIENCE, CaseInput, case_draft
from assistant.checks import Checker, CheckResult, is_vtex_sku_id
from assistant.errors import (
    EXIT_ACTION_NEEDED,
    EXIT_INPUT_NEEDED,
    EXIT_OK,
    EXIT_UNDECIDED,
    AssistantError,
    UsageError,
    VtexApiError,
)
from assistant.fixes import FixPlan, WriteRequest, describe_offline, plan_activate_sku
from assistant.fixes import plan_link_trade_policy as plan_link
from assistant.models import Diagnosis, OrderContext, Verdict
from assistant.playbook import END, REPROCESS, Choice, Playbook, Step, render
from assistant.sessions import (
    AuditEntry,
    PlanEntry,
    Session,
    SessionError,
    SessionStatus,
    SessionStore,
    StepRecord,
    new_session_id,
    now,
)

if TYPE_CHECKING:
    from assistant.diagnose import Diagnoser
    from assistant.rulesets import RuleBook
    from assistant.vtex import VtexClient

# A question's choices: (value, label) pairs, in the order they are offered.
Choices = Sequence[tuple[str, str]]
YES_NO = (("yes", "yes"), ("no", "no"))
_TRUE = {"yes", "y", "true", "pass", "passes", "done", "ok"}
_FALSE = {"no", "n", "false", "fail", "fails"}

# How a playbook ended, and whether that leaves a store-side cause in place.
FIXED, UNCHANGED, ESCALATED, RULED_OUT, NOT_FIXED, WRITE_FAILED, NOT_SENT, WALKED = (
    "fixed",
    "already right",
    "escalated",
    "ruled out",
    "not fixed",
    "write failed",
    "not sent",
    "walked through",
)
NO_PLAYBOOK, NOT_ESCALATED, WAITING = "no playbook", "not escalated", "waiting for a manual step"
CAUSE_REMAINS = {NOT_FIXED, WRITE_FAILED, NOT_SENT, NOT_ESCALATED, WAITING}
# Offline, a cause the API cannot observe is settled by the operator's answers when its playbook
# ended in one of these.
SETTLED_BY_OPERATOR = {FIXED, UNCHANGED, RULED_OUT, WALKED}
BY_HAND = "-by-hand"  # suffix of an action step's id: the answer to MANUAL_QUESTION
MANUAL_QUESTION = "Did you make this change by hand in the Admin?"


class InputNeeded(AssistantError):
    """An answer is needed and nobody can be asked (exit 4): names the step and the flag."""

    exit_code = EXIT_INPUT_NEEDED


class Paused(Exception):
    """The operator said a manual step is not done yet: the session waits for --resume."""


class ManualStepPending(Exception):
    """A scripted run reached a manual step nobody said was done: the run stops there."""

    def __init__(self, key: AnswerKey) -> None:
        super().__init__(str(key))
        self.key = key


@dataclass(frozen=True)
class AnswerKey:
    """Where an answer belongs. An answers file may key it, most specific first, as
    `playbook.step@SKU`, `playbook.step` or `step`."""

    playbook: str
    step: str
    sku_id: str | None

    @property
    def name(self) -> str:
        return f"{self.playbook}.{self.step}"

    def candidates(self) -> list[str]:
        keys = [self.name, self.step]
        if self.sku_id:
            return [f"{self.name}@{self.sku_id}", f"{self.step}@{self.sku_id}", *keys]
        return keys

    def by_hand(self) -> AnswerKey:
        """The question after a fix that was not sent: was it made by hand in the Admin?"""
        return AnswerKey(self.playbook, f"{self.step}{BY_HAND}", self.sku_id)

    def __str__(self) -> str:
        return f"{self.name}@{self.sku_id}" if self.sku_id else self.name


class Prompter(Protocol):
    def choose(
        self, key: AnswerKey, question: str, choices: Choices, default: str | None = None
    ) -> str:
        """One of the choice values. `default` is a choice that `--yes` may take (the
        playbook marks it safe); None when only the operator may choose."""

    def confirm(self, key: AnswerKey, question: str) -> bool:
        """Consent to a write: `--yes` gives it."""

    def done(self, key: AnswerKey, question: str) -> bool | None:
        """Whether the operator did a manual step; None when nobody can say (no terminal and
        no answer). `--yes` never answers this: it cannot know what was done in the Admin."""

    def maybe_choose(self, key: AnswerKey, question: str, choices: Choices) -> str | None:
        """Like choose, but None instead of exit 4 when nobody can be asked."""


class View(Protocol):
    """What the operator sees. Every text passed here is already rendered and plain."""

    def plan(self, session: Session, playbooks: Mapping[str, Playbook]) -> None: ...
    def playbook(
        self, position: int, total: int, entry: PlanEntry, title: str, summary: str
    ) -> None: ...
    def step(self, number: int, total: int, kind: str, title: str, body: str) -> None: ...
    def progress(self, session: Session) -> None: ...
    def admin(self, path: str | None, link: str | None, steps: Sequence[str]) -> None: ...
    def result(self, ok: bool | None, text: str) -> None: ...
    def request(self, request: WriteRequest, dry_run: bool) -> None: ...
    def case(self, markdown: str, path: str) -> None: ...
    def summary(self, session: Session) -> None: ...


class AnswerBook:
    """Answers given ahead of time (`--answers FILE`) and `--yes` for confirmations."""

    def __init__(self, answers: Mapping[str, str], *, yes: bool, source: str = "--answers") -> None:
        self.answers = dict(answers)
        self.yes = yes
        self.source = source

    def lookup(self, key: AnswerKey) -> str | None:
        for candidate in key.candidates():
            if candidate in self.answers:
                return self.answers[candidate]
        return None


def parse_choice(value: str, choices: Choices, where: str) -> str:
    text = value.strip().lower()
    values = [v for v, _ in choices]
    if [*values] == ["yes", "no"]:
        if text in _TRUE:
            return "yes"
        if text in _FALSE:
            return "no"
    if text in values:
        return text
    raise UsageError(f"{where}: {value!r} is not one of: {', '.join(values)}")


class ScriptedPrompter:
    """No terminal: every answer comes from the answers file or `--yes`; else exit 4."""

    def __init__(self, book: AnswerBook) -> None:
        self.book = book

    def choose(
        self, key: AnswerKey, question: str, choices: Choices, default: str | None = None
    ) -> str:
        given = self.book.lookup(key)
        if given is None and default is not None and self.book.yes:
            return default
        if given is None:
            values = "|".join(v for v, _ in choices)
            why = " (--yes takes no default here: the choice is the operator's)" * self.book.yes
            raise InputNeeded(
                f"step {key} asks: {question} No answer given and no terminal to ask{why}: add "
                f"`{key.name}: {values}` to the file of --answers"
            )
        return parse_choice(given, choices, f"{self.book.source}: {key.name}")

    def done(self, key: AnswerKey, question: str) -> bool | None:
        given = self.book.lookup(key)
        if given is None:
            return None
        return parse_choice(given, YES_NO, f"{self.book.source}: {key.name}") == "yes"

    def maybe_choose(self, key: AnswerKey, question: str, choices: Choices) -> str | None:
        if self.book.lookup(key) is None:
            return None
        return self.choose(key, question, choices)

    def confirm(self, key: AnswerKey, question: str) -> bool:
        given = self.book.lookup(key)
        if given is not None:
            return parse_choice(given, YES_NO, f"{self.book.source}: {key.name}") == "yes"
        if self.book.yes:
            return True
        raise InputNeeded(
            f"step {key} needs a confirmation: {question} Pass --yes, or add "
            f"`{key.name}: yes` to the file of --answers"
        )


@dataclass
class Guide:
    """One guided session: the order, the plan of playbooks, and where it stands."""

    diagnoser: Diagnoser
    playbooks: Mapping[str, Playbook]
    client: VtexClient | None
    prompter: Prompter
    view: View
    store: SessionStore
    session: Session
    apply: bool = False
    account: str | None = None

    # ---- starting -------------------------------------------------------------------------

    @classmethod
    def plan_for(cls, diagnosis: Diagnosis) -> list[PlanEntry]:
        """One entry per (playbook, SKU), in the order of the findings; two findings with the
        same remedy for the same SKU are walked once."""
        entries: dict[tuple[str, str | None], PlanEntry] = {}
        for finding in diagnosis.findings:
            key = (finding.playbook, finding.sku_id)
            if key not in entries:
                entries[key] = PlanEntry(
                    playbook=finding.playbook, finding=finding.code, sku_id=finding.sku_id
                )
        return list(entries.values())

    @staticmethod
    def chosen_plan(
        context: OrderContext, playbooks: Sequence[Playbook], rulebook: RuleBook
    ) -> list[PlanEntry]:
        """`--playbook ID`: walk these instead of the diagnosis's, once per SKU of the order
        when the playbook's findings are about a SKU (per-item rules), else once."""
        per_item = {rule.finding for rule in rulebook.rules.values() if rule.per_item}
        entries = []
        for playbook in playbooks:
            finding = playbook.findings[0] if playbook.findings else ""
            if context.items and per_item & set(playbook.findings):
                entries += [
                    PlanEntry(playbook=playbook.id, finding=finding, sku_id=item.sku_id)
                    for item in context.items
                ]
            else:
                entries.append(PlanEntry(playbook=playbook.id, finding=finding))
        return entries

    @staticmethod
    def new_session(
        context: OrderContext, diagnosis: Diagnosis, plan: list[PlanEntry] | None = None
    ) -> Session:
        stamp = now()
        return Session(
            id=new_session_id(),
            created_at=stamp,
            updated_at=stamp,
            order=context,
            error_code=diagnosis.error.code,
            mode=diagnosis.mode,
            plan=Guide.plan_for(diagnosis) if plan is None else plan,
            chosen=plan is not None,
        )

    # ---- running --------------------------------------------------------------------------

    def run(self) -> int:
        """Walk the plan from where the session stands. KeyboardInterrupt and InputNeeded
        propagate after the session is saved."""
        session = self.session
        if session.error_code == "unrecognized" and not session.plan:
            session.status = "done"
            self._save()
            self.view.result(None, "the error message is not one the assistant knows: no playbook")
            return EXIT_UNDECIDED
        session.status = "running"
        self._save()
        self.view.plan(session, self.playbooks)
        try:
            while session.plan_index < len(session.plan):
                entry = session.plan[session.plan_index]
                if entry.status in ("pending", "active"):
                    self._walk(entry)
                    self._replan()
                session.plan_index += 1
                session.step_id = None
                self._save()
        except KeyboardInterrupt:
            session.status = "interrupted"
            self._save()
            raise
        except InputNeeded:
            session.status = "needs_input"
            self._save()
            raise
        except Paused:
            return self._close("paused")
        except ManualStepPending as pending:
            return self._close("paused", pending=pending.key)
        return self._close("done")

    # ---- closing: the diagnosis again -----------------------------------------------------

    def _close(self, status: SessionStatus, pending: AnswerKey | None = None) -> int:
        """Run the diagnosis again and let it say whether a store-side cause remains. A walk
        stopped at a manual step whose outcome nobody can observe needs an answer (exit 4)."""
        session = self.session
        verdict, reason = self._verdict()
        # A playbook waiting at a manual step is settled by the diagnosis, not by its wait.
        remains = any(e.outcome in CAUSE_REMAINS - {WAITING} for e in session.plan)
        if verdict == "clean" and remains:
            verdict, reason = "action_needed", "a fix in the plan was not made"
        session.status = status
        session.verdict, session.verdict_reason = verdict, reason
        if pending is not None and verdict == "undecided" and not remains:
            session.status = "needs_input"
            self._save()
            raise InputNeeded(
                f"step {pending} is done by hand in the Admin, and nothing the API shows can "
                f"tell whether it was: once it is done, add `{pending.name}: yes` to the file "
                "of --answers (--yes does not do manual steps)"
            )
        self._save()
        self.view.summary(session)
        if verdict == "clean":
            return EXIT_OK
        if verdict == "undecided" and not remains and status == "done":
            return EXIT_UNDECIDED
        return EXIT_ACTION_NEEDED

    def _verdict(self) -> tuple[Verdict, str]:
        """The diagnosis after the walk: online from fresh reads, offline from the context and
        the operator's answers (which then stand for what the API could not observe)."""
        from assistant.verdict import judge

        if self.client is not None:
            self.client.forget()
        diagnosis = self.diagnoser.diagnose(
            self.session.order, self.client, answers=self.session.answer_map()
        )
        verdict, reason = judge(diagnosis)
        if verdict != "undecided" or self.client is not None or not self.session.plan:
            return verdict, reason
        if any(check.outcome == "error" for check in diagnosis.checks):
            return verdict, reason
        settled = {
            (e.playbook, e.sku_id)
            for e in self.session.plan
            if e.status in ("done", "ruled_out") and e.outcome in SETTLED_BY_OPERATOR
        }
        store = [f for f in diagnosis.findings if f.owner == "store"]
        if all((f.playbook, f.sku_id) in settled for f in store) and (
            store or self.session.check_answers or settled
        ):
            return "clean", "no store-side cause remains, on the operator's answers"
        return verdict, reason

    def _save(self) -> None:
        self.store.save(self.session)

    def _walk(self, entry: PlanEntry) -> None:
        playbook = self.playbooks.get(entry.playbook)
        if playbook is None:
            # A finding of a user's ruleset may name a playbook nobody wrote yet.
            entry.status, entry.outcome = "skipped", NO_PLAYBOOK
            self.view.result(
                None,
                f"{entry.finding}: no playbook named {entry.playbook!r} "
                "(see `order-assistant playbooks list`)",
            )
            return
        order = [step.id for step in playbook.steps]
        steps = {step.id: step for step in playbook.steps}
        position = self.session.plan.index(entry)
        if any(e.status != "pending" for e in self.session.plan):
            self.view.progress(self.session)
        entry.status = "active"
        values = self._values(entry)
        self.view.playbook(
            position + 1,
            len(self.session.plan),
            entry,
            render(playbook.title, values),
            render(playbook.summary, values),
        )
        current: str = self.session.step_id or order[0]
        if current not in steps:
            raise SessionError(
                f"session {self.session.id} stopped at step {current!r} of playbook "
                f"{playbook.id!r}, which has no such step now (edited, or from a "
                "--playbooks-dir not given to this run); give the same --playbooks-dir"
            )
        while current != END:
            self.session.step_id = current
            self._save()
            step = steps[current]
            number = order.index(current) + 1
            if step.id == REPROCESS and self._still_pending():
                # Reprocessing before the remaining causes are dealt with fails again.
                self._record(playbook, entry, step, "postponed", "other playbooks remain")
                self.view.result(None, "reprocess the order once the remaining playbooks are done")
                break
            self.view.step(
                number,
                len(order),
                step.kind,
                render(step.title, values),
                render(step.text, values),
            )
            outcome, detail, target = self._run_step(playbook, step, entry, values)
            self._record(playbook, entry, step, outcome, detail)
            following = order[number] if number < len(order) else END
            current = target or following
        entry.status = "done"
        if not entry.outcome:
            entry.outcome = FIXED if playbook.fixes else WALKED
        self.session.step_id = None

    def _record(
        self, playbook: Playbook, entry: PlanEntry, step: Step, outcome: str, detail: str
    ) -> None:
        self.session.history.append(
            StepRecord(
                time=now(),
                playbook=playbook.id,
                sku_id=entry.sku_id,
                step=step.id,
                kind=step.kind,
                outcome=outcome,
                detail=detail,
            )
        )

    def _still_pending(self) -> bool:
        return any(e.status == "pending" for e in self.session.plan[self.session.plan_index + 1 :])

    def _run_step(
        self, playbook: Playbook, step: Step, entry: PlanEntry, values: Mapping[str, str]
    ) -> tuple[str, str, str | None]:
        """(outcome, detail, branch target or None for the following step)."""
        key = AnswerKey(playbook.id, step.id, entry.sku_id)
        if step.kind != "action" and (step.admin_path or step.help or step.admin_steps):
            self.view.admin(
                step.admin_path, step.help, [render(s, values) for s in step.admin_steps]
            )
        if step.kind == "instruct":
            return self._manual_step(step, entry, key)
        if step.kind == "ask":
            choices = [(c.value, render(c.label, values)) for c in step.choices]
            found = self._answered_by_diagnosis(step, entry)
            if found is not None:
                self.view.result(None, f"from the diagnosis: {render(found.label, values)}")
                return self._remember(key, found.value), "from the diagnosis", found.next
            question = render(step.question or step.title, values)
            default = step.default if step.safe_default else None
            answer = self._remember(key, self.prompter.choose(key, question, choices, default))
            target = next(c.next for c in step.choices if c.value == answer)
            return answer, "", target
        if step.kind in ("check", "verify"):
            return self._check_step(step, entry, key, values)
        if step.kind == "action":
            return self._action_step(playbook, step, entry, key, values)
        if step.kind == "escalate":
            return self._escalate(step, entry, values)
        raise AssertionError(f"unknown step kind {step.kind}")  # the loader refuses these

    def _answered_by_diagnosis(self, step: Step, entry: PlanEntry) -> Choice | None:
        """The choice naming the finding this playbook is walked for. A plan chosen with
        --playbook names no finding of its own: then the operator answers."""
        if self.session.chosen:
            return None
        return next((c for c in step.choices if c.finding == entry.finding), None)

    def _manual_step(
        self, step: Step, entry: PlanEntry, key: AnswerKey
    ) -> tuple[str, str, str | None]:
        """An instruct step. One that waits (`confirm`) goes on only on the operator's word."""
        if not step.confirm:
            return "shown", "", step.next
        done = self.prompter.done(key, "Done?")
        if done is None and step.id == REPROCESS:
            # The last step: the order is reprocessed in the Admin after this run. Saying so
            # is all a script can do; it is not recorded as done.
            self.view.result(None, f"to do in the Admin (answer `{key.name}: yes` once done)")
            return "to do", "not confirmed by the operator", step.next
        if done is None:
            self.view.result(
                None,
                f"this step is done by hand: do it in the Admin as shown, then answer "
                f"`{key.name}: yes` in the file of --answers and resume with "
                f"order-assistant guide --resume {self.session.id} --answers FILE",
            )
            if not entry.outcome:
                entry.outcome = WAITING
            raise ManualStepPending(key)
        if not done:
            if step.id != REPROCESS and not entry.outcome:
                entry.outcome = WAITING
            raise Paused
        if entry.outcome == WAITING:
            entry.outcome = ""  # resumed: the operator has done it now
        self._remember(key, "yes")
        return "done", "the operator says it is done", step.next

    def _remember(self, key: AnswerKey, answer: str) -> str:
        self.session.answers[str(key)] = answer
        return answer

    # ---- check and verify -----------------------------------------------------------------

    def _check_step(
        self, step: Step, entry: PlanEntry, key: AnswerKey, values: Mapping[str, str]
    ) -> tuple[str, str, str | None]:
        assert step.check is not None
        if step.kind == "verify" and self.client is not None:
            self.client.forget()  # verify reads the live state, not this run's cache
        observed = self._observe(step.check, entry)
        if observed is not None and observed.outcome in ("pass", "fail"):
            passed = observed.outcome == "pass"
            detail = observed.detail
            self.view.result(passed, detail)
        else:
            if observed is not None:
                self.view.result(None, f"could not check: {observed.detail}")
            question = render(step.question or step.title, values)
            passed = self._remember(key, self.prompter.choose(key, question, YES_NO)) == "yes"
            detail = f"the operator answered {'yes' if passed else 'no'}"
            self.view.result(passed, f"you answered {'yes' if passed else 'no'}")
            sku = entry.sku_id if self._scope(step.check) == "sku" else None
            self.session.record_check_answer(step.check, sku, passed)
        if step.kind == "verify":
            entry.outcome = FIXED if passed else NOT_FIXED
            if passed and entry.outcome == FIXED and self._untouched(entry):
                entry.outcome = UNCHANGED
        elif passed and not entry.outcome:
            # The link this playbook fixes is not broken (any more).
            entry.outcome = RULED_OUT if step.on_pass == END else UNCHANGED
        return ("pass" if passed else "fail"), detail, step.on_pass if passed else step.on_fail

    def _untouched(self, entry: PlanEntry) -> bool:
        """Whether every action of this walk found the state already right."""
        actions = [
            r
            for r in self.session.history
            if r.playbook == entry.playbook and r.sku_id == entry.sku_id and r.kind == "action"
        ]
        return bool(actions) and all(r.outcome == "unchanged" for r in actions)

    def _scope(self, check: str) -> str:
        spec = self.diagnoser.rulebook.checks.get(check)
        return spec.scope if spec else "order"

    def _observe(self, check: str, entry: PlanEntry) -> CheckResult | None:
        if self.client is None:
            return None
        checker = self._checker()
        results = checker.run([check], {check: self._scope(check)})
        for result in results:
            if result.sku_id == entry.sku_id or result.sku_id is None:
                return result
        return results[0] if results else None

    def _checker(self) -> Checker:
        params = self.diagnoser.classify(self.session.order.error_message).params
        return Checker(self.session.order, self.client, params=params, workers=4)

    # ---- actions --------------------------------------------------------------------------

    def _action_step(
        self,
        playbook: Playbook,
        step: Step,
        entry: PlanEntry,
        key: AnswerKey,
        values: Mapping[str, str],
    ) -> tuple[str, str, str | None]:
        assert step.action is not None
        manual = [render(s, values) for s in step.admin_steps]
        plan = self._try_plan(step, entry, values, manual)
        if isinstance(plan, tuple):
            return plan
        if plan is not None and plan.request is None:
            self.view.result(True, f"{plan.state}: nothing to write")
            return "unchanged", plan.state, step.next
        request = plan.request if plan is not None else describe_offline(step.action, values)
        assert request is not None
        if not self.apply or plan is None:
            self.view.request(request, dry_run=True)
            self.view.admin(step.admin_path, step.help, manual)
            self._audit(playbook, step, request, "dry-run")
            return self._by_hand(step, entry, key.by_hand(), "dry-run", request)
        self.view.request(request, dry_run=False)
        if not self.prompter.confirm(key, f"Send {request.method} {request.path}?"):
            self._audit(playbook, step, request, "declined")
            self.view.result(None, "not sent; to do it by hand instead:")
            self.view.admin(step.admin_path, step.help, manual)
            return self._by_hand(step, entry, key.by_hand(), "declined", request)
        # Read the record again now that the operator has said yes: what was shown before the
        # prompt may be stale (a colleague in the Admin, a minute of reading), and a PUT of a
        # stale record would undo their changes.
        fresh = self._try_plan(step, entry, values, manual)
        if isinstance(fresh, tuple):
            return fresh
        assert fresh is not None  # online: there is a client
        if fresh.request is None:
            self.view.result(True, f"{fresh.state} (read again before writing): nothing to write")
            return "unchanged", fresh.state, step.next
        if fresh.request != request:
            self.view.result(None, "the record changed since it was shown; sending it as read now")
            self.view.request(fresh.request, dry_run=False)
        plan, request = fresh, fresh.request
        try:
            plan.send()
        except KeyboardInterrupt:
            # Ctrl-C while the request was out: VTEX may have applied it. Say so in the audit
            # log before the session is saved as interrupted.
            self._audit(
                playbook, step, request, "interrupted", "may have been applied; re-read first"
            )
            raise
        except (VtexApiError, ValueError) as exc:
            message = exc.message if isinstance(exc, VtexApiError) else str(exc)
            message = self.client.redact(message) if self.client else message
            self._audit(playbook, step, request, "failed", message)
            self.view.result(
                False, f"the write failed: {message}. Nothing more is sent for this fix."
            )
            self.view.admin(step.admin_path, step.help, manual)
            entry.outcome = WRITE_FAILED
            return "failed", message, END
        self._audit(playbook, step, request, "written")
        self.view.result(True, f"sent: {request.method} {request.path}")
        return "written", request.summary, step.next

    def _try_plan(
        self, step: Step, entry: PlanEntry, values: Mapping[str, str], manual: Sequence[str]
    ) -> FixPlan | tuple[str, str, str | None] | None:
        """The live plan (None offline), or the step's result when it cannot be planned."""
        assert step.action is not None
        try:
            return self._plan_fix(step.action, values, entry)
        except (VtexApiError, LookupError, ValueError) as exc:
            text = exc.message if isinstance(exc, VtexApiError) else str(exc)
            if self.client is not None:
                text = self.client.redact(text)
            self.view.result(False, f"could not plan the fix: {text}")
            self.view.admin(step.admin_path, step.help, manual)
            entry.outcome = NOT_FIXED
            return "failed", text, END

    def _by_hand(
        self, step: Step, entry: PlanEntry, key: AnswerKey, outcome: str, request: WriteRequest
    ) -> tuple[str, str, str | None]:
        """After a request that was not sent: go on (to verify) only if the operator made the
        change by hand; a run without anyone to ask stops this playbook, the cause still open."""
        answer = self.prompter.maybe_choose(key, MANUAL_QUESTION, YES_NO)
        if answer == "yes":
            self._remember(key, answer)
            return "done by hand", request.summary, step.next
        entry.outcome = NOT_SENT
        hint = "" if answer == "no" else f"; made by hand? answer `{key.name}: yes`"
        self.view.result(None, f"nothing was changed: the cause remains{hint}")
        return outcome, request.summary, END

    def _plan_fix(self, action: str, values: Mapping[str, str], entry: PlanEntry) -> FixPlan | None:
        """The live plan online; None offline (only a description can be given)."""
        if self.client is None:
            return None
        if entry.sku_id is None:
            raise LookupError("the order context names no SKU")
        self.client.forget()  # re-read right before writing: idempotence needs the live state
        if action == "activate_sku":
            sku_id = values.get("vtex_sku_id")
            if not sku_id:
                raise LookupError("the SKU is not in the catalog: there is nothing to activate")
            return plan_activate_sku(self.client, sku_id)
        product_id, trade_policy_id = values.get("product_id"), values.get("trade_policy_id")
        if not product_id or not trade_policy_id:
            raise LookupError("the SKU's product or Amazon's trade policy is unknown")
        return plan_link(self.client, product_id, trade_policy_id)

    def _audit(
        self, playbook: Playbook, step: Step, request: WriteRequest, outcome: str, detail: str = ""
    ) -> None:
        self.store.audit(
            AuditEntry(
                time=now(),
                session=self.session.id,
                order=self.session.order.order_id,
                playbook=playbook.id,
                step=step.id,
                method=request.method,
                path=request.path,
                outcome=outcome,
                detail=detail,
            )
        )

    # ---- escalate -------------------------------------------------------------------------

    def _escalate(
        self, step: Step, entry: PlanEntry, values: Mapping[str, str]
    ) -> tuple[str, str, str | None]:
        assert step.to is not None
        if self.client is not None:
            self.client.forget()  # the evidence as it stands now, after this walk's fixes
        diagnosis = self.diagnoser.diagnose(
            self.session.order, self.client, answers=self.session.answer_map()
        )
        confirmed = sorted(
            {f.code for f in diagnosis.findings if f.owner == "store" and f.status == "confirmed"}
        )
        if confirmed:
            # Amazon or VTEX would only send the case back: the store's own evidence shows a
            # cause the store can fix.
            reason = f"store-side cause confirmed: {', '.join(confirmed)}"
            self.view.result(
                False,
                f"no case draft for {AUDIENCE[step.to]}: the checks show a {reason}. "
                "Fix it first (see `order-assistant diagnose`), then reprocess the order.",
            )
            entry.outcome = NOT_ESCALATED
            return "not escalated", reason, END
        vtex_ids = {}
        checker = self._checker()
        for index, item in enumerate(self.session.order.items):
            sku = checker.resolve_sku(index)
            if sku is not None:
                vtex_ids[item.sku_id] = sku.Id
            elif self.client is None and is_vtex_sku_id(item.sku_id):
                vtex_ids[item.sku_id] = f"{item.sku_id} (not checked: no API access)"
            elif any(c.sku_id == item.sku_id and c.outcome == "error" for c in diagnosis.checks):
                vtex_ids[item.sku_id] = "could not be checked (VTEX API error)"
        markdown = case_draft(
            CaseInput(
                to=step.to,
                context=self.session.order,
                diagnosis=diagnosis,
                vtex_sku_ids=vtex_ids,
                operator_answers=[
                    (a.check, a.sku_id, a.passes) for a in self.session.check_answers
                ],
                rulebook=self.diagnoser.rulebook,
                trade_policy_id=values.get("trade_policy_id"),
            )
        )
        if self.client is not None:
            markdown = self.client.redact(markdown)
        path = self.store.save_case(self.session.id, step.to, markdown)
        if str(path) not in self.session.cases:
            self.session.cases.append(str(path))
        self.view.case(markdown, str(path))
        entry.outcome = ESCALATED
        return "case draft", str(path), step.next

    # ---- the plan as answers come in ------------------------------------------------------

    def _replan(self) -> None:
        """Re-run the rules with the operator's answers: causes they rule out leave the plan,
        causes they reveal join it."""
        if not self.session.check_answers or self.session.chosen:
            return
        diagnosis = self.diagnoser.diagnose(
            self.session.order, self.client, answers=self.session.answer_map()
        )
        wanted = self.plan_for(diagnosis)
        keys = {(e.playbook, e.sku_id) for e in wanted}
        for entry in self.session.plan[self.session.plan_index + 1 :]:
            if entry.status == "pending" and (entry.playbook, entry.sku_id) not in keys:
                entry.status = "ruled_out"
                entry.outcome = RULED_OUT
                self.view.result(
                    None,
                    f"{entry.playbook}{f' (SKU {entry.sku_id})' if entry.sku_id else ''}: "
                    "ruled out by your answers",
                )
        known = {(e.playbook, e.sku_id) for e in self.session.plan}
        for entry in wanted:
            if (entry.playbook, entry.sku_id) not in known:
                self.session.plan.append(entry)

    # ---- placeholder values ---------------------------------------------------------------

    def _values(self, entry: PlanEntry) -> dict[str, str]:
        context = self.session.order
        classification = self.diagnoser.classify(context.error_message)
        values = {
            "order_id": context.order_id,
            "error_message": context.error_message,
            "affiliate_id": context.affiliate_id or "",
            "postal_code": context.postal_code or "",
            "country": context.country or "",
            "account": self.account or "",
            **{k: v for k, v in classification.params.items() if k in ("seller", "sales_channel")},
        }
        checker = self._checker()
        values["trade_policy_id"] = checker.trade_policy_id() or ""
        index = next(
            (i for i, item in enumerate(context.items) if item.sku_id == entry.sku_id), None
        )
        if index is None and context.items:
            # An order-level playbook (e.g. shipping coverage) speaks of all the order's SKUs.
            values["sku_id"] = ", ".join(item.sku_id for item in context.items)
            values["quantity"] = ", ".join(str(item.quantity) for item in context.items)
        if index is not None:
            item = context.items[index]
            values["sku_id"] = item.sku_id
            values["quantity"] = str(item.quantity)
            sku = checker.resolve_sku(index)
            if sku is not None:
                values["vtex_sku_id"] = sku.Id
                values["product_id"] = sku.ProductId
            elif is_vtex_sku_id(item.sku_id):
                # Not resolved (offline, or the lookup failed): Amazon's id is a VTEX id.
                values["vtex_sku_id"] = item.sku_id
        return {k: v for k, v in values.items() if v}


def _answer_choices(step: Step, by_hand: bool) -> Choices:
    """What an answer to this step may be: its choices, or yes/no."""
    if step.kind == "ask" and not by_hand:
        return [(c.value, c.label) for c in step.choices]
    return YES_NO


def _answerable(step: Step, by_hand: bool) -> bool:
    if by_hand:
        return step.kind == "action"
    return step.kind in ("check", "verify", "ask", "action") or step.confirm


def load_answers(path: str, playbooks: Mapping[str, Playbook]) -> dict[str, str]:
    """The `--answers` file: a YAML or JSON mapping of step keys to answers. Every key must
    name a step that takes an answer and every value must be one it accepts, so that a typo is
    reported before anything runs instead of when (or never) its step is reached."""
    from assistant.errors import InputError
    from assistant.intake import read_document

    document = read_document(path, None)
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise InputError(path, "must be a mapping of step ids to answers (e.g. check-active: yes)")
    answers: dict[str, str] = {}
    for key, value in document.items():
        if not isinstance(key, str):
            raise InputError(path, "keys must be step ids", field=repr(key))
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, str | int):
            text = str(value)
        else:
            raise InputError(path, "the answer must be a word such as yes, no or a choice", key)
        for step, by_hand in _steps_named(key, playbooks, path):
            parse_choice(text, _answer_choices(step, by_hand), f"{path}: {key}")
        answers[key] = text
    return answers


def _steps_named(key: str, playbooks: Mapping[str, Playbook], path: str) -> list[tuple[Step, bool]]:
    """The steps an answers-file key names (STEP, PLAYBOOK.STEP, either with @SKU; a STEP may
    end in -by-hand for the question after a fix that was not sent)."""
    from assistant.errors import InputError

    name = key.split("@", 1)[0]
    playbook_id, _, step_id = name.rpartition(".")
    by_hand = step_id.endswith(BY_HAND)
    if by_hand:
        step_id = step_id.removesuffix(BY_HAND)
    found = [
        (step, by_hand)
        for playbook in playbooks.values()
        if not playbook_id or playbook.id == playbook_id
        for step in playbook.steps
        if step.id == step_id and _answerable(step, by_hand)
    ]
    if not found:
        raise InputError(
            path,
            "names no step that takes an answer (keys are STEP, PLAYBOOK.STEP or "
            f'PLAYBOOK.STEP@SKU, and ACTION-STEP{BY_HAND} for "{MANUAL_QUESTION}"; see '
            "`order-assistant playbooks show ID`)",
            field=key,
        )
    return found
