"""exercises/ is built from solutions/, and every check reports an unsolved exercise as unsolved."""

import shutil
import subprocess
import warnings
from pathlib import Path

import nbformat
import pytest

from coursekit import exercises
from coursekit.course import course_notebooks
from helpers import ROOT, check_ids, execute_with_check_log, notebook_params

EXERCISES = [p for p in course_notebooks(ROOT) if p.parts[0] == "exercises"]


def test_exercises_are_what_the_generator_builds_from_solutions():
    problems = exercises.stale(ROOT)
    for finding in exercises.review(ROOT):  # a learner's uncommitted edit: said, but not a failure outside CI
        if finding.message not in problems:
            warnings.warn(finding.message, stacklevel=1)
    assert not problems, "\n".join(problems) + "\nrun `coursekit exercises build`"


@pytest.mark.parametrize("rel", notebook_params(EXERCISES))
def test_unsolved_exercise_notebook_reports_every_check_unsolved(rel, tmp_path):
    expected = check_ids(ROOT / rel)
    assert expected == check_ids(ROOT / "solutions" / rel.relative_to("exercises"))
    verdicts = execute_with_check_log(ROOT / rel, tmp_path / "checks.jsonl")
    assert [v["exercise"] for v in verdicts] == expected, f"{rel}: not every check ran"
    bitten = [f"{v['exercise']}: {v['status']}" for v in verdicts if v["status"] != "unsolved"]
    assert not bitten, f"{rel}: these checks did not report the stub as unsolved:\n" + "\n".join(bitten)


def solution_cell(text):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(text)]
    return nb


def test_stub_replaces_the_block_and_keeps_indentation():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n    ### END SOLUTION\n"
    stub = exercises.strip_solutions(source, "cell")
    assert (
        stub == 'def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError("replace this line with your code")\n'
    )
    namespace = {}
    exec(stub, namespace)  # a stub is valid Python; calling it says "not solved"
    with pytest.raises(NotImplementedError):
        namespace["f"](1)


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "must sit inside a function body"),
        ("def f():\n    ### BEGIN SOLUTION\n    return 1", "BEGIN SOLUTION without ### END SOLUTION"),
        ("def f():\n    return 1\n    ### END SOLUTION", "END SOLUTION without ### BEGIN SOLUTION"),
        ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n", "inside another solution block"),
    ],
)
def test_malformed_blocks_are_named(source, message):
    with pytest.raises(ValueError, match=message):
        exercises.strip_solutions(source, "solutions/x.ipynb, cell 4")


@pytest.fixture
def built_course(tmp_path):
    """A scratch course with solutions/ and the exercises/ built from them."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    assert all("missing" in p for p in exercises.stale(tmp_path, ci=True))
    build = exercises.write(tmp_path)
    solutions = list((tmp_path / "solutions").glob("*/*.ipynb"))  # one exercise notebook per solution notebook
    assert len(build.written) == len(solutions) and build.kept == [] and exercises.stale(tmp_path, ci=True) == []
    return tmp_path


def edit_cell(path, old, new):
    """Replace text in a notebook's cells, as an editor would."""
    notebook = nbformat.read(path, as_version=4)
    hits = [c for c in notebook.cells if old in c.source]
    assert hits, f"{old!r} is in no cell of {path}"
    for cell in hits:
        cell.source = cell.source.replace(old, new)
    nbformat.write(notebook, path)


EX = Path("exercises/01_tensors_autodiff/01_tensors_autodiff_pytorch.ipynb")
SOL = Path("solutions/01_tensors_autodiff/01_tensors_autodiff_pytorch.ipynb")


def test_a_stale_build_fails_everywhere_and_is_rebuilt(built_course):
    edit_cell(built_course / SOL, "## 1. How the exercises work", "## 1. How these exercises work")
    stale = [f"{EX}: a stale build: differs from what `coursekit exercises build` makes of {SOL}"]
    assert exercises.stale(built_course, ci=False) == stale == exercises.stale(built_course, ci=True)
    assert exercises.write(built_course) == ([EX], [])
    assert exercises.stale(built_course, ci=True) == []


def test_a_hand_edit_is_kept_by_the_build_and_fails_the_check_only_in_ci(built_course, monkeypatch):
    edit_cell(
        built_course / EX, "    # YOUR CODE HERE\n    raise NotImplementedError", "    # my attempt\n    raise KeyError"
    )
    mine = (built_course / EX).read_bytes()
    [finding] = exercises.review(built_course)
    assert finding.by_hand and finding.message.startswith(f"{EX}: edited by hand (your work? copy it to my-work/")
    monkeypatch.delenv("CI", raising=False)
    assert exercises.stale(built_course) == []
    monkeypatch.setenv("CI", "true")
    assert exercises.stale(built_course) == [finding.message]
    edit_cell(built_course / SOL, "## 1. How the exercises work", "## 1. How these exercises work")  # and stale
    assert exercises.write(built_course) == ([], [EX]) and (built_course / EX).read_bytes() == mine
    assert exercises.write(built_course, force=True) == ([EX], [])
    assert exercises.stale(built_course, ci=True) == []


def test_an_edit_committed_to_exercises_fails_outside_ci_too(built_course):
    edit_cell(built_course / EX, "## 1. How the exercises work", "## 1. How the exercise works")
    git = ["git", "-c", "user.name=author", "-c", "user.email=author@example.org", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "edit exercises/ by hand"]):
        subprocess.run([*git, *args], cwd=built_course, check=True, capture_output=True)
    assert exercises.stale(built_course, ci=False) == [
        f"{EX}: edited by hand and committed; exercises/ is built from solutions/: make the change in {SOL}, "
        "then run `coursekit exercises build --force`"
    ]


def test_a_build_is_told_apart_from_an_edit_whatever_the_file_formatting(built_course):
    import json

    text = (built_course / EX).read_text()
    assert exercises.as_built(text)
    assert exercises.as_built(json.dumps(json.loads(text), indent=2))  # another editor's layout, same content
    data = json.loads(text)
    data["cells"][6]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ran it\n"]}]
    assert not exercises.as_built(json.dumps(data))
    assert not exercises.as_built("not a notebook")
