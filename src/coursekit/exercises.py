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

Each built notebook records, in its metadata, the solution it came from and a fingerprint of its own
content, so an exercise as last built is told apart from one edited since. A stale build (untouched,
but no longer what solutions/ makes) is the author's to rebuild; an edited one may be a learner's
answer: the build keeps it unless forced, and the check fails on it only in CI or once committed.
A learner's own copies live in my-work/ (`start`), which no build, check or course update touches.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from coursekit.anatomy import write_header
from coursekit.course import WORK_DIR, Course, NotebookId, course_notebooks, module_named

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
    import nbformat

    notebook.metadata[STAMP] = {"built_from": rel.as_posix()}  # type: ignore[attr-defined]
    notebook.metadata[STAMP]["sha256"] = fingerprint(json.loads(nbformat.writes(notebook)))  # type: ignore[attr-defined]
    return notebook


STAMP = "coursekit"  # the notebook metadata key of a build's record: {"built_from": ..., "sha256": ...}


def fingerprint(data: dict[str, Any]) -> str:
    """sha256 of a notebook's JSON without its recorded fingerprint, whatever the file's formatting."""
    data = copy.deepcopy(data)
    data.get("metadata", {}).get(STAMP, {}).pop("sha256", None)
    for cell in data.get("cells", []):
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def as_built(text: str) -> bool:
    """True when a notebook file is exactly as the build wrote it: its content matches its fingerprint."""
    try:
        data = json.loads(text)
        recorded = data["metadata"][STAMP]["sha256"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(recorded, str) and recorded == fingerprint(data)


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


class Build(NamedTuple):
    """What `write` did: the notebooks it wrote, and those it kept because they were edited by hand."""

    written: list[Path]
    kept: list[Path]


def write(root: Path, *, force: bool = False) -> Build:
    """Write exercises/ from solutions/. A notebook edited since its last build is kept unless force."""
    written, kept = [], []
    for rel, text in built(root).items():
        path = root / rel
        old = path.read_text(encoding="utf-8") if path.is_file() else None
        if old == text:
            continue
        if old is not None and not as_built(old) and not force:
            kept.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(rel)
    return Build(written, kept)


@dataclass(frozen=True)
class Finding:
    """One way exercises/ differs from what the build makes. by_hand: an edit since the last build,
    perhaps a learner's answer, so a problem only in CI or once committed."""

    path: Path
    message: str
    by_hand: bool = False


def review(root: Path) -> list[Finding]:
    """Every way exercises/ differs from what `coursekit exercises build` makes; [] when up to date."""
    expected = built(root)
    present = {rel for rel in course_notebooks(root) if rel.parts[0] == "exercises"}
    out = [Finding(rel, f"{rel}: missing") for rel in sorted(set(expected) - present)]
    out += [
        Finding(rel, f"{rel}: has no solutions notebook to be built from") for rel in sorted(present - set(expected))
    ]
    for rel in sorted(set(expected) & present):
        text = (root / rel).read_text(encoding="utf-8")
        if text == expected[rel]:
            continue
        solution = Path("solutions", *rel.parts[1:])
        if as_built(text):
            out.append(
                Finding(rel, f"{rel}: a stale build: differs from what `coursekit exercises build` makes of {solution}")
            )
        elif _committed(root, rel):
            out.append(
                Finding(
                    rel,
                    f"{rel}: edited by hand and committed; exercises/ is built from solutions/: make the change in "
                    f"{solution}, then run `coursekit exercises build --force`",
                )
            )
        else:
            module = rel.parts[1][:2]
            out.append(
                Finding(
                    rel,
                    f"{rel}: edited by hand (your work? copy it to {WORK_DIR}/ with `coursekit exercises start "
                    f"{module}`, then `coursekit exercises build --force` restores the exercise)",
                    by_hand=True,
                )
            )
    return out


def in_ci() -> bool:
    """True on a CI runner ($CI set to anything but '', 0, false or no, as CI services do)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def stale(root: Path, *, ci: bool | None = None) -> list[str]:
    """The problems of exercises/ that fail the check: all of them in CI, else all but uncommitted hand edits."""
    strict = in_ci() if ci is None else ci
    return [f.message for f in review(root) if strict or not f.by_hand]


def _committed(root: Path, rel: Path) -> bool:
    """True when git tracks rel and the file is as committed: the edit came with the course, not from a learner."""

    def git(*args: str) -> int:
        try:
            return subprocess.run(
                ["git", *args, "--", rel.as_posix()], cwd=root, capture_output=True, timeout=60
            ).returncode
        except (OSError, subprocess.TimeoutExpired):
            return 1

    return git("ls-files", "--error-unmatch") == 0 and git("diff", "--quiet", "HEAD") == 0


def start(root: Path, module: str, frameworks: list[str]) -> list[tuple[Path, bool]]:
    """Copy a module's exercise notebooks (module: a number, a name or 'all') into my-work/, at the same
    depth so links resolve; return (path, copied) per notebook, copied False where a file was kept."""
    from coursekit.course import framework

    present = [rel for rel in course_notebooks(root) if rel.parts[0] == "exercises"]
    modules = sorted({rel.parts[1] for rel in present})
    try:
        wanted = modules if module.strip().lower() == "all" else [module_named(module, modules)]
    except ValueError:
        raise ValueError(
            f"no exercises for module {module!r}: modules with exercises are {', '.join(modules) or '(none)'}, or 'all'"
        ) from None
    slugs = {framework(name).slug for name in frameworks}
    out = []
    for rel in present:
        nb = NotebookId.parse(rel)
        if nb.module in wanted and nb.framework is not None and nb.framework.slug in slugs:
            target = Path(WORK_DIR, *rel.parts[1:])
            copied = not (root / target).exists()
            if copied:
                (root / target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / rel, root / target)
            out.append((target, copied))
    return out
