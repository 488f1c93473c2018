"""The verdict on a diagnosis and the exit codes of every command that gives one.

Two questions, one policy:
- `diagnose` asks "is it diagnosed?": 0, or 3 when the message is unknown or a check the
  answer depends on could not run (`diagnosis_exit_code`).
- `verify`, `triage`, `plan apply`'s re-verify and the guide's close ask "does the store side
  still block the order?": the verdict of `judge`, 0 clean, 1 action needed, 3 undecided
  (`VERDICT_EXIT_CODES`); over many orders the worst verdict wins, undecided before action
  needed (`batch_exit_code`), and bad input rows before both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from assistant.errors import EXIT_ACTION_NEEDED, EXIT_OK, EXIT_UNDECIDED, EXIT_USAGE
from assistant.models import Diagnosis, Verdict, VerifyReport

VERDICT_EXIT_CODES: Mapping[Verdict, int] = {
    "clean": EXIT_OK,
    "action_needed": EXIT_ACTION_NEEDED,
    "undecided": EXIT_UNDECIDED,
}


def judge(diagnosis: Diagnosis) -> tuple[Verdict, str]:
    """Whether the store side still blocks the order, and why, from the findings alone.

    A store-owned finding that a check confirmed needs action. One that stays suspected or
    only reported (its check could not run, or no API can check it) leaves the answer open.
    Otherwise nothing on the store side blocks the order: it was fixed (reprocess it) or the
    fault is Amazon's or VTEX's (the findings say which).
    """
    if not diagnosis.recognised:
        return "undecided", "the error message is not one the assistant knows"
    store = [f for f in diagnosis.findings if f.owner == "store"]
    confirmed = sorted({f.code for f in store if f.status == "confirmed"})
    if confirmed:
        return "action_needed", f"store-side cause confirmed: {', '.join(confirmed)}"
    open_causes = sorted({f.code for f in store})
    if open_causes:
        errored = [c.name for c in diagnosis.checks if c.outcome == "error"]
        why = f"; checks that could not run: {', '.join(sorted(set(errored)))}" if errored else ""
        return "undecided", f"store-side cause not checked: {', '.join(open_causes)}{why}"
    unchecked = sorted({c.name for c in diagnosis.checks if c.outcome in ("error", "skipped")})
    if unchecked:
        # No cause found, but not everything could be looked at: never call that clean.
        return "undecided", f"checks that could not run: {', '.join(unchecked)}"
    failed = sorted({c.name for c in diagnosis.checks if c.outcome == "fail"})
    if failed and not diagnosis.findings:
        # A failed check that no rule explains (a user's ruleset, say) is never "clean".
        return "undecided", f"checks failed with no cause named: {', '.join(failed)}"
    if diagnosis.findings and not any(f.status == "confirmed" for f in diagnosis.findings):
        # Amazon's or VTEX support's cause, named by the message but proved by nothing: the
        # store side was not observed clean either.
        named = ", ".join(sorted({f.code for f in diagnosis.findings}))
        return "undecided", f"not confirmed by any check: {named}"
    owners = {f.owner for f in diagnosis.findings if f.status == "confirmed"}
    if "amazon" in owners:
        return "clean", "the store side is clean: the fault is Amazon's (contact Amazon)"
    if "vtex_support" in owners:
        return "clean", "the store side is clean: open a VTEX support ticket with the evidence"
    if diagnosis.checks:
        return (
            "clean",
            "every check passes: nothing on the store side blocks the order; reprocess it",
        )
    return "clean", "nothing on the store side is known to block the order"


def diagnosis_exit_code(diagnosis: Diagnosis) -> int:
    """0 when diagnosed; 3 when the message is unknown, or a check that the answer depends on
    could not run: an API error with no confirmed cause, or beside an unconfirmed one."""
    if not diagnosis.recognised:
        return EXIT_UNDECIDED
    if any(check.outcome == "error" for check in diagnosis.checks) and (
        not any(f.status == "confirmed" for f in diagnosis.findings)
        or any(f.status != "confirmed" for f in diagnosis.findings)
    ):
        return EXIT_UNDECIDED
    return EXIT_OK


def batch_exit_code(verdicts: Iterable[Verdict], *, bad_input: bool = False) -> int:
    """Many orders' verdicts as one exit code: bad input rows first (the input needs fixing),
    then any undecided order, then any with a store-side cause; 0 when every one is clean."""
    if bad_input:
        return EXIT_USAGE
    return max((VERDICT_EXIT_CODES[v] for v in verdicts), key=_SEVERITY.index, default=EXIT_OK)


# Exit codes from the mildest to the gravest: undecided outranks action needed.
_SEVERITY = (EXIT_OK, EXIT_ACTION_NEEDED, EXIT_UNDECIDED)


def verify_report(diagnosis: Diagnosis) -> VerifyReport:
    """`verify`'s document: the diagnosis with its verdict and the reason for it."""
    verdict, reason = judge(diagnosis)
    clean = {"clean": True, "action_needed": False, "undecided": None}[verdict]
    # dict(), not model_dump(): the dump would drop the renderers' fields.
    return VerifyReport(**dict(diagnosis), verdict=verdict, store_side_clean=clean, reason=reason)
