"""A wheel built from the repo carries rulesets/ and playbooks/ and works outside the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("order_assistant-*.whl")
    return built


def test_wheel_carries_the_declarative_files(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    rulesets = {Path(n).name for n in names if n.startswith("assistant/_data/rulesets/")}
    source = {p.name for p in (REPO / "rulesets").glob("*.yaml")}
    assert rulesets == source
    playbooks = {Path(n).name for n in names if n.startswith("assistant/_data/playbooks/")}
    assert playbooks == {p.name for p in (REPO / "playbooks").glob("*.yaml")} | {"README.md"}
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "order-assistant = assistant.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


@pytest.mark.slow
def test_installed_wheel_lists_rules_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    # A real install of the wheel, with its dependencies, into a fresh venv. The published ones
    # come from the index (or pip's cache). durable-rules comes from the folder the wheel's
    # metadata names (this checkout's build_support/durable-rules): pip keeps the wheel it built
    # from that folder in its cache, keyed by the folder's URL, so after the project's own install
    # from this checkout (the README's command) it is reused; with a cold or disabled cache it is
    # compiled here (about 10 s). test_install.py builds the folder itself, uncached.
    # The venv gets no pip of its own (ensurepip: ~3 s); this one installs into it (--python).
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            fresh / "bin" / "python",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VTEX_", "PYTHON"))}
    env["NO_COLOR"] = "1"
    where = subprocess.run(
        [fresh / "bin" / "python", "-c", "import assistant; print(assistant.__file__)"],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(fresh)), "the checkout, not the wheel, was imported"
    # The validated snapshot of the shipped rulesets is keyed by their texts and the validating
    # code, wherever they are installed: the wheel's copy is current, so it is what loads.
    snapshot_used = subprocess.run(
        [
            fresh / "bin" / "python",
            "-c",
            "from assistant import snapshot; from assistant.resources import builtin_dir; "
            "print(snapshot.validated_rulebook(builtin_dir('rulesets')) is not None)",
        ],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert snapshot_used.stdout.strip() == "True"
    result = subprocess.run(
        [fresh / "bin" / "order-assistant", "rules", "list", "--json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    codes = [row["code"] for row in json.loads(result.stdout)["errors"]]
    assert "sla_unavailable" in codes
    assert len(codes) == len(list((REPO / "rulesets").glob("*.yaml"))) - 2  # catalog, confirmations
    # The playbooks load from the wheel too, and a guided walk runs there (offline, scripted).
    state = tmp_path / "state"
    order = elsewhere / "order.json"
    order.write_text(
        json.dumps(
            {
                "order_id": "702-1",
                "error_message": "A validation error occurred while trying to process the order",
            }
        )
    )
    answers = elsewhere / "answers.yaml"
    answers.write_text("contact-vtex-support.which-case: buyer_name\n")
    walked = subprocess.run(
        [
            fresh / "bin" / "order-assistant",
            "guide",
            str(order),
            "--answers",
            str(answers),
            "--yes",
        ],
        cwd=elsewhere,
        env={**env, "ORDER_ASSISTANT_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Escalated; the known issue is named, not observed, so the run cannot call it clean (3).
    assert walked.returncode == 3, walked.stderr
    assert walked.stdout.startswith("# Case draft for VTEX support")
    assert list((state / "cases").glob("*-vtex_support.md"))
