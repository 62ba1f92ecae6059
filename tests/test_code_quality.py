"""The course's code passes its linter, its formatter and its type checker: coursekit, the tests and
the notebooks themselves (configuration in pyproject.toml)."""

import subprocess
import sys

import pytest

from helpers import ROOT

# The course's own environment has both (requirements.txt); a bare one (a GPU box, Colab) skips these.
pytest.importorskip("ruff", reason="ruff is not installed here (pip install -r requirements.txt)")
pytest.importorskip("mypy", reason="mypy is not installed here (pip install -r requirements.txt)")


def run(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "--no-cache", "."), ("ruff", "format", "--check", "--no-cache", ".")],
    ids=["ruff check", "ruff format"],
)
def test_ruff_passes_on_code_tests_and_notebooks(command):
    out = run(*command)
    assert out.returncode == 0, (
        f"`{' '.join(command)}` found problems (`ruff check --fix .` and `ruff format .` mend most):\n"
        f"{out.stdout}{out.stderr}"
    )


def test_ruff_reads_the_notebooks():
    listed = run("ruff", "check", "--no-cache", "--show-files", ".").stdout
    assert "notebooks/01_tensors_autodiff/01_tensors_autodiff_pytorch.ipynb" in listed


def test_mypy_passes_on_coursekit():
    out = run("mypy", "--no-incremental")
    assert out.returncode == 0, f"mypy found problems:\n{out.stdout}{out.stderr}"
