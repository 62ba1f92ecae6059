"""A learner's work lives in my-work/ (`coursekit exercises start`): its checks work there, and the
tests, a rebuild of exercises/ and a `git pull` of course updates leave it as it is."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from coursekit import exercises
from coursekit.anatomy import LINK, tree_problems
from coursekit.cli import main
from helpers import ROOT, check_ids, execute_with_check_log, needs

MODULE = "01_tensors_autodiff"
MINE = {fw: f"my-work/{MODULE}/{MODULE}_{fw}.ipynb" for fw in ("pytorch", "tensorflow")}
GIT = ["git", "-c", "user.name=course", "-c", "user.email=course@example.org", "-c", "commit.gpgsign=false"]


@pytest.fixture
def course(tmp_path):
    """A scratch copy of the course: its notebooks, settings, .gitignore and test configuration."""
    root = tmp_path / "course"
    root.mkdir()
    for name in ("pyproject.toml", ".gitignore", "conftest.py"):
        shutil.copy(ROOT / name, root)
    for kind in ("notebooks", "exercises", "solutions"):
        shutil.copytree(ROOT / kind, root / kind)
    return root


def coursekit(root, monkeypatch, capsys, *argv):
    """Run `coursekit argv` in root; return its exit status, stdout and stderr."""
    monkeypatch.chdir(root)
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = exit_.code
    out = capsys.readouterr()
    return status, out.out, out.err


def solve(path, root):
    """Fill every stub of an exercise notebook with its solution's code, as a learner would."""
    notebook = nbformat.read(path, as_version=4)
    solution = nbformat.read(root / "solutions" / MODULE / path.name, as_version=4)
    for mine, theirs in zip(notebook.cells, solution.cells, strict=True):
        if "# YOUR CODE HERE" in mine.source:
            mine.source = theirs.source
    nbformat.write(notebook, path)
    return path.read_bytes()


def git(root, *args):
    return subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True, text=True, timeout=120)


def test_start_copies_a_module_into_my_work_and_never_overwrites(course, monkeypatch, capsys):
    status, out, _ = coursekit(course, monkeypatch, capsys, "exercises", "start", "01")
    assert status == 0
    for path in MINE.values():
        assert f"copied to  {path}" in out
        assert (course / path).read_bytes() == (course / path.replace("my-work", "exercises")).read_bytes()
    assert "git ignores it" in out and f"jupyter lab {MINE['pytorch']}" in out
    solved = solve(course / MINE["tensorflow"], course)
    status, out, _ = coursekit(
        course, monkeypatch, capsys, "exercises", "start", "tensors_autodiff", "--framework", "tf"
    )
    assert status == 0 and f"kept yours  {MINE['tensorflow']}" in out and "pytorch" not in out
    assert (course / MINE["tensorflow"]).read_bytes() == solved
    status, out, _ = coursekit(course, monkeypatch, capsys, "exercises", "start", "all", "--framework", "torch")
    assert status == 0 and out.startswith(f"kept yours  {MINE['pytorch']}\n")
    status, _, err = coursekit(course, monkeypatch, capsys, "exercises", "start", "99")
    assert status == 2
    modules = ", ".join(sorted(path.name for path in (course / "exercises").iterdir() if path.is_dir()))
    assert err == f"coursekit exercises: no exercises for module '99': modules with exercises are {modules}, or 'all'\n"


@needs("torch")
def test_a_solved_exercise_in_my_work_passes_its_checks_there_and_its_links_resolve(course, monkeypatch, capsys):
    assert coursekit(course, monkeypatch, capsys, "exercises", "start", "1")[0] == 0
    path = course / MINE["pytorch"]
    solve(path, course)
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for target in LINK.findall(cell.source):
                assert (path.parent / target.split("#")[0]).is_file(), f"{target} is dead from my-work/"
    verdicts = execute_with_check_log(path, course / "checks.jsonl")
    assert [v["exercise"] for v in verdicts] == check_ids(path)
    assert {v["status"] for v in verdicts} == {"passed"}, verdicts


def test_the_course_checks_leave_solved_work_in_my_work_alone(course, monkeypatch, capsys):
    coursekit(course, monkeypatch, capsys, "exercises", "start", "01")
    for path in MINE.values():
        solve(course / path, course)
    (course / "my-work/scratch.ipynb").write_text((course / MINE["pytorch"]).read_text())  # any notebook of theirs
    assert exercises.stale(course, ci=True) == []
    assert tree_problems(course) == []
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0"],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert f"notebooks/{MODULE}/{MODULE}_" in collected.stdout, collected.stdout + collected.stderr  # a lesson
    assert "my-work" not in collected.stdout
    pytest.importorskip("ruff", reason="ruff is not installed here (pip install -r requirements.txt)")
    linted = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--show-files", "."],
        cwd=course,
        capture_output=True,
        text=True,
    )
    assert f"notebooks/{MODULE}/{MODULE}_pytorch.ipynb" in linted.stdout and "my-work" not in linted.stdout


def test_a_rebuild_leaves_my_work_alone_and_keeps_an_exercise_solved_in_place(course, monkeypatch, capsys):
    coursekit(course, monkeypatch, capsys, "exercises", "start", "01")
    mine = solve(course / MINE["pytorch"], course)
    in_place = course / f"exercises/{MODULE}/{MODULE}_pytorch.ipynb"  # a learner who solved it in exercises/
    theirs = solve(in_place, course)
    for fw in MINE:  # the author changes both solutions: both exercises are due for a rebuild
        path = course / f"solutions/{MODULE}/{MODULE}_{fw}.ipynb"
        path.write_text(path.read_text().replace("How the exercises work", "How these exercises work"))
    status, out, err = coursekit(course, monkeypatch, capsys, "exercises", "build")
    assert status == 1
    assert out == f"built exercises/{MODULE}/{MODULE}_tensorflow.ipynb\n"
    assert f"kept exercises/{MODULE}/{MODULE}_pytorch.ipynb: edited by hand since its last build" in err
    assert "`coursekit exercises build --force` overwrites these" in err
    assert in_place.read_bytes() == theirs and (course / MINE["pytorch"]).read_bytes() == mine
    monkeypatch.delenv("CI", raising=False)
    status, out, _ = coursekit(course, monkeypatch, capsys, "exercises", "check")
    assert status == 0 and out.startswith(
        f"note: exercises/{MODULE}/{MODULE}_pytorch.ipynb: edited by hand (your work?"
    )
    monkeypatch.setenv("CI", "true")
    assert coursekit(course, monkeypatch, capsys, "exercises", "check")[0] == 1
    status, out, _ = coursekit(course, monkeypatch, capsys, "exercises", "build", "--force")
    assert status == 0 and out == f"built exercises/{MODULE}/{MODULE}_pytorch.ipynb\n"
    assert coursekit(course, monkeypatch, capsys, "exercises", "check")[0] == 0
    assert (course / MINE["pytorch"]).read_bytes() == mine


def test_a_git_pull_of_course_updates_leaves_my_work_alone(course, tmp_path, monkeypatch, capsys):
    git(course, "init", "-q")
    git(course, "add", ".")
    git(course, "commit", "-q", "-m", "the course")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(course), str(clone))
    coursekit(clone, monkeypatch, capsys, "exercises", "start", "01")
    mine = solve(clone / MINE["pytorch"], clone)
    assert git(clone, "status", "--porcelain").stdout == ""  # my-work/ is ignored: nothing to commit or conflict
    solution = course / f"solutions/{MODULE}/{MODULE}_pytorch.ipynb"  # upstream: an author edits a solution
    solution.write_text(solution.read_text().replace("How the exercises work", "How these exercises work"))
    assert exercises.write(course) == ([Path("exercises", MODULE, solution.name)], [])
    git(course, "commit", "-q", "-am", "clearer exercise instructions")
    pulled = subprocess.run([*GIT, "pull"], cwd=clone, capture_output=True, text=True, timeout=120)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert (clone / MINE["pytorch"]).read_bytes() == mine
    assert "How these exercises work" in (clone / f"exercises/{MODULE}/{MODULE}_pytorch.ipynb").read_text()
    assert git(clone, "status", "--porcelain").stdout == "" and exercises.stale(clone, ci=True) == []
