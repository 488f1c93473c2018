"""Where one offline `order-assistant diagnose FILE --json --order-id ID` spends its time, phase
by phase, in one fresh process (run by `bench_startup.py --phases N`; prints one JSON line of
milliseconds per phase). The phases follow the command's own order; each phase's imports are
counted in it, so the figures add up to the run.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path

_marks: list[tuple[str, float]] = [("start", time.perf_counter())]


def mark(name: str) -> None:
    _marks.append((name, time.perf_counter()))


def main(order_file: str, order_id: str) -> None:
    import contextlib
    import io

    from minimal_typer_app import app

    # What any typer app with these options pays: typer, pydantic, the options' coercion.
    with contextlib.redirect_stdout(io.StringIO()):
        app(
            ["diagnose", order_file, "--json", "--offline", "--order-id", order_id],
            standalone_mode=False,
        )
    mark("the minimal typer app's whole run (typer, pydantic, option coercion)")
    import typer.main

    from assistant.cli import app_for

    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # as assistant.cli.main does
    mark("import assistant.cli")
    typer.main.get_command(app_for(["diagnose"]))
    mark("typer builds the diagnose command (the minimal app did its own)")
    from assistant.intake import FlagValues, load_context

    flags = FlagValues(
        message=None,
        skus=[],
        order_id=order_id,
        postal_code=None,
        sales_channel=None,
        affiliate_id=None,
        country=None,
    )
    context = load_context(order_file, flags).context
    mark("read the order (intake, order models)")
    import assistant.diagnose  # noqa: F401

    mark("import diagnose (checks, rulesets, classify, engine)")
    from assistant.rulesets import load_rulebook

    rulebook = load_rulebook([])
    mark("load the rulesets (the validated snapshot)")
    from assistant.diagnose import Diagnoser

    diagnoser = Diagnoser(rulebook)
    mark("compile the rules (durable_rules)")
    diagnosis = diagnoser.diagnose(context)
    mark("diagnose")
    from assistant.formats import JsonFormat

    with Path(os.devnull).open("w", encoding="utf-8") as devnull:
        JsonFormat(devnull).diagnosis(diagnosis)
    mark("JSON out")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    phases = {
        name: round((at - before) * 1000, 2)
        for (_, before), (name, at) in itertools.pairwise(_marks)
    }
    sys.stdout.write(json.dumps(phases) + "\n")
