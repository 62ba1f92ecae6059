"""The `coursekit` command: a wrong argument is one line on stderr, `coursekit <cmd>: ...`, exit status 2."""

import os
import subprocess
import sys

import pytest

from coursekit.cli import main
from helpers import ROOT


def fails_cleanly(capsys, argv, command, message):
    """Run `coursekit argv`; assert it exits 2 with one stderr line naming the command and the problem."""
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own errors exit from inside parse_args
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith(f"{command}: "), err
    assert message in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--timeout", "0"], "argument --timeout: must be a whole number of seconds from 1 to 86400, got '0'"),
        (["run", "--timeout", "-5"], "got '-5'"),
        (["run", "--timeout", "ten"], "got 'ten'"),
        (["run", "notebooks/99_nothing.ipynb"], "notebooks/99_nothing.ipynb: no such notebook or folder"),
        (["run", "README.md"], "README.md: not a notebook (a .ipynb file) or a folder of notebooks"),
        (["run", "-p", "epochs", "notebooks/00_setup"], "parameter 'epochs' is not of the form name=value"),
        (["run", "-p", "sizes=(1, 2)", "notebooks/00_setup"], "papermill can pass None, strings"),
    ],
)
def test_run_refuses_bad_arguments_before_running_anything(capsys, monkeypatch, argv, message):
    monkeypatch.chdir(ROOT)
    fails_cleanly(capsys, argv, "coursekit run", message)


def test_an_unwritable_out_folder_is_named(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "executed"  # under a file: cannot be created, even by root
    fails_cleanly(
        capsys,
        ["run", "notebooks/00_setup", "--out", str(out)],
        "coursekit run",
        f"cannot write executed notebooks to {out}",
    )


def test_outside_the_course_folder_and_without_a_command(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    fails_cleanly(capsys, ["anatomy"], "coursekit anatomy", "run this inside the course folder")
    fails_cleanly(capsys, [], "coursekit", "the following arguments are required: command")
    fails_cleanly(capsys, ["exercises", "rebuild"], "coursekit exercises", "invalid choice: 'rebuild'")


def test_the_installed_command_prints_no_traceback():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "coursekit.cli", "run", "missing.ipynb"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == "coursekit run: missing.ipynb: no such notebook or folder\n"
