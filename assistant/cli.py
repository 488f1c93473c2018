"""The command line: parse, call, render. No diagnosis logic lives here.

Imports of the heavier modules (pydantic models, the engine, rich) happen inside the commands,
so `--help`, `--version` and shell completion start fast.
"""

import functools
import inspect
import sys
import typing
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, NoReturn

import typer

from assistant import __version__
from assistant.errors import EXIT_ACTION_NEEDED, EXIT_UNDECIDED, EXIT_USAGE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from assistant.diagnose import Diagnoser
    from assistant.errors import Problem
    from assistant.fixplan import Plan, PlanBuilder
    from assistant.formats import OutputFormat, TextFormat
    from assistant.intake import FlagValues
    from assistant.models import Diagnosis, OrderContext
    from assistant.sessions import SessionStore
    from assistant.vtex import VtexClient

app = typer.Typer(
    name="order-assistant",
    help="Diagnose a failed Amazon order on VTEX and walk through the fix.",
    no_args_is_help=True,
    # Our errors print one line; a pretty traceback could show local variables.
    pretty_exceptions_enable=False,
    # Plain help: typer's rich help formatter alone costs more start-up time than typer itself.
    rich_markup_mode=None,
)
rules_app = typer.Typer(
    help="Inspect and lint the declarative rulesets.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(rules_app, name="rules")


def _path_option(flag: str, help: str, *, folder: bool = False) -> Any:
    """An option naming a file (or a folder), with no default to show."""
    return typer.Option(flag, help=help, file_okay=not folder, dir_okay=folder, show_default=False)


def _folder_argument(help: str) -> Any:
    """The folder `rules validate` and `playbooks validate` check (default: the shipped one)."""
    return typer.Argument(help=help, show_default=False)


RulesDirs = Annotated[
    list[Path] | None,
    _path_option("--rules-dir", "Extra folder of ruleset YAML files (repeatable).", folder=True),
]
PlaybooksDirs = Annotated[
    list[Path] | None,
    _path_option(
        "--playbooks-dir",
        "Extra folder of playbook YAML files (repeatable); replaces shipped ones by id.",
        folder=True,
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"order-assistant {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Diagnose a failed Amazon order on VTEX and walk through the fix."""


def _stderr() -> "Console":
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _output(json_output: bool) -> "OutputFormat":
    """The format for the command's result (imported here: --help never needs it)."""
    from assistant.formats import select

    return select(json_output)


def _text() -> "TextFormat":
    from assistant.formats import TextFormat

    return TextFormat()


def _fail(message: str, code: int) -> NoReturn:
    _say("[bold red]error:[/]", message)
    raise typer.Exit(code)


def _say(label: str, message: str) -> None:
    """One line on stderr: the message as plain text (no markup, no emoji codes, control
    characters escaped, since file names and ids come from the user), never wrapped."""
    from rich.markup import escape

    from assistant.safetext import printable

    text = escape(printable(message, limit=None))
    _stderr().print(f"{label} {text}" if label else text, soft_wrap=True, emoji=False)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Map our exception tree to messages and exit codes, in one place."""
    from assistant.errors import EXIT_INTERRUPTED, AssistantError, RulesetError

    try:
        yield
    except RulesetError as exc:
        for problem in exc.problems:  # one line each, as `rules validate` prints them
            _say("[bold red]error:[/]", str(problem))
        raise typer.Exit(exc.exit_code) from None
    except AssistantError as exc:
        _fail(exc.message, exc.exit_code)
    except KeyboardInterrupt:
        _stderr().print("stopped by user")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _problems_found(problems: "list[Problem]") -> NoReturn:
    """What `rules validate` and `playbooks validate` print: FILE: KEY: PROBLEM per line."""
    for problem in problems:
        _say("", str(problem))
    _stderr().print(f"[bold red]{len(problems)} problem(s) found[/]")
    raise typer.Exit(EXIT_USAGE)


def _diagnoser(rules_dirs: list[Path] | None, *, use_snapshot: bool = True) -> "Diagnoser":
    from assistant.diagnose import compile_rulebook

    return compile_rulebook(rules_dirs or [], use_snapshot=use_snapshot)


# Options shared by the commands that read one order context.
OrderArg = Annotated[
    str | None,
    typer.Argument(
        help="Order context file (JSON or YAML), or - to read standard input.", show_default=False
    ),
]
MessageOpt = Annotated[
    str | None,
    typer.Option("--message", "-m", help="The error text exactly as the Admin shows it."),
]
SkuOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sku",
        help="SKU id as Amazon sent it, optionally with a quantity: ID or ID:QTY (repeatable).",
    ),
]
OrderIdOpt = Annotated[str | None, typer.Option("--order-id", help="Amazon order id.")]
PostalCodeOpt = Annotated[str | None, typer.Option("--postal-code")]
SalesChannelOpt = Annotated[
    str | None, typer.Option("--sales-channel", help="Amazon's trade policy id.")
]
AffiliateOpt = Annotated[
    str | None,
    typer.Option(
        "--affiliate-id", help="Amazon's affiliate id in OMS (gives its trade policy online)."
    ),
]
CountryOpt = Annotated[str | None, typer.Option("--country", help="ISO alpha-3, e.g. BRA.")]
OnlineOpt = Annotated[
    bool | None,
    typer.Option(
        "--online/--offline",
        help="Check with VTEX's read-only APIs. Default: online when VTEX credentials are set.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
RecordOpt = Annotated[
    Path | None,
    _path_option("--record", "Save every VTEX exchange of this run to FILE (secrets left out)."),
]
ReplayOpt = Annotated[
    Path | None,
    _path_option("--replay", "Answer VTEX calls from a recording instead of the network."),
]

# typer's help shows the defaults of assistant.vtex.deadline (not imported here: start-up time).
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0.1,
        max=86400,
        help="Seconds this run may spend on VTEX calls in all (default 120; triage 900). "
        "When they run out, the lookups not done are errors (exit 3); what was checked is kept.",
        show_default=False,
    ),
]


class OrderInput(NamedTuple):
    """What a one-order command is told about the order: a file (or - for standard input) and
    the flags that give or override its fields. diagnose, verify and guide share them
    (`_option_groups`)."""

    order: OrderArg = None
    message: MessageOpt = None
    sku: SkuOpt = None
    order_id: OrderIdOpt = None
    postal_code: PostalCodeOpt = None
    sales_channel: SalesChannelOpt = None
    affiliate_id: AffiliateOpt = None
    country: CountryOpt = None

    @property
    def path(self) -> Path | None:
        """The order file, when the order comes from one (not from flags or standard input)."""
        return _input_path(self.order)

    def flags(self) -> "FlagValues":
        from assistant.intake import FlagValues

        return FlagValues(
            message=self.message,
            skus=self.sku or [],
            order_id=self.order_id,
            postal_code=self.postal_code,
            sales_channel=self.sales_channel,
            affiliate_id=self.affiliate_id,
            country=self.country,
        )

    def given(self) -> bool:
        return self.order is not None or self.flags().given()

    def read(self) -> "OrderContext":
        from assistant.intake import load_context

        if not self.given():
            _fail(
                "give an order file, - for standard input, or --message and --order-id "
                "(see --help)",
                EXIT_USAGE,
            )
        # sys.stdin is None when the process was started with standard input closed.
        stdin = sys.stdin.buffer if self.order == "-" and sys.stdin is not None else None
        intake = load_context(self.order, self.flags(), stdin=stdin)
        for warning in intake.warnings:  # rich stays unimported on the quiet --json path
            _say("[yellow]warning:[/]", warning)
        return intake.context


class DiagnosisRun(NamedTuple):
    """How diagnose and verify run the checks and print the result."""

    record: RecordOpt = None
    replay: ReplayOpt = None
    timeout: TimeoutOpt = None
    json_output: JsonOpt = False
    rules_dir: RulesDirs = None


def _is_option_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, tuple)


def _option_groups(command: Callable[..., None]) -> Callable[..., None]:
    """typer takes one parameter per option. A parameter of `command` annotated with a
    NamedTuple of options (OrderInput, DiagnosisRun) is shown to typer as those options, in
    place, and `command` is called with them gathered back into that NamedTuple."""
    hints = typing.get_type_hints(command, include_extras=True)
    groups: dict[str, Any] = {}  # parameter name -> its NamedTuple class
    parameters: list[inspect.Parameter] = []
    for parameter in inspect.signature(command).parameters.values():
        group = hints[parameter.name]
        if not _is_option_group(group):
            parameters.append(parameter.replace(annotation=group))
            continue
        groups[parameter.name] = group
        fields = typing.get_type_hints(group, include_extras=True)
        parameters += [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=group._field_defaults[name],
                annotation=fields[name],
            )
            for name in group._fields
        ]
    # Keyword-only: typer passes every option by name, and their defaults may come in any order.
    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in parameters]

    @functools.wraps(command)
    def run(**options: Any) -> None:
        for name, group in groups.items():
            options[name] = group(*(options.pop(field) for field in group._fields))
        command(**options)

    # typer reads the options from the signature and the annotations.
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run


@contextmanager
def _vtex(
    wanted: bool | None,
    record: Path | None,
    replay: Path | None,
    inputs: "list[Path | None] | None" = None,
    timeout: float | None = None,
    *,
    default_timeout: float | None = None,
) -> "Iterator[VtexClient | None]":
    """The VTEX client when the run is online: --replay, --online, or credentials in the
    environment (unless --offline). A recording is saved when the run ends, even on failure;
    one that would overwrite an input (`inputs`, the replayed file) or a link is refused first.
    The client's deadline (`--timeout`) starts now."""
    import os

    if record is not None:
        from assistant.outfiles import check_output

        check_output(record, [*(inputs or []), replay], "the recording")

    if wanted is False and (record or replay):
        _fail("--record and --replay need online checks; drop --offline", EXIT_USAGE)
    if replay is None and wanted is not True:
        from assistant.config import credentials_configured

        if wanted is False or not credentials_configured(os.environ):
            if record is not None:
                _fail(
                    "--record needs VTEX credentials (VTEX_ACCOUNT, VTEX_APP_KEY, VTEX_APP_TOKEN)",
                    2,
                )
            yield None
            return
    from assistant.vtex.deadline import DEFAULT_RUN_SECONDS, Deadline
    from assistant.vtex.recording import open_client

    deadline = Deadline(timeout or default_timeout or DEFAULT_RUN_SECONDS)
    client, recorder = open_client(os.environ, record=record, replay=replay, deadline=deadline)
    try:
        with client:
            yield client
    finally:
        if recorder is not None and record is not None:
            recorder.save(record)
            _say("", f"recorded {len(recorder.exchanges)} VTEX exchange(s) to {record}")


@app.command()
@_option_groups
def diagnose(order: OrderInput, online: OnlineOpt = None, *, run: DiagnosisRun) -> None:
    """Classify the error, check the causes, conclude the root causes and print the next steps.

    Exit codes: 0 diagnosed, 2 bad input, 3 unrecognized message or a check the answer depends
    on could not run.
    """
    from assistant.verdict import diagnosis_exit_code

    with _user_errors():
        diagnosis = _diagnosed(order, online, run)
        _output(run.json_output).diagnosis(diagnosis)
    raise typer.Exit(diagnosis_exit_code(diagnosis))


@app.command()
@_option_groups
def verify(order: OrderInput, *, run: DiagnosisRun) -> None:
    """Run the online checks only (no prompts) and say whether the store side is clean.

    Exit codes: 0 nothing on the store side blocks the order (fixed: reprocess it; or the
    fault is Amazon's), 1 a store-side cause remains, 2 bad input or no credentials, 3 could
    not decide.
    """
    from assistant.verdict import VERDICT_EXIT_CODES, verify_report

    with _user_errors():
        report = verify_report(_diagnosed(order, True, run))
        _output(run.json_output).verify(report)
    raise typer.Exit(VERDICT_EXIT_CODES[report.verdict])


def _diagnosed(order: OrderInput, online: bool | None, run: DiagnosisRun) -> "Diagnosis":
    """What diagnose and verify share: read the order, load the rules, run the checks."""
    context = order.read()
    diagnoser = _diagnoser(run.rules_dir)
    with _vtex(online, run.record, run.replay, [order.path], run.timeout) as client:
        return diagnoser.diagnose(context, client)


@app.command()
def triage(
    file: Annotated[
        Path,
        typer.Argument(
            help="Export of failed orders: CSV, JSON Lines (.jsonl) or Excel (.xlsx).",
            dir_okay=False,
            show_default=False,
        ),
    ],
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="Map a field to your export's header: FIELD=HEADER (repeatable).",
            show_default=False,
        ),
    ] = None,
    online: OnlineOpt = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=32, help="Orders checked at a time online.")
    ] = 8,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="One JSON document on stdout: orders, bad_rows and summary."),
    ] = False,
    csv_out: Annotated[
        Path | None,
        _path_option(
            "--csv",
            "Also write one row per order and finding to this CSV file. A cell that a "
            "spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage "
            "return) is written with a leading ' so it shows as text (OWASP CSV injection). "
            "Refused if it is the input file or a symbolic link.",
        ),
    ] = None,
    plan: Annotated[
        Path | None,
        _path_option(
            "--plan",
            "Also write a fix plan to this JSON file (online): each API fix once, with the "
            "orders it unblocks, and what stays manual. Review it with `plan show`.",
        ),
    ] = None,
    timeout: TimeoutOpt = None,
    rules_dir: RulesDirs = None,
) -> None:
    """Diagnose a backlog of failed orders at once and say what blocks how many.

    Exit codes: 0 nothing on the store side blocks any order, 1 a store-side cause remains,
    2 bad input (some rows were bad: reported and skipped), 3 some orders could not be decided,
    130 interrupted (the partial summary is printed; no plan is written).
    """
    from assistant.errors import EXIT_INTERRUPTED
    from assistant.report import TriageWriter
    from assistant.triage import (
        Summary,
        finished_after_interrupt,
        parse_column_mapping,
        read_orders,
    )
    from assistant.triage import triage as run_triage
    from assistant.vtex.deadline import DEFAULT_TRIAGE_SECONDS

    summary = Summary()
    with _user_errors():
        columns = parse_column_mapping(column or [])
        from assistant.outfiles import check_output

        if csv_out is not None:
            check_output(csv_out, [file], "the CSV report")
        if plan is not None:
            # Refused before anything runs or is written: a plan needs VTEX, and its file
            # must not replace the export or the CSV report.
            check_output(plan, [file, csv_out], "the plan")
            _plan_needs_vtex(online)
        rows = read_orders(file, columns)
        diagnoser = _diagnoser(rules_dir)
        with (
            _vtex(
                online, None, None, timeout=timeout, default_timeout=DEFAULT_TRIAGE_SECONDS
            ) as client,
            TriageWriter(
                sys.stdout,
                _stderr(),
                summary,
                json_output=json_output,
                csv_path=csv_out,
                online=client is not None,
            ) as writer,
        ):
            builder = _plan_builder(plan, client, diagnoser, file)
            results = run_triage(rows, diagnoser, client, concurrency=concurrency)
            with _WholeResults() as whole:
                try:
                    for result in results:
                        whole.busy = True
                        summary.add(result)
                        writer.write(result)
                        if builder is not None:
                            builder.add(result)
                        whole.done()
                except KeyboardInterrupt:
                    summary.interrupted = True
                    # Ctrl-C may land here, between two results: what was checked is kept too.
                    for result in finished_after_interrupt(results):
                        summary.add(result)
                        writer.write(result)
            if client is not None and client.deadline.expired:
                _say(
                    "[yellow]warning:[/]",
                    f"{client.deadline.describe()}: the orders not checked by then are "
                    "undecided (error checks); triage them again",
                )
        if summary.interrupted:
            if plan is not None:
                _say("", "interrupted: no plan written (it would miss orders)")
            raise typer.Exit(EXIT_INTERRUPTED)
        if builder is not None and plan is not None:
            from assistant.fixplan import save_plan
            from assistant.plan_view import plan_headline

            fix_plan = builder.build()
            save_plan(fix_plan, plan)
            _say("", f"plan: {plan_headline(fix_plan)}; written to {plan}")
    raise typer.Exit(summary.exit_code())


def _plan_builder(
    plan: Path | None, client: "VtexClient | None", diagnoser: "Diagnoser", file: Path
) -> "PlanBuilder | None":
    if plan is None:
        return None
    if client is None:
        _fail(
            "--plan needs online checks: set VTEX_ACCOUNT, VTEX_APP_KEY and VTEX_APP_TOKEN",
            EXIT_USAGE,
        )
    from assistant.fixplan import PlanBuilder
    from assistant.playbook import load_playbooks

    playbooks = load_playbooks((), rulebook=diagnoser.rulebook)
    return PlanBuilder(client, playbooks, source=file.name)


def _plan_needs_vtex(online: bool | None) -> None:
    import os

    from assistant.config import credentials_configured

    if online is False:
        _fail(
            "--plan needs online checks (a plan rests on what VTEX says); drop --offline",
            EXIT_USAGE,
        )
    if not credentials_configured(os.environ):
        _fail(
            "--plan needs online checks: set VTEX_ACCOUNT, VTEX_APP_KEY and VTEX_APP_TOKEN",
            EXIT_USAGE,
        )


class _WholeResults:
    """Holds a Ctrl-C that arrives while one triage result is being counted and written until
    it is written whole (JSON entry and CSV rows), so the outputs and the summary never
    disagree about an order. Flags, not a context manager per result: this runs per order."""

    def __init__(self) -> None:
        self.busy = False
        self._pending = False
        self._installed = False

    def __enter__(self) -> "_WholeResults":
        import signal
        import threading

        # Only the main thread may set a handler; an ignored or custom SIGINT is left alone.
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            signal.signal(signal.SIGINT, self._interrupt)
            self._installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        import signal

        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def _interrupt(self, signum: int, frame: object) -> None:
        if self.busy:
            self._pending = True
            return
        raise KeyboardInterrupt

    def done(self) -> None:
        self.busy = False
        if self._pending:
            self._pending = False
            raise KeyboardInterrupt


@app.command()
@_option_groups
def guide(
    order: OrderInput,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Send the API fixes (activate a SKU, link a product to a trade policy), each "
            "after a confirmation. Without it, fixes are dry-run: the request is shown, not sent.",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Consent to every write, and take the defaults playbooks mark safe. Never "
            "marks a manual step done: answer those in --answers.",
        ),
    ] = False,
    answers: Annotated[
        Path | None,
        _path_option(
            "--answers",
            "YAML or JSON file of answers keyed by step id (STEP, PLAYBOOK.STEP or "
            "PLAYBOOK.STEP@SKU), for runs without a terminal.",
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume", help="Continue a saved session at the step it stopped at.", metavar="ID"
        ),
    ] = None,
    playbook: Annotated[
        list[str] | None,
        typer.Option(
            "--playbook",
            help="Walk this playbook (repeatable) instead of those the diagnosis names, e.g. "
            "for a cause only an online check finds.",
            metavar="ID",
            show_default=False,
        ),
    ] = None,
    online: OnlineOpt = None,
    timeout: TimeoutOpt = None,
    rules_dir: RulesDirs = None,
    playbooks_dir: PlaybooksDirs = None,
) -> None:
    """Walk the playbook(s) for the order's findings, step by step.

    In a terminal it asks; without one it reads --answers and --yes. Sessions are saved after
    every step under ORDER_ASSISTANT_STATE_DIR; writes and would-be writes go to its audit log.

    The exit code comes from the diagnosis run again after the walk: 0 no store-side cause
    remains, 1 one does (dry-run included), 2 bad input, 3 cannot tell or unrecognized message,
    4 an answer is needed and none can be asked, 130 interrupted (resume with --resume ID).
    """
    from assistant import guide_session as start
    from assistant.errors import EXIT_INPUT_NEEDED, EXIT_INTERRUPTED
    from assistant.guide import Guide, InputNeeded
    from assistant.guide_view import TerminalView
    from assistant.playbook import load_playbooks
    from assistant.sessions import SessionStore, state_dir

    with _user_errors(), ExitStack() as held:  # held: the session's lock, released on exit
        diagnoser = _diagnoser(rules_dir)
        playbooks = load_playbooks(playbooks_dir or [], rulebook=diagnoser.rulebook)
        store = SessionStore(state_dir())
        _refuse_state_over_inputs(store, [order.path, answers])
        start.refuse_resume_with_order(resume, order.given(), playbook or [])
        if resume is not None:
            session = start.resume_session(store, resume, held, _warn_skipped)
            if session.status == "done":
                _say("", f"session {session.id} is already finished; see `sessions show`")
                raise typer.Exit(0)
            context = session.order
        else:
            context = order.read()
        book = start.answer_book(answers, playbooks, yes)
        console = _stderr()
        import os

        with _vtex(online, None, None, timeout=timeout) as client:
            start.refuse_apply_offline(apply, client)
            deadline = client.deadline if client is not None else None
            prompter = start.choose_prompter(book, console, order.order, deadline)
            if resume is None:
                session = start.start_session(
                    context,
                    diagnoser,
                    client,
                    playbooks,
                    playbook or [],
                    store,
                    held,
                    _warn_skipped,
                )
            runner = Guide(
                diagnoser=diagnoser,
                playbooks=playbooks,
                client=client,
                prompter=prompter,
                view=TerminalView(console),
                store=store,
                session=session,
                apply=apply,
                account=os.environ.get("VTEX_ACCOUNT"),
            )
            try:
                code = runner.run()
            except KeyboardInterrupt:
                console.print()
                _say(
                    "[yellow]interrupted:[/]",
                    f"session saved; resume with: order-assistant guide --resume {session.id}",
                )
                raise typer.Exit(EXIT_INTERRUPTED) from None
            except InputNeeded as exc:
                _say("[bold red]input needed:[/]", exc.message)
                _say(
                    "",
                    f"session saved; resume with: order-assistant guide --resume {session.id} "
                    "--answers FILE",
                )
                raise typer.Exit(EXIT_INPUT_NEEDED) from None
    raise typer.Exit(code)


sessions_app = typer.Typer(
    help="Past guided sessions and their audit trail.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(sessions_app, name="sessions")


def _warn_skipped(store: "SessionStore") -> None:
    """Files the store skipped (unreadable, not UTF-8, not a session), one warning each."""
    for warning in store.warnings:
        _say("[yellow]warning:[/]", warning)
    store.warnings.clear()


def _input_path(order: str | None) -> Path | None:
    """The order file, when the order comes from one (not from flags or standard input)."""
    return Path(order) if order is not None and order != "-" else None


def _refuse_state_over_inputs(store: "SessionStore", inputs: "list[Path | None]") -> None:
    """The audit log and the session folder are written during the run: refuse, before
    anything is written, a state folder where they would overwrite an input or be links."""
    from assistant.outfiles import check_output

    check_output(store.audit_path, inputs, "the audit log")
    for folder in (store.root, store.sessions_dir, store.cases_dir):
        check_output(folder, [], "the state folder")


@sessions_app.command("list")
def sessions_list(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the guided sessions, newest first."""
    from assistant.sessions import SessionStore, state_dir

    with _user_errors():
        store = SessionStore(state_dir())
        sessions = store.sessions()
        _warn_skipped(store)
        _output(json_output).sessions(sessions)


@sessions_app.command("show")
def sessions_show(
    session_id: Annotated[str, typer.Argument(help="A session id, as in `sessions list`.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a session: the order, the plan, every step taken and its audit trail."""
    from assistant.sessions import SessionStore, state_dir

    with _user_errors():
        store = SessionStore(state_dir())
        session = store.load(session_id)
        audit = store.audit_entries(session.id)
        _warn_skipped(store)
        _output(json_output).session(session, audit)


@rules_app.command("list")
def rules_list(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    rules_dir: RulesDirs = None,
) -> None:
    """List the error types the assistant recognises."""
    with _user_errors():
        _output(json_output).rules(_diagnoser(rules_dir).rulebook)


@rules_app.command("show")
def rules_show(
    code: Annotated[str, typer.Argument(help="An error code, as in `rules list`.")],
    rules_dir: RulesDirs = None,
) -> None:
    """Show an error type: its message patterns, rules, findings and next steps."""
    with _user_errors():
        rulebook = _diagnoser(rules_dir).rulebook
        if code not in rulebook.errors:
            _fail(f"unknown error code {code!r}; known: {', '.join(rulebook.errors)}", EXIT_USAGE)
        _text().rule(rulebook, code)


@rules_app.command("validate")
def rules_validate(
    directory: Annotated[
        Path | None,
        _folder_argument("A folder of ruleset files to check together with the built-in ones."),
    ] = None,
) -> None:
    """Check ruleset files: YAML, keys, patterns, finding codes, and the engine's own verdict.

    Exit codes: 0 valid, 2 problems (each printed as FILE: KEY: PROBLEM).
    """
    from assistant.errors import RulesetError

    try:
        # The files themselves, not the snapshot of the shipped ones: this is the check.
        diagnoser = _diagnoser([directory] if directory else [], use_snapshot=False)
    except RulesetError as exc:
        _problems_found(exc.problems)
    rulebook = diagnoser.rulebook
    _text().line(
        f"valid: {len(rulebook.sources)} files, {len(rulebook.errors)} error types, "
        f"{len(rulebook.rules)} rules, {len(rulebook.findings)} findings"
    )


playbooks_app = typer.Typer(
    help="Inspect and lint the declarative playbooks.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(playbooks_app, name="playbooks")

if TYPE_CHECKING:
    from assistant.playbook import Playbook


def _playbooks(
    playbooks_dir: list[Path] | None, rules_dir: list[Path] | None
) -> "dict[str, Playbook]":
    from assistant.playbook import load_playbooks
    from assistant.rulesets import load_rulebook

    return load_playbooks(playbooks_dir or [], load_rulebook(rules_dir or []))


@playbooks_app.command("list")
def playbooks_list(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    playbooks_dir: PlaybooksDirs = None,
    rules_dir: RulesDirs = None,
) -> None:
    """List the playbooks: id, title, the findings each remedies, whether it fixes."""
    with _user_errors():
        _output(json_output).playbooks(_playbooks(playbooks_dir, rules_dir))


@playbooks_app.command("show")
def playbooks_show(
    playbook_id: Annotated[str, typer.Argument(help="A playbook id, as in `playbooks list`.")],
    playbooks_dir: PlaybooksDirs = None,
    rules_dir: RulesDirs = None,
) -> None:
    """Show a playbook's steps: kinds, checks, branches, Admin paths and links."""
    with _user_errors():
        playbooks = _playbooks(playbooks_dir, rules_dir)
        if playbook_id not in playbooks:
            _fail(
                f"unknown playbook {playbook_id!r}; known: {', '.join(sorted(playbooks))}",
                EXIT_USAGE,
            )
        _text().playbook(playbooks[playbook_id])


@playbooks_app.command("validate")
def playbooks_validate(
    directory: Annotated[
        Path | None,
        _folder_argument("A folder of playbook files to check (default: the shipped playbooks)."),
    ] = None,
    rules_dir: RulesDirs = None,
) -> None:
    """Check playbook files: YAML, keys, step kinds, checks, branches, placeholders, findings.

    Exit codes: 0 valid, 2 problems (each printed as FILE: KEY: PROBLEM).
    """
    from assistant.errors import RulesetError
    from assistant.playbook import load_playbooks, validate_playbook_dir
    from assistant.rulesets import load_rulebook

    try:
        rulebook = load_rulebook(rules_dir or [])
        if directory is None:
            count = len(load_playbooks((), rulebook))
        else:
            problems = validate_playbook_dir(directory, rulebook)
            if problems:
                raise RulesetError(problems)
            count = len([p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"}])
    except RulesetError as exc:
        _problems_found(exc.problems)
    _text().line(f"ok: {count} playbooks")


plan_app = typer.Typer(
    help="Review and apply a fix plan written by `triage --plan`.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(plan_app, name="plan")

PlanArg = Annotated[
    Path,
    typer.Argument(help="A fix plan written by `triage --plan`.", dir_okay=False),
]


@plan_app.command("show")
def plan_show(plan: PlanArg, json_output: JsonOpt = False) -> None:
    """What the plan will write, how many orders that unblocks, and what stays manual."""
    from assistant.fixplan import load_plan

    with _user_errors():
        _output(json_output).plan(load_plan(plan))


@plan_app.command("apply")
def plan_apply(
    plan: PlanArg,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Send the writes (one confirmation for the whole plan). Without it, a dry-run: "
            "each record is re-read and what would be sent is shown; nothing is written.",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Confirm the whole plan without asking.")
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", min=1, max=32, help="Orders re-verified at a time."),
    ] = 8,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result document on stdout.")
    ] = False,
    rules_dir: RulesDirs = None,
) -> None:
    """Apply a fix plan, then re-verify its orders and list those to reprocess.

    Each write re-reads its record first and is skipped (with the reason) when VTEX no longer
    shows the state the plan was made from. Progress is kept in PLAN.progress: a rerun after
    Ctrl-C or a kill continues without repeating a write. The result goes to PLAN.result.json
    and the orders to reprocess to PLAN.reprocess.csv.

    Exit codes: 0 every order of the plan is clear, 1 a store-side cause remains (dry-run: a
    write is still to be sent), 2 bad input or no credentials for --apply, 3 some orders could
    not be decided, 4 confirmation needed (--yes), 130 interrupted (rerun to continue).
    """
    import os

    from assistant.errors import EXIT_INPUT_NEEDED, EXIT_INTERRUPTED
    from assistant.fixplan import (
        Applier,
        Progress,
        check_account,
        load_plan,
        progress_path,
        result_document,
        reverify,
        save_results,
    )
    from assistant.formats import PlanOutcome
    from assistant.plan_view import PhaseProgress, reverify_line, writes_line
    from assistant.sessions import SessionStore, state_dir

    with _user_errors():
        fix_plan = load_plan(plan)
        console = _stderr()
        from assistant.vtex.deadline import DEFAULT_TRIAGE_SECONDS

        # A plan covers a backlog: its writes and re-verification get triage's deadline.
        with _vtex(
            True if apply else None, None, None, default_timeout=DEFAULT_TRIAGE_SECONDS
        ) as client:
            check_account(fix_plan, os.environ.get("VTEX_ACCOUNT") if client else None)
            if apply and not yes and fix_plan.fixes:
                _confirm_plan(console, fix_plan, EXIT_INPUT_NEEDED)
            progress = Progress(progress_path(plan), fix_plan) if apply else None
            if progress is not None and progress.stale:
                _say("[yellow]warning:[/]", f"{progress.path} belongs to another plan: replaced")
            phases = PhaseProgress(console)
            applier = Applier(fix_plan, client, SessionStore(state_dir()), progress, apply)
            try:
                with phases.phase("writes", len(fix_plan.fixes)) as advance:
                    results = applier.run(lambda _: advance())
            except KeyboardInterrupt:
                where = f"; progress kept in {progress.path}" if progress is not None else ""
                _say(
                    "[yellow]interrupted:[/]",
                    f"writes in flight were finished and recorded{where}; run the same "
                    "command again to continue (nothing is sent twice)",
                )
                raise typer.Exit(EXIT_INTERRUPTED) from None
            _say("", writes_line(results))
            after = None
            if apply and client is not None:
                with phases.phase("re-verify", len(fix_plan.orders)) as advance:
                    after = reverify(
                        fix_plan,
                        _diagnoser(rules_dir),
                        client,
                        concurrency=concurrency,
                        on_order=advance,
                    )
                _say("", reverify_line(after))
        document = result_document(fix_plan, results, after, applied=apply)
        if after is not None:
            json_path, csv_path = save_results(fix_plan, plan, document)
            _say("", f"result: {json_path}; orders to reprocess: {csv_path}")
        _output(json_output).plan_outcome(PlanOutcome(document, results, after, apply))
    if after is not None:
        raise typer.Exit(after.exit_code())
    from assistant.fixplan import dry_run_exit_code

    raise typer.Exit(dry_run_exit_code(fix_plan, results))


def _confirm_plan(console: "Console", fix_plan: "Plan", input_needed: int) -> None:
    """One confirmation for the whole plan, in a terminal; elsewhere --yes is required."""
    from assistant.plan_view import plan_headline

    question = (
        f"Apply {len(fix_plan.fixes)} write(s) to account {fix_plan.account} "
        f"({plan_headline(fix_plan)})?"
    )
    if sys.stdin is None or not sys.stdin.isatty() or not console.is_terminal:
        _say("[bold red]input needed:[/]", f"{question} Confirm with --yes (no terminal to ask)")
        raise typer.Exit(input_needed)
    if not typer.confirm(question, default=False, err=True):
        _say("", "nothing written: the plan's causes remain")
        raise typer.Exit(EXIT_ACTION_NEEDED)


def app_for(argv: "Sequence[str]") -> typer.Typer:
    """The app to run for these arguments: when the first one names a command or a group, a
    copy of the app that holds only it. typer builds every command's options when it starts
    (about 6 ms for all of ours) while a run uses one; the copy parses, helps and fails exactly
    as the whole app does for that command. Anything else (--help, --version, a typo that
    deserves "no such command") gets the whole app."""
    import copy

    name = argv[0] if argv else ""
    for command in app.registered_commands:
        default = command.callback.__name__.replace("_", "-") if command.callback else None
        if name == (command.name or default):
            only = copy.copy(app)
            only.registered_commands, only.registered_groups = [command], []
            return only
    for group in app.registered_groups:
        if name == group.name:
            only = copy.copy(app)
            only.registered_commands, only.registered_groups = [], [group]
            return only
    return app


def main() -> None:
    import os

    # On its first model, pydantic reads the entry points of every installed distribution,
    # looking for its (experimental) plugins: 3 ms of every start-up in a small environment,
    # more in a big one. The assistant uses none; a user who wants one can still set the
    # variable to another value.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        app_for(sys.argv[1:])(prog_name="order-assistant")
    except OSError as exc:  # stdout closed or full (`| head`, `> /dev/full`)
        import errno

        if exc.errno != errno.EPIPE:
            sys.stderr.write(f"error: could not write the output: {exc.strerror or exc}\n")
        sys.exit(EXIT_USAGE)
    except Exception as exc:
        # A bug. Exit 1 would read as "a store-side cause remains" to a runbook: say we could
        # not decide instead, in one line (the traceback on request: it may hold local data).
        if os.environ.get("ORDER_ASSISTANT_DEBUG"):
            raise
        from assistant.safetext import printable

        sys.stderr.write(
            f"error: internal error ({type(exc).__name__}: {printable(str(exc), 200)}); "
            "please report it; ORDER_ASSISTANT_DEBUG=1 shows the traceback\n"
        )
        sys.exit(EXIT_UNDECIDED)
    finally:
        _skip_the_last_collection()


def _skip_the_last_collection() -> None:
    """The command is done and the process ends next; the OS takes its memory back whole.
    Python's shutdown would first run the cyclic garbage collector over every object typer,
    pydantic and the engine built: about 20 ms, a tenth of a one-order diagnose. Freezing them
    leaves them out of that pass. Nothing depends on it: every file, client and lock is closed
    by its context manager before this point, and atexit handlers still run."""
    import gc

    gc.freeze()
