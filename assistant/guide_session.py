"""How `guide` starts a walk: a new session or a saved one resumed, the session's lock, the
answers given ahead of time, and who answers the questions (a terminal or the answers file).

The command line parses the options and renders; the policy lives here, in one place. Nothing
here prints: store warnings go to the `warn` callback the CLI passes in.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from assistant.diagnose import Diagnoser
    from assistant.guide import AnswerBook, Prompter
    from assistant.models import OrderContext
    from assistant.playbook import Playbook
    from assistant.sessions import Session, SessionStore
    from assistant.vtex import VtexClient
    from assistant.vtex.deadline import Deadline

Warn = Callable[["SessionStore"], None]


def refuse_resume_with_order(
    resume: str | None, order_given: bool, playbook_ids: Sequence[str]
) -> None:
    """A resumed session walks its own order and plan: an order or --playbook would be ignored."""
    if resume is not None and (order_given or playbook_ids):
        raise UsageError(
            "--resume continues a saved session: give no order, order flags or --playbook"
        )


def resume_session(store: SessionStore, session_id: str, held: ExitStack, warn: Warn) -> Session:
    """The saved session, locked for this run (`held` releases the lock)."""
    held.enter_context(store.lock(session_id))  # before reading: the other run may save
    warn(store)
    return store.load(session_id)


def start_session(
    context: OrderContext,
    diagnoser: Diagnoser,
    client: VtexClient | None,
    playbooks: Mapping[str, Playbook],
    playbook_ids: Sequence[str],
    store: SessionStore,
    held: ExitStack,
    warn: Warn,
) -> Session:
    """A new session for the order: the diagnosis's playbooks, or those of --playbook."""
    from assistant.guide import Guide

    chosen = None
    if playbook_ids:
        unknown = [p for p in playbook_ids if p not in playbooks]
        if unknown:
            raise UsageError(f"unknown playbook {unknown[0]!r}; known: {', '.join(playbooks)}")
        chosen = Guide.chosen_plan(
            context, [playbooks[p] for p in playbook_ids], diagnoser.rulebook
        )
    session = Guide.new_session(context, diagnoser.diagnose(context, client), chosen)
    held.enter_context(store.lock(session.id))
    warn(store)
    return session


def refuse_apply_offline(apply: bool, client: VtexClient | None) -> None:
    if apply and client is None:
        raise UsageError(
            "--apply needs VTEX credentials (VTEX_ACCOUNT, VTEX_APP_KEY, VTEX_APP_TOKEN); "
            "without them the fixes can only be shown (dry-run)"
        )


def answer_book(answers: Path | None, playbooks: Mapping[str, Playbook], yes: bool) -> AnswerBook:
    """--answers (checked against the playbooks before anything runs) and --yes."""
    from assistant.guide import AnswerBook, load_answers

    return AnswerBook(
        load_answers(str(answers), playbooks) if answers else {},
        yes=yes,
        source=str(answers) if answers else "--answers",
    )


def choose_prompter(
    book: AnswerBook, console: Console, order: str | None, deadline: Deadline | None
) -> Prompter:
    """A terminal asks when there is one (and the order did not come on standard input);
    otherwise the answers file does. Online, the operator's thinking time is not VTEX's."""
    from assistant.guide import ScriptedPrompter

    interactive = (
        order != "-" and sys.stdin is not None and sys.stdin.isatty() and console.is_terminal
    )
    prompter: Prompter
    if interactive:
        from assistant.guide_view import TerminalPrompter

        prompter = TerminalPrompter(console, book)
    else:
        prompter = ScriptedPrompter(book)
    return prompter if deadline is None else PausingPrompter(prompter, deadline)


class PausingPrompter:
    """A guided session's prompter that stops the run's VTEX deadline while the operator
    answers: `--timeout` bounds the waits on VTEX, not the operator's thinking time. Every
    method of the Prompter protocol is the inner prompter's, run with the deadline paused."""

    def __init__(self, inner: Prompter, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method: Callable[..., Any] = getattr(self._inner, name)

        def paused(*args: Any, **kwargs: Any) -> Any:
            with self._deadline.paused():
                return method(*args, **kwargs)

        return paused
