"""The two exceptions of the checks: Wrong inside a check, CheckFailed shown to the learner."""

from __future__ import annotations


class Wrong(Exception):
    """Raised inside a check: the answer is wrong, and the message says how, in one sentence."""


class CheckFailed(AssertionError):
    """A wrong answer, shown in Jupyter as its message only: the learner needs no traceback into coursekit."""

    def _render_traceback_(self) -> list[str]:  # IPython calls this instead of printing a traceback
        return [f"\x1b[31m{line}\x1b[0m" for line in str(self).splitlines()]
