"""The command line: parse, call, render. No diagnosis logic lives here.

Imports of the heavier modules (pydantic models, the engine, rich) happen inside the commands,
so `--help`, `--version` and shell completion start fast.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from assistant import __version__

if TYPE_CHECKING:
    from rich.console import Console

    from assistant.diagnose import Diagnoser

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

RulesDirs = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules-dir",
        help="Extra folder of ruleset YAML files (repeatable).",
        file_okay=False,
        show_default=False,
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


def _stdout() -> "Console":
    from rich.console import Console

    return Console(highlight=False)


def _fail(message: str, code: int) -> NoReturn:
    _say("[bold red]error:[/]", message)
    raise typer.Exit(code)


def _say(label: str, message: str) -> None:
    """One line on stderr: the message as plain text (no markup, no emoji codes, control
    characters escaped, since file names and ids come from the user), never wrapped."""
    from rich.markup import escape

    from assistant.intake import printable

    text = escape(printable(message, limit=None))
    _stderr().print(f"{label} {text}" if label else text, soft_wrap=True, emoji=False)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Map our exception tree to messages and exit codes, in one place."""
    from assistant.errors import EXIT_INTERRUPTED, AssistantError

    try:
        yield
    except AssistantError as exc:
        _fail(exc.message, exc.exit_code)
    except KeyboardInterrupt:
        _stderr().print("stopped by user")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _diagnoser(rules_dirs: list[Path] | None) -> "Diagnoser":
    from assistant.diagnose import compile_rulebook

    return compile_rulebook(rules_dirs or [])


@app.command()
def diagnose(
    order: Annotated[
        str | None,
        typer.Argument(
            help="Order context file (JSON or YAML), or - to read standard input.",
            show_default=False,
        ),
    ] = None,
    message: Annotated[
        str | None,
        typer.Option("--message", "-m", help="The error text exactly as the Admin shows it."),
    ] = None,
    sku: Annotated[
        list[str] | None,
        typer.Option(
            "--sku",
            help="SKU id as Amazon sent it, optionally with a quantity: ID or ID:QTY (repeatable).",
        ),
    ] = None,
    order_id: Annotated[str | None, typer.Option("--order-id", help="Amazon order id.")] = None,
    postal_code: Annotated[str | None, typer.Option("--postal-code")] = None,
    sales_channel: Annotated[
        str | None, typer.Option("--sales-channel", help="Amazon's trade policy id.")
    ] = None,
    affiliate_id: Annotated[str | None, typer.Option("--affiliate-id")] = None,
    country: Annotated[str | None, typer.Option("--country", help="ISO alpha-3, e.g. BRA.")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document (schema_version 1) on stdout.")
    ] = False,
    rules_dir: RulesDirs = None,
) -> None:
    """Classify the error, conclude the root causes and print the next steps.

    Exit codes: 0 recognised, 2 bad input, 3 unrecognized message.
    """
    from assistant.errors import EXIT_OK, EXIT_UNDECIDED
    from assistant.intake import FlagValues, load_context

    with _user_errors():
        flags = FlagValues(
            message=message,
            skus=sku or [],
            order_id=order_id,
            postal_code=postal_code,
            sales_channel=sales_channel,
            affiliate_id=affiliate_id,
            country=country,
        )
        if order is None and not flags.as_fields():
            _fail(
                "give an order file, - for standard input, or --message and --order-id "
                "(see order-assistant diagnose --help)",
                2,
            )
        intake = load_context(order, flags, stdin=sys.stdin.buffer if order == "-" else None)
        for warning in intake.warnings:  # rich stays unimported on the quiet --json path
            _say("[yellow]warning:[/]", warning)
        diagnoser = _diagnoser(rules_dir)
        diagnosis = diagnoser.diagnose(intake.context)
        if json_output:
            sys.stdout.write(diagnosis.model_dump_json(indent=2) + "\n")
        else:
            from assistant.report import render_diagnosis

            render_diagnosis(_stdout(), diagnosis, diagnoser.rulebook)
    raise typer.Exit(EXIT_OK if diagnosis.recognised else EXIT_UNDECIDED)


@rules_app.command("list")
def rules_list(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    rules_dir: RulesDirs = None,
) -> None:
    """List the error types the assistant recognises."""
    with _user_errors():
        diagnoser = _diagnoser(rules_dir)
        rulebook = diagnoser.rulebook
        if json_output:
            import json

            rows = [
                {
                    "code": e.code,
                    "title": e.title,
                    "patterns": [p.pattern for p in e.patterns],
                    "rules": [r.name for r in rulebook.rules_for(e.code)],
                }
                for e in rulebook.errors.values()
            ]
            sys.stdout.write(json.dumps({"errors": rows}, indent=2) + "\n")
            return
        from assistant.report import render_rules_list

        render_rules_list(_stdout(), rulebook)


@rules_app.command("show")
def rules_show(
    code: Annotated[str, typer.Argument(help="An error code, as in `rules list`.")],
    rules_dir: RulesDirs = None,
) -> None:
    """Show an error type: its message patterns, rules, findings and next steps."""
    with _user_errors():
        rulebook = _diagnoser(rules_dir).rulebook
        if code not in rulebook.errors:
            _fail(f"unknown error code {code!r}; known: {', '.join(rulebook.errors)}", 2)
        from assistant.report import render_rules_show

        render_rules_show(_stdout(), rulebook, code)


@rules_app.command("validate")
def rules_validate(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="A folder of ruleset files to check together with the built-in ones.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check ruleset files: YAML, keys, patterns, finding codes, and the engine's own verdict.

    Exit codes: 0 valid, 2 problems (each printed as FILE: KEY: PROBLEM).
    """
    from assistant.errors import RulesetError

    try:
        diagnoser = _diagnoser([directory] if directory else [])
    except RulesetError as exc:
        for problem in exc.problems:
            _say("", str(problem))
        _stderr().print(f"[bold red]{len(exc.problems)} problem(s) found[/]")
        raise typer.Exit(2) from None
    rulebook = diagnoser.rulebook
    _stdout().print(
        f"valid: {len(rulebook.sources)} files, {len(rulebook.errors)} error types, "
        f"{len(rulebook.rules)} rules, {len(rulebook.findings)} findings"
    )


def main() -> None:
    app(prog_name="order-assistant")
