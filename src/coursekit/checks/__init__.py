"""Exercise checks: call the learner's code on inputs of their own, compare with an independent
reference, and say what is wrong in one sentence.

In a notebook:

    from coursekit.checks import checker
    check = checker("pytorch")       # or "tensorflow"
    ...
    check("01.3", derivative)        # ✓ passed / ○ not solved yet / ✗ what is wrong

The checks of exercise "NN.k" live in coursekit.checks.mNN, imported on first use: a module lists
its exercises in EXERCISES and its framework bindings in OPS, and nothing else needs editing.
An unsolved stub (code that raises NotImplementedError) prints "not solved yet" and the notebook
goes on. A wrong answer raises CheckFailed, shown as its message alone, without a traceback.
`check(...)` returns None (Jupyter shows nothing under the cell); the verdicts stay in
`check.verdicts`. When $COURSEKIT_CHECK_LOG names a file, each verdict is appended to it as a JSON
line: the tests read it to prove that solutions pass and that unsolved exercises are reported as unsolved.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
from types import ModuleType
from typing import Any

from coursekit.checks.core import CheckFailed, Exercise, Ops, Verdict, Wrong, one_line
from coursekit.frameworks import canonical, require
from coursekit.tables import Table

EXERCISE_ID = re.compile(r"^(?P<module>\d\d)\.\d+$")


def check_modules() -> list[str]:
    """The modules that have checks, by number: ['01', ...]."""
    import coursekit.checks as package

    return sorted(m.name[1:] for m in pkgutil.iter_modules(package.__path__) if re.fullmatch(r"m\d\d", m.name))


def exercise_module(exercise: str) -> ModuleType:
    """The module of checks that exercise "NN.k" belongs to; ValueError naming what exists if none does."""
    match = EXERCISE_ID.match(str(exercise))
    known = check_modules()
    if not match:
        raise ValueError(
            f"unknown exercise {exercise!r}: an exercise id looks like '01.3' (module 01, "
            f"exercise 3); modules with checks: {', '.join(known)}"
        )
    if match["module"] not in known:
        raise ValueError(
            f"unknown exercise {exercise!r}: module {match['module']} has no checks; "
            f"modules with checks: {', '.join(known)}"
        )
    return importlib.import_module(f"coursekit.checks.m{match['module']}")


class Checker:
    """Runs exercise checks for one framework and remembers this session's verdicts."""

    def __init__(self, framework: str) -> None:
        self.framework = canonical(framework)
        require(self.framework)  # a missing framework is said now, not at the first check
        self.verdicts: dict[str, Verdict] = {}
        self.titles: dict[str, str] = {}
        self._ops: dict[str, Ops] = {}

    def _find(self, exercise: str) -> tuple[Exercise, Ops]:
        module = exercise_module(exercise)
        exercises = {ex.id: ex for ex in module.EXERCISES}
        if exercise not in exercises:
            raise ValueError(f"unknown exercise {exercise!r}: expected one of {', '.join(exercises)}")
        if module.__name__ not in self._ops:
            self._ops[module.__name__] = module.OPS[self.framework]()
        return exercises[exercise], self._ops[module.__name__]

    def __call__(self, exercise: str, answer: Any) -> None:
        ex, ops = self._find(exercise)
        self.titles[ex.id] = ex.title
        try:
            ex.run(ops, answer)
        except NotImplementedError:
            message = "not solved yet: write your code in the cell above, run that cell, then this one."
            self._record(ex, ops, "unsolved", message)
            print(f"○ {ex.id} {ex.title}: {message}\n  Hint: {ex.hint}")
            return
        except Wrong as wrong:
            self._fail(ex, ops, str(wrong))
        except Exception as err:
            self._fail(ex, ops, f"running your code raised {one_line(err)}")
        self._record(ex, ops, "passed", "")
        print(f"✓ {ex.id} {ex.title}: passed.")

    def _fail(self, ex: Exercise, ops: Ops, message: str) -> None:
        self._record(ex, ops, "failed", message)
        raise CheckFailed(f"✗ {ex.id} {ex.title}: {message}\n  Hint: {ex.hint}") from None

    def _record(self, ex: Exercise, ops: Ops, status: str, message: str) -> None:
        verdict = Verdict(ex.id, ops.name, status, message)
        self.verdicts[ex.id] = verdict
        log = os.environ.get("COURSEKIT_CHECK_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps(verdict.__dict__) + "\n")

    def summary(self) -> Table:
        """This session's verdicts, one row per exercise checked."""
        marks = {"passed": "✓ passed", "unsolved": "○ not solved yet", "failed": "✗ not yet right"}
        rows = [[v.exercise, self.titles[v.exercise], marks[v.status]] for v in self.verdicts.values()]
        solved = sum(v.status == "passed" for v in self.verdicts.values())
        return Table(["exercise", "what", "status"], rows, f"{solved} of {len(rows)} solved")


def checker(framework: str) -> Checker:
    """A `check(exercise_id, answer)` function for the exercises of one framework's notebook."""
    return Checker(framework)


__all__ = ["CheckFailed", "Checker", "Exercise", "Verdict", "Wrong", "check_modules", "checker"]
