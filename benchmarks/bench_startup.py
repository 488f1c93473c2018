"""Start-up wall time of the CLI against a bare `import typer` and against a minimal typer app,
and what its imports cost.

Runs, in a round-robin loop (so machine noise hits every command alike), N times each after
warm-up rounds (hyperfine-style: warm-up, then repeated runs, median and min):

  (a) python -c "import typer"                                   the baseline of --help
  (b) order-assistant --help
  (c) order-assistant --version
  (d) order-assistant diagnose examples/sla_unavailable.json --json   (offline, stdout discarded)
  (e) python benchmarks/minimal_typer_app.py diagnose FILE --json --offline --order-id ID
      a typer app declaring diagnose's options and doing nothing: the baseline of (f)
  (f) order-assistant diagnose FILE --json --offline --order-id ID

then prints the median and min of each, the ratio of each median to its baseline, the
slowest cumulative imports of (b) and (f) as reported by `python -X importtime`, and what (f)
adds to (e) phase by phase (`startup_phases.py`: imports, rulesets, engine, diagnosis).

Run from a checkout with the project's venv active:

    python benchmarks/bench_startup.py [--runs 15] [--warmup 2] [--top 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "examples/sla_unavailable.json"  # relative to REPO_ROOT, the children's cwd
ORDER_ID = "702-0000000-0000001"
DIAGNOSE_ARGS = ["diagnose", EXAMPLE, "--json", "--offline", "--order-id", ORDER_ID]
MINIMAL_APP = "benchmarks/minimal_typer_app.py"
AIMS = {"--help": 1.3, "diagnose": 2.5, "diagnose --order-id": 1.25}
# Each command's ratio is to its baseline: the bare import, or the app with the same options.
BASELINES = {"diagnose --order-id": "minimal app", "minimal app": 'python -c "import typer"'}

_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S.*)$")


def cli_command() -> tuple[list[str], list[str]]:
    """(command to run the CLI, the same under `python -X importtime`)."""
    bin_dir = Path(sys.executable).parent
    for name in ("order-assistant", "order-assistant.exe"):
        script = bin_dir / name
        if script.is_file():
            if _is_python_script(script):
                return [str(script)], [sys.executable, "-X", "importtime", str(script)]
            # A native launcher (Windows): time it, but profile the module instead.
            return [str(script)], [sys.executable, "-X", "importtime", "-m", "assistant"]
    module = [sys.executable, "-m", "assistant"]
    return module, [sys.executable, "-X", "importtime", "-m", "assistant"]


def _is_python_script(path: Path) -> bool:
    with path.open("rb") as handle:
        first = handle.readline()
    return first.startswith(b"#!") and b"python" in first


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    # As installed: bytecode cached (the warm-up rounds write it), so a shell that sets
    # PYTHONDONTWRITEBYTECODE does not time the compilation of the project's sources.
    for name in (
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONDEVMODE",
        "PYTHONTRACEMALLOC",
        "PYTHONDONTWRITEBYTECODE",
    ):
        env.pop(name, None)
    return env


def run_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        shown = " ".join(Path(a).name if os.sep in a else a for a in argv)
        raise SystemExit(
            f"`{shown}` exited with {proc.returncode}:\n{proc.stderr.decode(errors='replace')}"
        )
    return elapsed


def import_times(argv: list[str], env: dict[str, str], runs: int) -> dict[str, tuple]:
    """module -> (median cumulative us, median self us, nesting depth) over `runs` runs."""
    samples: dict[str, list[tuple[int, int, int]]] = {}
    for _ in range(runs):
        proc = subprocess.run(
            argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for line in proc.stderr.decode(errors="replace").splitlines():
            match = _IMPORTTIME.match(line)
            if match:
                self_us, cumulative_us, indent, module = match.groups()
                depth = (len(indent) - 1) // 2
                samples.setdefault(module, []).append((int(cumulative_us), int(self_us), depth))
    return {
        module: (
            statistics.median(s[0] for s in values),
            statistics.median(s[1] for s in values),
            values[0][2],
        )
        for module, values in samples.items()
    }


def print_import_table(title: str, times: dict[str, tuple], top: int) -> None:
    total = sum(self_us for _, self_us, _ in times.values())
    print(f"\n### {title}: {len(times)} modules, {total / 1000:.0f} ms of imports\n")
    print("| # | module | cumulative (ms) | self (ms) | depth |")
    print("|---:|---|---:|---:|---:|")
    ranked = sorted(times.items(), key=lambda kv: kv[1][0], reverse=True)[:top]
    for rank, (module, (cumulative, self_us, depth)) in enumerate(ranked, 1):
        print(f"| {rank} | `{module}` | {cumulative / 1000:.1f} | {self_us / 1000:.1f} | {depth} |")
    own = sorted(
        ((m, t) for m, t in times.items() if m == "assistant" or m.startswith("assistant.")),
        key=lambda kv: kv[1][0],
        reverse=True,
    )
    listed = ", ".join(f"`{m}` {t[0] / 1000:.1f}" for m, t in own)
    print(f"\nProject modules (cumulative ms): {listed or 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (15)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up rounds (2)")
    parser.add_argument("--top", type=int, default=10, help="imports listed per command (10)")
    parser.add_argument(
        "--importtime-runs",
        type=int,
        default=3,
        help="-X importtime runs per command; the median per module is shown (3, 0 skips)",
    )
    parser.add_argument(
        "--phases",
        type=int,
        default=5,
        help="runs of startup_phases.py; the median per phase is shown (5, 0 skips)",
    )
    args = parser.parse_args()
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")

    env = child_env()
    cli, cli_importtime = cli_command()
    commands = {
        'python -c "import typer"': [sys.executable, "-c", "import typer"],
        "--help": [*cli, "--help"],
        "--version": [*cli, "--version"],
        "diagnose": [*cli, "diagnose", EXAMPLE, "--json"],
        "minimal app": [sys.executable, MINIMAL_APP, *DIAGNOSE_ARGS],
        "diagnose --order-id": [*cli, *DIAGNOSE_ARGS],
    }
    labels = {
        "--help": "order-assistant --help",
        "--version": "order-assistant --version",
        "diagnose": f"order-assistant diagnose {EXAMPLE} --json",
        "minimal app": f"python {MINIMAL_APP} {' '.join(DIAGNOSE_ARGS)}",
        "diagnose --order-id": f"order-assistant {' '.join(DIAGNOSE_ARGS)}",
    }
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(args.warmup + args.runs):
        # Rotate the starting command so none always runs first (or right after another).
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed = run_once(commands[name], env)
            if round_no >= args.warmup:
                times[name].append(elapsed)

    medians = {name: statistics.median(times[name]) for name in names}
    how = "console script" if len(cli) == 1 else "python -m assistant"
    print(
        f"## Start-up wall time (Python {platform.python_version()}, {platform.system()} "
        f"{platform.machine()}, {args.runs} runs each after {args.warmup} warm-up rounds, "
        f"round-robin, CLI via {how})\n"
    )
    print("| command | median (ms) | min (ms) | median / baseline | baseline | aim |")
    print("|---|---:|---:|---:|---|---|")
    for name in names:
        base = BASELINES.get(name, names[0])
        ratio = medians[name] / medians[base]
        aim = AIMS.get(name)
        verdict = "baseline" if name in (names[0], *BASELINES.values()) else "-"
        if aim is not None:
            verdict = f"<= {aim}x: {'ok' if ratio <= aim else 'MISSED'}"
        print(
            f"| `{labels.get(name, name)}` | {medians[name] * 1000:.0f} "
            f"| {min(times[name]) * 1000:.0f} | {ratio:.2f}x | {base} | {verdict} |"
        )

    if args.importtime_runs > 0:
        help_times = import_times([*cli_importtime, "--help"], env, args.importtime_runs)
        print_import_table("`-X importtime` of `order-assistant --help`", help_times, args.top)
        diag_times = import_times([*cli_importtime, *DIAGNOSE_ARGS], env, args.importtime_runs)
        print_import_table(
            f"`-X importtime` of `{labels['diagnose --order-id']}`", diag_times, args.top
        )
    if args.phases > 0:
        print_phases(env, args.phases)
    return 0


def print_phases(env: dict[str, str], runs: int) -> None:
    """What `diagnose --order-id` adds to the minimal app, phase by phase, in one process."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "benchmarks/startup_phases.py", EXAMPLE, ORDER_ID],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            check=True,
        )
        for phase, ms in json.loads(proc.stdout).items():
            samples.setdefault(phase, []).append(ms)
    print(f"\n### Phases of one offline `diagnose --order-id` ({runs} runs, median)\n")
    print("| phase | ms |")
    print("|---|---:|")
    for phase, values in samples.items():
        print(f"| {phase} | {statistics.median(values):.0f} |")


if __name__ == "__main__":
    sys.exit(main())
