"""TensorFlow's C++ start-up notices stay out of notebooks and terminals, unless the learner sets a log level."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from coursekit.anatomy import setup_source
from coursekit.course import Course
from helpers import ROOT, run_python

pytest.importorskip("tensorflow")
NOTICE = "oneDNN custom operations are on"


def outputs_of(cells, env):
    """Run cells in a fresh kernel with `env` as its environment; the outputs of each cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return [c.outputs for c in nb.cells]


def stderr_of(cells, env):
    """The stderr text of each cell, run as in outputs_of."""
    return ["".join(o.get("text", "") for o in out if o.get("name") == "stderr") for out in outputs_of(cells, env)]


def clean_env():
    # ipykernel forwards descriptor 2 to the notebook except under pytest (PYTEST_CURRENT_TEST): a
    # learner's kernel has neither variable.
    return {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTEST_CURRENT_TEST")}


def test_a_notebook_that_runs_the_setup_cell_shows_no_startup_notice_and_real_errors_still_show():
    setup = setup_source(Course.from_pyproject(ROOT))
    cells = [
        setup,
        "import coursekit\ncoursekit.available('tf')  # looks TensorFlow up first, as checks do\n"
        "import tensorflow as tf\nprint(tf.constant(2.0).numpy())",
        "import os, sys\nos.write(2, b'a real message\\n')",
    ]
    outputs = outputs_of(cells, clean_env())
    assert outputs[0] == [], f"the setup cell shows something: {outputs[0]}"
    out = ["".join(o.get("text", "") for o in cell if o.get("name") == "stderr") for cell in outputs]
    assert NOTICE not in out[1] and "absl::InitializeLog" not in out[1], out[1]
    assert "a real message" in out[2]


def test_without_the_setup_cell_the_notices_show_as_stderr():
    # What the setup cell prevents: proof that the first test can fail.
    assert NOTICE in stderr_of(["import tensorflow as tf"], clean_env())[0]


def test_a_learner_who_sets_a_log_level_keeps_it():
    setup = setup_source(Course.from_pyproject(ROOT))
    out = stderr_of(
        [setup, "import tensorflow as tf\nimport os; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"],
        {**clean_env(), "TF_CPP_MIN_LOG_LEVEL": "0"},
    )
    assert NOTICE in out[1]


def test_doctor_in_a_terminal_prints_no_notice():
    code = "import sys; from coursekit.cli import main; sys.exit(main(['doctor', '--framework', 'tf']))"
    out = run_python(code, env={"TF_CPP_MIN_LOG_LEVEL": None})
    assert out.returncode == 0 and "tensorflow" in out.stdout
    assert NOTICE not in out.stderr and "absl" not in out.stderr, out.stderr


def test_coursekit_run_keeps_the_terminal_clear_for_its_progress_bar(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(setup_source(Course.from_pyproject(ROOT))),
        nbformat.v4.new_code_cell("import tensorflow as tf\nprint(tf.constant(1.0).numpy())"),
    ]
    nbformat.write(nb, tmp_path / "quiet.ipynb")
    code = f"""
from pathlib import Path
from coursekit.runner import run_notebooks
root = Path({str(tmp_path)!r})
records = run_notebooks([root / "quiet.ipynb"], out_dir=root / "out", root=root)
print(records[0].status)
"""
    out = run_python(code, env={"TF_CPP_MIN_LOG_LEVEL": None, "PYTEST_CURRENT_TEST": None})
    assert out.stdout.strip() == "ok", out.stderr
    for noise in (NOTICE, "absl::InitializeLog", "running over TCP without encryption"):
        assert noise not in out.stderr, out.stderr
