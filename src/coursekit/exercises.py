"""Build exercises/ from solutions/: solution blocks become a stub that raises NotImplementedError.

Markers are nbgrader's, which instructors already know:

    def sigmoid_grad(x):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

becomes

    def sigmoid_grad(x):
        # YOUR CODE HERE
        raise NotImplementedError("replace this line with your code")

Hints do not live in the stub: each exercise is followed by a markdown cell of tiered hints (the
idea, the API, the code) in collapsed <details> blocks, which the learner opens one at a time.

A block must sit inside a function body, so every stub stays valid Python, the notebook runs top to
bottom, and the exercise's check reports "not solved yet" instead of a traceback.
"""

from __future__ import annotations

import copy
from pathlib import Path

from coursekit.anatomy import write_header
from coursekit.course import Course, NotebookId, course_notebooks

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = 'raise NotImplementedError("replace this line with your code")'


def strip_solutions(source: str, where: str) -> str:
    """The cell's source with every solution block replaced by its stub; ValueError on a bad block."""
    out: list[str] = []
    inside, indent, start = False, "", 0
    for number, line in enumerate(source.split("\n"), 1):
        text = line.strip()
        if text == BEGIN:
            if inside:
                raise ValueError(f"{where}, line {number}: {BEGIN} inside another solution block (line {start})")
            inside, start = True, number
            indent = line[: len(line) - len(line.lstrip())]
            if not indent:
                raise ValueError(
                    f"{where}, line {number}: a solution block must sit inside a function body "
                    "(indented), so that the exercise's stub is valid Python that runs"
                )
        elif text == END:
            if not inside:
                raise ValueError(f"{where}, line {number}: {END} without {BEGIN}")
            out += [f"{indent}# YOUR CODE HERE", f"{indent}{STUB}"]
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}, line {start}: {BEGIN} without {END}")
    return "\n".join(out)


def build(solution: object, rel: Path, course: Course) -> object:
    """The exercise notebook made from a solution notebook (rel: the solution's path in the course)."""
    notebook = copy.deepcopy(solution)
    blocks = 0
    for i, cell in enumerate(notebook.cells):  # type: ignore[attr-defined]
        if cell.cell_type == "code" and BEGIN in cell.source:
            cell.source = strip_solutions(cell.source, f"{rel}, cell {i + 1}")
            blocks += 1
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if not blocks:
        raise ValueError(f"{rel}: a solutions notebook needs at least one {BEGIN} ... {END} block")
    target = Path("exercises", *rel.parts[1:])
    write_header(notebook, NotebookId.parse(target), course)
    return notebook


def built(root: Path) -> dict[Path, str]:
    """Every exercise notebook as the generator makes it, keyed by its path in the course."""
    import nbformat

    course = Course.from_pyproject(root)
    out = {}
    for rel in course_notebooks(root):
        if rel.parts[0] == "solutions":
            notebook = build(nbformat.read(root / rel, as_version=4), rel, course)
            out[Path("exercises", *rel.parts[1:])] = nbformat.writes(notebook) + "\n"
    return out


def write(root: Path) -> list[Path]:
    """Write exercises/ from solutions/; return the notebooks that changed."""
    changed = []
    for rel, text in built(root).items():
        path = root / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(rel)
    return changed


def stale(root: Path) -> list[str]:
    """How exercises/ differs from what the generator builds; [] when it is up to date."""
    expected = built(root)
    present = {rel for rel in course_notebooks(root) if rel.parts[0] == "exercises"}
    problems = [f"{rel}: missing" for rel in sorted(set(expected) - present)]
    problems += [f"{rel}: has no solutions notebook to be built from" for rel in sorted(present - set(expected))]
    problems += [
        f"{rel}: differs from what `coursekit exercises build` makes of its solution"
        for rel in sorted(set(expected) & present)
        if (root / rel).read_text(encoding="utf-8") != expected[rel]
    ]
    return problems
