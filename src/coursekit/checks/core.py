"""What every module's checks share: exercises, verdicts, the two exceptions, value comparison, and
the framework bindings each module extends with the few operations its own checks need.

Imports nothing from coursekit.checks: the modules mNN.py import this, never the other way round.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from coursekit.frameworks import require


class Wrong(Exception):
    """Raised inside a check: the answer is wrong, and the message says how, in one sentence."""


class CheckFailed(AssertionError):
    """A wrong answer, shown in Jupyter as its message only: the learner needs no traceback into coursekit."""

    def _render_traceback_(self) -> list[str]:  # IPython calls this instead of printing a traceback
        return [f"\x1b[31m{line}\x1b[0m" for line in str(self).splitlines()]


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id, a short title, a hint for the stuck, and the function that checks it."""

    id: str
    title: str
    hint: str
    run: Callable[[Any, Any], None]  # (the module's Ops, the answer); raises Wrong when the answer is wrong


@dataclass(frozen=True)
class Verdict:
    """What a check concluded: status is 'passed', 'unsolved' or 'failed'."""

    exercise: str
    framework: str
    status: str
    message: str


def describe(value: Any) -> str:
    """'a tensor of shape (3, 4)' or the value's type, for messages."""
    shape = getattr(value, "shape", None)
    return f"a tensor of shape {tuple(shape)}" if shape is not None else f"{type(value).__name__} {value!r}"


def one_line(err: BaseException) -> str:
    """An exception as 'TypeName: first line of its message', short enough for a one-sentence verdict."""
    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(err).__name__}: {first[:240]}" if first else type(err).__name__


def position(idx: tuple[Any, ...]) -> str:
    """An index as plain Python: 3 or (1, 2), never np.int64(3)."""
    plain = tuple(int(i) for i in idx)
    return str(plain[0]) if len(plain) == 1 else str(plain)


def close(
    got: ArrayLike, expected: ArrayLike, what: str, x: np.ndarray | None = None, rtol: float = 1e-4, atol: float = 1e-5
) -> None:
    """Raise Wrong naming the first value that differs (and where), if any does."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol)
    if bad.any():
        idx = tuple(np.argwhere(bad)[0])
        where = f" at x = {x[idx]:.3g}" if x is not None else (f" at index {position(idx)}" if idx else "")
        raise Wrong(
            f"{what} is off{where}: expected {expected[idx]:.5g}, got {got[idx]:.5g}"
            + (f" ({int(bad.sum())} of {bad.size} values differ)" if bad.size > 1 else "")
        )


def letter_then(ops: Ops, answer: Any, names: tuple[str, str], right: str, reasons: str | dict[str, str]) -> Any:
    """A 'why, then do it' exercise's pair (why_fn, fn): check the letter why_fn returns, and hand back fn.

    `reasons` says why a wrong letter is wrong: one sentence for any, or one for each wrong letter (then a
    letter that is none of the choices is named as such).
    """
    if not (isinstance(answer, tuple) and len(answer) == 2):
        raise Wrong(f"expected the pair ({names[0]}, {names[1]}), got {describe(answer)}")
    why, fn = answer
    got = ops.call(why)
    if got is None:
        raise Wrong(f"{names[0]}() returned None: return the letter, e.g. return 'A'")
    letter = str(got).strip().upper()
    if letter == right:
        return fn
    if isinstance(reasons, str):
        raise Wrong(f"{got!r} is not why: {reasons}")
    if letter in reasons:
        raise Wrong(f"{got!r} is not why: {reasons[letter]}")
    raise Wrong(f"expected one of the letters {', '.join(sorted([*reasons, right]))}, got {got!r}")


def fastest(ops: Ops, fn: Any, *args: Any, repeats: int = 3) -> float:
    """The fastest of a few calls of the learner's fn(*args), in seconds: how checks tell a loop from a vectorised
    answer by how its time grows with the input (the fastest call is the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        ops.call(fn, *args)
        best = min(best, time.perf_counter() - start)
    return best


class Ops:
    """Framework-neutral operations of the checks; TorchOps and TensorFlowOps bind them, and each
    module's checks subclass those with the operations that module alone needs."""

    name = ""
    tensor_type: Any = None

    def tensor(self, array: Any) -> Any:
        """A tensor of the framework from NumPy: float32 for real numbers, int64 for integers."""
        raise NotImplementedError

    def to_numpy(self, value: Any) -> np.ndarray:
        """A tensor's values as NumPy (detached, on the host)."""
        raise NotImplementedError

    @staticmethod
    def array(array: Any) -> np.ndarray:
        values = np.asarray(array)
        return values.astype(np.int64 if values.dtype.kind in "iub" else np.float32)

    @contextmanager
    def learner(self, what: str) -> Iterator[None]:
        """Run the learner's code: an exception in it becomes Wrong, one sentence naming `what` raised it.

        Their NotImplementedError passes through: it is the stub, and means "not solved yet".
        """
        try:
            yield
        except (NotImplementedError, Wrong):
            raise
        except Exception as err:
            raise Wrong(f"{what} raised {one_line(err)}") from None

    def call(self, fn: Any, *args: Any) -> Any:
        """Call the learner's function; an exception in it becomes a sentence naming the inputs."""
        if not callable(fn):
            raise Wrong(f"expected a function, got {describe(fn)}")
        inputs = ", ".join(describe(a) if hasattr(a, "shape") else type(a).__name__ for a in args)
        with self.learner(f"calling it with ({inputs})"):
            return fn(*args)

    def result(self, value: Any, shape: tuple[int, ...], what: str = "the result") -> np.ndarray:
        """Check that value is a tensor of this framework with the given shape; return it as float64 NumPy."""
        if value is None:
            raise Wrong(f"{what} is None: did you forget to `return` it?")
        if not isinstance(value, self.tensor_type):
            raise Wrong(f"{what} should be a {self.name} tensor, got {type(value).__name__}")
        got = tuple(value.shape)
        if got != shape:
            raise Wrong(f"expected {what} of shape {shape}, got {got}")
        return self.to_numpy(value).astype(np.float64)


class TorchOps(Ops):
    name = "pytorch"

    def __init__(self) -> None:
        self.torch = require("torch")
        self.tensor_type = self.torch.Tensor

    def tensor(self, array: Any) -> Any:
        return self.torch.tensor(self.array(array))

    def to_numpy(self, value: Any) -> np.ndarray:
        return value.detach().cpu().numpy()


class TensorFlowOps(Ops):
    name = "tensorflow"

    def __init__(self) -> None:
        self.tf = require("tensorflow")
        self.tensor_type = (self.tf.Tensor, self.tf.Variable)

    def tensor(self, array: Any) -> Any:
        return self.tf.constant(self.array(array))

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value.numpy())
