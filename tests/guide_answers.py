"""Answers that walk a shipped playbook, written from the playbook itself (so tests follow the
playbooks as they change)."""

from __future__ import annotations

from assistant.playbook import END, Playbook


def walk_answers(
    playbook: Playbook, *, checks: str = "no", verifies: str = "yes"
) -> dict[str, str]:
    """Answers that walk a playbook to its end: its checks fail (so the fix is needed), its
    verifications pass, each question takes the first choice that does not end the walk, and
    the operator says each manual step is done (`--yes` never does)."""
    answers = {}
    for step in playbook.steps:
        key = f"{playbook.id}.{step.id}"
        if step.kind == "check":
            answers[key] = checks
        elif step.kind == "verify":
            answers[key] = verifies
        elif step.kind == "action":
            answers[f"{key}-by-hand"] = "yes"  # nothing is sent offline: done in the Admin
        elif step.kind == "ask":
            going_on = [c for c in step.choices if c.next != END]
            answers[key] = (going_on or list(step.choices))[0].value
        elif step.kind == "instruct" and step.confirm:
            answers[key] = "yes"
    return answers


def choice_answers(playbooks: dict[str, Playbook]) -> dict[str, str]:
    """Only the `ask` steps of every playbook (online, checks and fixes answer themselves;
    manual steps are left for the operator: `--yes` does not answer them)."""
    answers = {}
    for playbook in playbooks.values():
        walked = walk_answers(playbook)
        answers.update(
            {key: value for key, value in walked.items() if key.split(".")[1] in _asks(playbook)}
        )
    return answers


def _asks(playbook: Playbook) -> set[str]:
    return {step.id for step in playbook.steps if step.kind == "ask"}
