"""Exercise checks: call the learner's code on inputs of their own, compare with an independent
reference, and say what is wrong in one sentence.

In a notebook:

    from coursekit.checks import checker
    check = checker("pytorch")       # or "tensorflow"
    ...
    check("01.3", sigmoid_grad)      # ✓ passed / ○ not solved yet / ✗ what is wrong

An unsolved stub (code that raises NotImplementedError) prints "not solved yet" and the notebook
goes on. A wrong answer raises CheckFailed, shown as its message alone, without a traceback.
When $COURSEKIT_CHECK_LOG names a file, each verdict is appended to it as a JSON line: the tests
read it to prove that solutions pass and that unsolved exercises are reported as unsolved.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coursekit.checks.adapters import Ops, ops_for
from coursekit.checks.errors import CheckFailed, Wrong
from coursekit.tables import Table


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id, a short title, a hint for the stuck, and the function that checks it."""

    id: str
    title: str
    hint: str
    run: Callable[[Ops, Any], None]  # raises Wrong when the answer is wrong


@dataclass(frozen=True)
class Verdict:
    """What a check concluded: status is 'passed', 'unsolved' or 'failed'."""

    exercise: str
    framework: str
    status: str
    message: str


def _registry() -> dict[str, Exercise]:
    from coursekit.checks import m01

    return {ex.id: ex for ex in m01.EXERCISES}


class Checker:
    """Runs exercise checks for one framework and remembers this session's verdicts."""

    def __init__(self, framework: str) -> None:
        self.ops = ops_for(framework)
        self.verdicts: dict[str, Verdict] = {}

    def __call__(self, exercise: str, answer: Any) -> Verdict:
        registry = _registry()
        if exercise not in registry:
            raise ValueError(f"unknown exercise {exercise!r}: expected one of {', '.join(registry)}")
        ex = registry[exercise]
        try:
            ex.run(self.ops, answer)
        except NotImplementedError:
            verdict = self._record(ex, "unsolved", "not solved yet: write your code in the cell above, "
                                   "run that cell, then this one.")
            print(f"○ {ex.id} {ex.title}: {verdict.message}\n  Hint: {ex.hint}")
            return verdict
        except Wrong as wrong:
            self._record(ex, "failed", str(wrong))
            raise CheckFailed(f"✗ {ex.id} {ex.title}: {wrong}\n  Hint: {ex.hint}") from None
        verdict = self._record(ex, "passed", "")
        print(f"✓ {ex.id} {ex.title}: passed.")
        return verdict

    def _record(self, ex: Exercise, status: str, message: str) -> Verdict:
        verdict = Verdict(ex.id, self.ops.name, status, message)
        self.verdicts[ex.id] = verdict
        log = os.environ.get("COURSEKIT_CHECK_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps(verdict.__dict__) + "\n")
        return verdict

    def summary(self) -> Table:
        """This session's verdicts, one row per exercise checked."""
        marks = {"passed": "✓ passed", "unsolved": "○ not solved yet", "failed": "✗ not yet right"}
        registry = _registry()
        rows = [[v.exercise, registry[v.exercise].title, marks[v.status]] for v in self.verdicts.values()]
        solved = sum(v.status == "passed" for v in self.verdicts.values())
        return Table(["exercise", "what", "status"], rows, f"{solved} of {len(rows)} solved")


def checker(framework: str) -> Checker:
    """A `check(exercise_id, answer)` function for the exercises of one framework's notebook."""
    return Checker(framework)


__all__ = ["CheckFailed", "Checker", "Exercise", "Verdict", "Wrong", "checker"]
