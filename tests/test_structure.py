"""Every notebook follows the anatomy and has a twin with the same headings; the checks can fail."""

import shutil

import nbformat
import pytest

from coursekit.anatomy import headings, tree_problems, write_tree
from coursekit.course import Course, NotebookId, course_notebooks
from helpers import ROOT, run_python


def test_the_course_follows_its_anatomy():
    assert course_notebooks(ROOT), "no notebooks found"
    problems = tree_problems(ROOT)
    assert not problems, "\n".join(problems)


def test_lesson_twins_have_identical_headings_ending_in_the_closing_sections():
    for rel in course_notebooks(ROOT):
        nb = NotebookId.parse(rel)
        if nb.twin is None:  # a course-level notebook (the scorecard) has no twin and sections of its own
            continue
        mine = headings(nbformat.read(ROOT / rel, as_version=4))
        assert mine[-3:] == ["Side by side", "Results", "Summary"], rel
        assert mine == headings(nbformat.read(ROOT / nb.twin, as_version=4)), rel


@pytest.fixture
def course(tmp_path):
    """A copy of the course's notebooks in a scratch tree, to break on purpose."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for kind in ("notebooks", "exercises", "solutions"):
        shutil.copytree(ROOT / kind, tmp_path / kind)
    assert tree_problems(tmp_path) == []
    return tmp_path


def edit(path, change):
    notebook = nbformat.read(path, as_version=4)
    change(notebook)
    nbformat.write(notebook, path)


def test_fails_on_an_objective_listed_twice(course):
    path = course / "notebooks/00_setup/00_setup_tensorflow.ipynb"
    title = nbformat.read(path, as_version=4).cells[0].source
    first = next(line for line in title.split("\n") if line.startswith("- "))
    edit(path, lambda nb: nb.cells[0].update(source=nb.cells[0].source.replace(first, f"{first}\n{first}")))
    assert any(f"lists an objective more than once: {first!r}" in p for p in tree_problems(course))


def test_fails_on_a_notebook_without_a_parameters_cell(course):
    path = course / "notebooks/00_setup/00_setup_pytorch.ipynb"
    edit(path, lambda nb: nb.cells[2].metadata.update(tags=[]))
    assert any("parameters cell must be cell 3" in p for p in tree_problems(course))


def test_fails_on_twins_whose_headings_differ(course):
    path = course / "notebooks/00_setup/00_setup_tensorflow.ipynb"

    def rename(nb):
        cell = next(c for c in nb.cells if c.source.startswith("## 2."))
        cell.source = cell.source.replace("## 2. Which devices the framework sees", "## 2. Devices")

    edit(path, rename)
    found = "\n".join(tree_problems(course))
    assert "section headings differ from its twin 00_setup_tensorflow.ipynb" in found
    assert "section 2: PyTorch 'Which devices the framework sees' vs TensorFlow 'Devices'" in found


def test_fails_on_a_missing_twin(course):
    (course / "notebooks/00_setup/00_setup_tensorflow.ipynb").unlink()
    assert any("its twin notebooks/00_setup/00_setup_tensorflow.ipynb is missing" in p for p in tree_problems(course))


def test_fails_on_stale_headers_outputs_and_bad_parameters_and_write_mends_headers(course):
    path = course / "notebooks/00_setup/00_setup_pytorch.ipynb"

    def damage(nb):
        nb.cells[0].source = nb.cells[0].source.replace("Open in Colab", "Colab")
        nb.cells[1].source += "\nprint('edited by hand')"
        nb.cells[2].source += "\nsize = compute_size()"
        nb.cells[4].outputs = [nbformat.v4.new_output("stream", text="left over")]

    edit(path, damage)
    found = "\n".join(tree_problems(course))
    for expected in (
        "title cell is not the generated title",
        "not the generated setup cell",
        "may only assign literal values",
        "cell 5 carries outputs",
    ):
        assert expected in found
    assert write_tree(course) == [path.relative_to(course)]
    left = "\n".join(tree_problems(course))
    assert "title cell" not in left and "setup cell" not in left


def test_fails_on_a_dead_link_and_on_a_lesson_that_does_not_link_its_exercises(course):
    lesson = course / "notebooks/01_tensors_autodiff/01_tensors_autodiff_pytorch.ipynb"

    def unlink_exercises(nb):
        summary = nb.cells[-1]
        summary.source = summary.source.replace("../../exercises/", "../../exercises-gone/")

    edit(lesson, unlink_exercises)
    found = "\n".join(tree_problems(course))
    assert (
        "the link '../../exercises-gone/01_tensors_autodiff/01_tensors_autodiff_pytorch.ipynb' points at no file"
        in found
    )
    assert "01_tensors_autodiff_pytorch.ipynb: the Summary does not link to its exercises" in found


def test_misplaced_notebooks_are_named(course):
    (course / "notebooks/00_setup/scratch.ipynb").write_text(
        (course / "notebooks/00_setup/00_setup_pytorch.ipynb").read_text()
    )
    assert any("scratch.ipynb: a course notebook lives at" in p for p in tree_problems(course))


def test_setup_cell_does_nothing_where_coursekit_is_installed_and_explains_where_it_is_not():
    from coursekit.anatomy import setup_source

    source = setup_source(Course.from_pyproject(ROOT))
    assert run_python(source + "\nprint('ok')").stdout.strip() == "ok"
    out = run_python(source, hide=("coursekit",))
    assert out.returncode == 1 and "ModuleNotFoundError: coursekit is not installed" in out.stderr
    assert "`make lab`" in out.stderr


def test_badges_and_setup_come_from_the_one_repository_setting():
    course = Course.from_pyproject(ROOT)
    nb = NotebookId.parse(course_notebooks(ROOT)[0])
    first = nbformat.read(ROOT / nb.path, as_version=4).cells[:2]
    assert f"colab.research.google.com/github/{course.slug}/blob/{course.ref}/{nb.path.as_posix()}" in first[0].source
    assert f"mybinder.org/v2/gh/{course.slug}/{course.ref}?urlpath=lab/tree/{nb.path.as_posix()}" in first[0].source
    assert f"git+{course.repository}@{course.ref}" in first[1].source


def test_a_course_level_notebook_has_its_own_anatomy_and_no_twin(course):
    scorecard = nbformat.v4.new_notebook()
    scorecard.cells = [
        nbformat.v4.new_markdown_cell("# x\n\n**Objectives**\n\n- compare\n\n**Run time**: 5 s"),
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("## 1. Gather\n\n## 2. Summary"),
    ]
    nbformat.write(scorecard, course / "notebooks/scorecard.ipynb")
    found = tree_problems(course)
    assert found == [
        "notebooks/scorecard.ipynb: the title cell is not the generated title and badges: "
        "run `coursekit anatomy --write`",
        "notebooks/scorecard.ipynb: cell 2 is not the generated setup cell: run `coursekit anatomy --write`",
        "notebooks/scorecard.ipynb: the parameters cell must be cell 3, tagged 'parameters' (found: cells [2])",
    ]
    write_tree(course)
    assert tree_problems(course) == []
    title = nbformat.read(course / "notebooks/scorecard.ipynb", as_version=4).cells[0].source
    assert (
        title.startswith("# Scorecard: the two frameworks on your machine\n\n[![Open in Colab]")
        and "Twin:" not in title
    )


def test_an_unknown_course_level_notebook_is_named(course):
    shutil.copy(ROOT / "notebooks/00_setup/00_setup_pytorch.ipynb", course / "notebooks/scratch.ipynb")
    assert any(
        "notebooks/scratch.ipynb: a course-level notebook must be one of notebooks/scorecard.ipynb" in p
        for p in tree_problems(course)
    )
