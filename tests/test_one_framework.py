"""In a one-framework install (`make test-one-framework` builds one of each), doctor names what is missing."""

import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.course import FRAMEWORKS
from coursekit.frameworks import available
from helpers import ROOT

MISSING = [key for key in FRAMEWORKS if not available(key)]


@pytest.mark.skipif(
    len(MISSING) != 1, reason="runs where exactly one framework is installed: `make test-one-framework`"
)
def test_doctor_fails_with_one_line_that_names_the_missing_framework_and_how_to_add_it():
    doctor = Path(sys.executable).parent / "coursekit"  # the console script this environment installed
    out = subprocess.run([str(doctor), "doctor"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 1, f"doctor exited {out.returncode} with {MISSING[0]} missing"
    lines = [line for line in out.stderr.splitlines() if line.startswith("missing: ")]
    assert len(lines) == 1, out.stderr
    assert (
        lines[0].startswith(f"missing: {MISSING[0]}, ") and f"pip install -r requirements/{MISSING[0]}.txt" in lines[0]
    )
    assert (ROOT / "requirements" / f"{MISSING[0]}.txt").is_file(), "the line names a file the course has"
    installed = next(key for key in FRAMEWORKS if key != MISSING[0])
    assert any(line.startswith(f"{installed} ") and "MISSING" not in line for line in out.stdout.splitlines()), (
        out.stdout
    )
