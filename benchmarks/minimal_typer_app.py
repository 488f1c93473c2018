"""The yardstick for `order-assistant diagnose` start-up: a typer app that declares the same
options as `diagnose` (same types, same typer settings) and does nothing with them.

`bench_startup.py` runs it with the same arguments as the real command, so the ratio between
the two is what the assistant itself adds: its imports, the rulesets and the diagnosis.
"""

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(pretty_exceptions_enable=False, rich_markup_mode=None)


@app.callback()
def _main() -> None:
    """A group, as order-assistant is, so the command name is parsed the same way."""


@app.command()
def diagnose(
    order: Annotated[str | None, typer.Argument()] = None,
    message: Annotated[str | None, typer.Option("--message", "-m")] = None,
    sku: Annotated[list[str] | None, typer.Option("--sku")] = None,
    order_id: Annotated[str | None, typer.Option("--order-id")] = None,
    postal_code: Annotated[str | None, typer.Option("--postal-code")] = None,
    sales_channel: Annotated[str | None, typer.Option("--sales-channel")] = None,
    affiliate_id: Annotated[str | None, typer.Option("--affiliate-id")] = None,
    country: Annotated[str | None, typer.Option("--country")] = None,
    online: Annotated[bool | None, typer.Option("--online/--offline")] = None,
    record: Annotated[Path | None, typer.Option("--record", dir_okay=False)] = None,
    replay: Annotated[Path | None, typer.Option("--replay", dir_okay=False)] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.1, max=86400)] = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
    rules_dir: Annotated[list[Path] | None, typer.Option("--rules-dir", file_okay=False)] = None,
) -> None:
    typer.echo("{}")


if __name__ == "__main__":
    app(prog_name="minimal")
