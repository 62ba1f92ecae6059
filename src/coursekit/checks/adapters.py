"""The little each check needs from a framework: make tensors, read them back, take gradients.

Checks are written once against `Ops`; the learner's answer is always called through `Ops.call`,
so an exception in their code becomes a sentence that names the inputs, not a traceback.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks.errors import Wrong
from coursekit.frameworks import canonical, require


def describe(value: Any) -> str:
    """'a tensor of shape (3, 4)' or the value's type, for messages."""
    shape = getattr(value, "shape", None)
    return f"a tensor of shape {tuple(shape)}" if shape is not None else f"{type(value).__name__} {value!r}"


class Ops(ABC):
    """Framework-neutral operations used by the checks; subclasses bind torch or TensorFlow."""

    name = ""
    tensor_type: Any = None

    @abstractmethod
    def tensor(self, array: Any) -> Any:
        """A float32 tensor of the framework from a NumPy array or nested list."""

    @abstractmethod
    def to_numpy(self, value: Any) -> np.ndarray:
        """A tensor's values as NumPy (detached, on the host)."""

    @abstractmethod
    def sin(self, value: Any) -> Any:
        """The framework's elementwise sine (for functions the checks differentiate)."""

    @abstractmethod
    def value_and_grad(self, fn: Callable[[Any], Any], x: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """fn(x) and the gradient of sum(weights * fn(x)) with respect to x, via the framework's autodiff."""

    def call(self, fn: Any, *args: Any) -> Any:
        """Call the learner's function; their NotImplementedError passes through (= not solved yet)."""
        if not callable(fn):
            raise Wrong(f"expected a function, got {describe(fn)}")
        try:
            return fn(*args)
        except NotImplementedError:
            raise
        except Exception as err:
            inputs = ", ".join(describe(a) if hasattr(a, "shape") else type(a).__name__ for a in args)
            raise Wrong(f"calling it with ({inputs}) raised {type(err).__name__}: {err}") from None

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
        return self.torch.tensor(np.asarray(array, dtype=np.float32))

    def to_numpy(self, value: Any) -> np.ndarray:
        return value.detach().cpu().numpy()

    def sin(self, value: Any) -> Any:
        return self.torch.sin(value)

    def value_and_grad(self, fn, x, weights):
        xt = self.tensor(x).requires_grad_(True)
        y = self.call(fn, xt)
        out = self.result(y, tuple(x.shape), "the output")
        if not y.requires_grad:
            raise Wrong("no gradient can flow back to x: the output is cut off from it "
                        "(a .detach() or torch.no_grad() too many?)")
        (y * self.tensor(weights)).sum().backward()
        return out, xt.grad.numpy().astype(np.float64)


class TensorFlowOps(Ops):
    name = "tensorflow"

    def __init__(self) -> None:
        self.tf = require("tensorflow")
        self.tensor_type = (self.tf.Tensor, self.tf.Variable)

    def tensor(self, array: Any) -> Any:
        return self.tf.constant(np.asarray(array, dtype=np.float32))

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value.numpy())

    def sin(self, value: Any) -> Any:
        return self.tf.sin(value)

    def value_and_grad(self, fn, x, weights):
        xt = self.tensor(x)
        with self.tf.GradientTape() as tape:
            tape.watch(xt)
            y = self.call(fn, xt)
            out = self.result(y, tuple(x.shape), "the output")
            total = self.tf.reduce_sum(y * self.tensor(weights))
        # An op without a gradient (tf.round) or a stopped path gives None: count it as zero, as torch does.
        grad = tape.gradient(total, xt, unconnected_gradients=self.tf.UnconnectedGradients.ZERO)
        return out, grad.numpy().astype(np.float64)


def ops_for(framework: str) -> Ops:
    """The adapter of a framework ('pytorch'/'torch' or 'tensorflow'/'tf')."""
    return TorchOps() if canonical(framework) == "torch" else TensorFlowOps()
