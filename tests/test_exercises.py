"""exercises/ is built from solutions/, and every check reports an unsolved exercise as unsolved."""

import nbformat
import pytest

from coursekit import exercises
from coursekit.course import course_notebooks
from helpers import ROOT, check_ids, execute_with_check_log, notebook_params

EXERCISES = [p for p in course_notebooks(ROOT) if p.parts[0] == "exercises"]


def test_exercises_are_what_the_generator_builds_from_solutions():
    problems = exercises.stale(ROOT)
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


def test_stale_exercises_are_reported(tmp_path):
    import shutil

    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    assert any("missing" in p for p in exercises.stale(tmp_path))
    built = exercises.write(tmp_path)
    assert built and exercises.stale(tmp_path) == []
    path = tmp_path / built[0]
    path.write_text(path.read_text().replace("YOUR CODE HERE", "my attempt"))
    assert exercises.stale(tmp_path) == [
        f"{built[0]}: differs from what `coursekit exercises build` makes of its solution"
    ]
