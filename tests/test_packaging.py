"""A wheel built from the repo carries rulesets/ and playbooks/ and works outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
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
    assert any(n.startswith("assistant/_data/playbooks/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "order-assistant = assistant.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


@pytest.mark.slow
def test_installed_wheel_lists_rules_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    # A fresh venv gets only the wheel; the dependencies come from this environment through a
    # .pth file (not the editable install of the checkout: .pth files inside it are not read).
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": ""}
    where = subprocess.run(
        [python, "-c", "import assistant; print(assistant.__file__)"],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(site)), "the checkout, not the wheel, was imported"
    result = subprocess.run(
        [python, "-m", "assistant", "rules", "list", "--json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert '"sla_unavailable"' in result.stdout
    script = site / "bin" / "order-assistant"
    assert script.exists()
