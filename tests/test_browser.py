"""The course in JupyterLab in a real browser, as a learner takes it: Run All, then look at the page.

Every lesson (they all use widgets) and every exercise notebook is opened in headless Chromium,
run from the Run menu, and must show no stderr or error block, live widgets whose sliders redraw
their figure, figures where the notebook draws, no raw objects, and (exercises) the "not solved
yet" feedback. A scratch notebook with one deliberate defect per kind proves each check can fail.
Screenshots of every notebook are kept under build/browser/.
"""

from __future__ import annotations

import re
import shutil
import textwrap

import nbformat
import pytest

from coursekit.course import course_notebooks
from helpers import ROOT, notebook_params
from lab_browser import Lab, Notebook, chromium, missing, raw_reprs

if missing():
    pytest.skip(missing(), allow_module_level=True)

SHOTS = ROOT / "build" / "browser"
NOTEBOOKS = [ROOT / p for p in course_notebooks(ROOT)]
LESSONS = [p for p in NOTEBOOKS if p.parts[-3] == "notebooks"]
# Exercise notebooks: the latest module's, one per framework (older modules' exercises are checked headless
# by test_exercises.py; each notebook here costs a kernel and a page, about 20 s).
EXERCISES = sorted({p.stem.rsplit("_", 1)[-1]: p for p in NOTEBOOKS if p.parts[-3] == "exercises"}.values())


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = Lab(ROOT, tmp_path_factory.mktemp("jupyter"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chrome = playwright.chromium.launch(executable_path=chromium(), headless=True)
    yield chrome
    chrome.close()
    playwright.stop()


@pytest.fixture(scope="module")
def raw():
    return raw_reprs()


def opened(lab, browser, path, shot):
    """Open, Run All, screenshot; the caller inspects and closes."""
    notebook = Notebook(lab, browser, path)
    try:
        notebook.run_all()
    finally:
        notebook.screenshot(SHOTS / shot)
    return notebook


@pytest.mark.parametrize("path", notebook_params(LESSONS, name=lambda p: p.stem))
def test_lesson_runs_clean_in_the_browser_with_live_widgets(lab, browser, raw, path):
    notebook = opened(lab, browser, path, f"{path.stem}.png")
    try:
        problems = notebook.problems(raw) + notebook.widget_problems()
    finally:
        notebook.close()
    assert not problems, "\n".join(problems)


NOT_SOLVED = "not solved yet"


@pytest.mark.parametrize("path", notebook_params(EXERCISES, name=lambda p: f"exercises-{p.stem}"))
def test_exercise_shows_not_solved_yet_and_nothing_raw(lab, browser, raw, path):
    notebook = opened(lab, browser, path, f"exercises-{path.stem}.png")
    try:
        problems = notebook.problems(raw, expect_figures=False) + notebook.widget_problems()
        checks = [i for i, c in enumerate(notebook.cells) if re.match(r"check(\.summary)?\(", c.source.strip())]
        assert checks, f"{path.name}: no check( cells found"
        problems += [f"cell {i}: no visible {NOT_SOLVED!r}" for i in checks if not notebook.visible_text(i, NOT_SOLVED)]
    finally:
        notebook.close()
    assert not problems, "\n".join(problems)


# A scratch notebook, served by the same JupyterLab, with one deliberate defect per cell: each must be reported.
DEFECTS = {
    "stderr": 'import sys\n\nprint("a deliberate warning", file=sys.stderr)',
    "widget-as-text": textwrap.dedent("""\
        import ipywidgets

        display({"text/plain": repr(ipywidgets.IntSlider(description="n"))}, raw=True)"""),
    "widget-not-found": textwrap.dedent("""\
        view = {"model_id": "0" * 32, "version_major": 2, "version_minor": 0}
        display({"application/vnd.jupyter.widget-view+json": view, "text/plain": "IntSlider(value=0)"}, raw=True)"""),
    "dead-slider": textwrap.dedent("""\
        from coursekit.plots import curves, explore

        fixed = curves({"flat": [1.0, 2.0, 3.0]}, xlabel="step", ylabel="loss")
        explore(lambda k: fixed, k=[1, 2, 3])"""),
    "raw-object": 'from coursekit.checks.core import Verdict\n\nVerdict("01.1", "pytorch", "unsolved", "")',
    "error": 'raise ValueError("a deliberate error")',  # last: Run All stops here
}
EXPECTED = {
    "stderr": "stderr or error block: a deliberate warning",
    "widget-as-text": "a widget shown as text, not live: IntSlider(",
    "widget-not-found": "a widget shown as text, not live",
    "dead-slider": "pressed ArrowRight on slider 'k', but the figure did not change",
    "raw-object": "a raw object echoed (Verdict()",
    "error": "stderr or error block: ",
}


@pytest.fixture(scope="module")
def scratch_problems(lab, browser, raw):
    folder = ROOT / "build" / "browser" / "scratch"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "defects.ipynb"
    cells = [nbformat.v4.new_markdown_cell("# Deliberate defects")]
    cells += [nbformat.v4.new_code_cell(source) for source in DEFECTS.values()]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(notebook, path)
    opened_notebook = opened(lab, browser, path, "scratch-defects.png")
    try:
        return opened_notebook.problems(raw) + opened_notebook.widget_problems(timeout_s=10)
    finally:
        opened_notebook.close()
        shutil.rmtree(folder)


@pytest.mark.parametrize("defect", DEFECTS)
def test_a_deliberate_defect_fails_the_browser_check(scratch_problems, defect):
    cell = list(DEFECTS).index(defect) + 1
    mine = [p for p in scratch_problems if re.search(rf"defects\.ipynb cell {cell}\b", p)]
    assert any(EXPECTED[defect] in p for p in mine), f"cell {cell} ({defect}) was not reported: {scratch_problems}"
