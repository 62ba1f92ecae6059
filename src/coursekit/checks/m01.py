"""Checks of module 01 (tensors and autodiff). Each one compares with NumPy or a closed form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks import Exercise
from coursekit.checks.adapters import Ops
from coursekit.checks.errors import Wrong


def close(got: np.ndarray, expected: np.ndarray, what: str, x: np.ndarray | None = None) -> None:
    """Raise Wrong naming the first value that differs (and where), if any does."""
    bad = ~np.isclose(got, expected, rtol=1e-4, atol=1e-5)
    if bad.any():
        idx = tuple(np.argwhere(bad)[0])
        where = f" at x = {x[idx]:.3g}" if x is not None else f" at index {idx if len(idx) > 1 else idx[0]}"
        raise Wrong(f"{what} is off{where}: expected {expected[idx]:.5g}, got {got[idx]:.5g} "
                    f"({int(bad.sum())} of {bad.size} values differ)")


def standardize(ops: Ops, fn: Any) -> None:
    x = np.random.default_rng(11).normal(3.0, 2.0, size=(6, 3)) * np.array([1.0, 10.0, 0.1])
    x_in = ops.tensor(x)
    got = ops.result(ops.call(fn, x_in), (6, 3))
    if not np.allclose(ops.to_numpy(x_in), x.astype(np.float32)):
        raise Wrong("your function changed its input in place; return a new tensor instead")
    mean = x.mean(axis=0)
    if np.allclose(got, (x - mean) / x.std(axis=0, ddof=1), atol=1e-4):
        raise Wrong("you divided by the sample standard deviation (n − 1, torch.std's default); use the "
                    "population one (divide by n): torch.std(..., correction=0) or tf.math.reduce_std")
    if np.allclose(got, (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True), atol=1e-4):
        raise Wrong("you standardized each row; standardize each column (reduce over dim/axis 0)")
    if np.allclose(got, x - mean, atol=1e-4):
        raise Wrong("the columns have mean 0, but you did not divide by their standard deviation")
    close(got, (x - mean) / x.std(axis=0), "the standardized value")


def pairwise_sq_dists(ops: Ops, fn: Any) -> None:
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
    out = ops.call(fn, ops.tensor(a), ops.tensor(b))
    if tuple(getattr(out, "shape", ())) == (6, 4):
        raise Wrong("expected shape (4, 6), one row per point of a and one column per point of b; "
                    "got (6, 4): the result is transposed")
    got = ops.result(out, (4, 6))
    expected = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)
    if np.allclose(got, np.sqrt(expected), atol=1e-4):
        raise Wrong("these are distances; the exercise asks for squared distances (no square root)")
    close(got, expected, "the squared distance")


def sigmoid_grad(ops: Ops, fn: Any) -> None:
    x = np.linspace(-4.0, 4.0, 7)
    got = ops.result(ops.call(fn, ops.tensor(x)), (7,))
    sig = 1.0 / (1.0 + np.exp(-x))
    expected = sig * (1.0 - sig)
    if np.allclose(got, sig, atol=1e-4):
        raise Wrong("these are the sigmoid's values, not its derivative")
    ratio = got / expected
    if np.allclose(ratio, ratio[0], rtol=1e-3) and not np.isclose(ratio[0], 1.0, rtol=1e-3):
        raise Wrong(f"off by a factor of {ratio[0]:.3g} at every x (at x = {x[0]:g}: expected "
                    f"{expected[0]:.5f}, got {got[0]:.5f})")
    close(got, expected, "the derivative", x)


def second_derivative(ops: Ops, fn: Any) -> None:
    x = np.array([-1.5, -0.5, 0.5, 2.0])
    cases: list[tuple[str, Callable[[Any], Any], np.ndarray, np.ndarray]] = [
        ("x**3", lambda t: t**3, 3 * x**2, 6 * x),
        ("sin(x)", ops.sin, np.cos(x), -np.sin(x)),
    ]
    for name, f, first, second in cases:
        got = ops.result(ops.call(fn, f, ops.tensor(x)), (4,), f"f''(x) for f(x) = {name}")
        if np.allclose(got, first, rtol=1e-4, atol=1e-5):
            raise Wrong(f"for f(x) = {name} you returned the first derivative f'(x); differentiate it once "
                        "more (torch: create_graph=True on the first grad; TensorFlow: a tape inside a tape)")
        close(got, second, f"f''(x) for f(x) = {name}", x)


def straight_through_round(ops: Ops, fn: Any) -> None:
    x = np.array([-1.7, -0.2, 0.4, 1.3, 2.6])
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    value, grad = ops.value_and_grad(fn, x, weights)
    close(value, np.round(x), "the forward value (it should be round(x))", x)
    if np.allclose(grad, 0.0):
        raise Wrong("the gradient is zero everywhere: round() has zero gradient almost everywhere, so "
                    "let the gradient pass straight through instead")
    close(grad, weights, "the gradient (it should pass through unchanged, d/dx = 1)", x)


def clip_grad(ops: Ops, fn: Any) -> None:
    x = np.array([0.5, -1.0, 2.0, 3.0])
    weights = np.array([-3.0, -0.5, 0.2, 2.5])
    for limit in (1.0, 0.3):

        def with_limit(t: Any, limit: float = limit) -> Any:
            return fn(t, limit)

        value, grad = ops.value_and_grad(with_limit, x, weights)
        if not np.allclose(value, x):
            raise Wrong("the forward pass should return x unchanged; clip the *gradient* in the backward "
                        "pass, not the values")
        if np.allclose(grad, weights):
            raise Wrong("the gradient is not clipped: a custom backward (torch.autograd.Function or "
                        f"tf.custom_gradient) must clamp the incoming gradient to [-limit, limit] (limit = {limit})")
        close(grad, np.clip(weights, -limit, limit), f"the gradient with limit = {limit}", x)


EXERCISES = [
    Exercise("01.1", "standardize the columns",
             "subtract each column's mean and divide by its population std; reduce over dim/axis 0 and let "
             "broadcasting do the rest", standardize),
    Exercise("01.2", "pairwise squared distances",
             "give a the shape (n, 1, d) and b the shape (1, m, d), subtract, square, sum over the last axis",
             pairwise_sq_dists),
    Exercise("01.3", "the sigmoid's derivative by autodiff",
             "make x require gradients (torch) or watch it on a tape (TensorFlow), compute sigmoid(x), and "
             "differentiate its sum: each x only affects its own term", sigmoid_grad),
    Exercise("01.4", "second derivatives",
             "take the first derivative while keeping its graph, then differentiate the sum of it again",
             second_derivative),
    Exercise("01.5", "straight-through rounding",
             "the value must be round(x) but the gradient must see only x: add to x a correction whose "
             "gradient is stopped", straight_through_round),
    Exercise("01.6", "a custom gradient that clips",
             "forward returns x as it is; backward returns the incoming gradient clamped to [-limit, limit]",
             clip_grad),
]
