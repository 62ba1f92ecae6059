"""Checks of module 01 (tensors and autodiff).

The gradient exercises get a function built here (a random tanh network of one variable) instead of
a fixed formula, so only autodiff can answer them: the function records where it is evaluated,
which catches finite differences, and a formula typed in cannot know it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks.core import (
    Exercise,
    Ops,
    TensorFlowOps,
    TorchOps,
    Wrong,
    close,
    describe,
    fastest,
    letter_then,
)
from coursekit.frameworks import available

# The network the gradient checks differentiate: f(t) = sum_k v_k tanh(w_k t + b_k), elementwise in t.
Net = tuple[np.ndarray, np.ndarray, np.ndarray]


def random_net(seed: int, width: int = 5) -> Net:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.2, width), rng.normal(0.0, 0.8, width), rng.normal(0.0, 1.0, width)


def net_derivatives(net: Net, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f(x), f'(x) and f''(x) in float64 NumPy, from the closed form of tanh's derivatives."""
    w, b, v = net
    th = np.tanh(x[..., None] * w + b)
    return (v * th).sum(-1), (v * w * (1 - th**2)).sum(-1), (v * w**2 * -2 * th * (1 - th**2)).sum(-1)


class Probe:
    """The function handed to the learner: it evaluates the network and notes every input it gets."""

    def __init__(self, ops: Ops01, net: Net, name: str = "f") -> None:
        self.ops, self.net, self.name = ops, [ops.tensor(a) for a in net], name
        self.inputs: list[np.ndarray] = []
        self.recorded: list[bool] = []

    def __call__(self, t: Any) -> Any:
        self.inputs.append(self.ops.to_numpy(t).astype(np.float64))
        self.recorded.append(self.ops.is_recorded(t))
        return self.ops.net(t, *self.net)

    def answer(self, fn: Any, x: np.ndarray) -> Any:
        """fn(f, x), after making sure it used autodiff on f: Wrong naming the mistake if it did not."""
        try:
            got = self.ops.call(fn, self, self.ops.tensor(x))
        except Wrong:
            if self.inputs:  # f says more about what went wrong than the exception does
                self._require_autodiff(x, None)
            raise
        if not self.inputs:
            raise Wrong(
                f"your function never called {self.name}: differentiate the {self.name} the check "
                "passes in (a formula typed in cannot know it)"
            )
        self._require_autodiff(x, got)
        return got

    def _require_autodiff(self, x: np.ndarray, got: Any) -> None:
        for seen in self.inputs:
            if seen.shape != x.shape or not np.allclose(seen, x, rtol=0, atol=1e-6):
                step = np.abs(seen - x).max() if seen.shape == x.shape else None
                shifted = f" shifted by up to {step:.2g}" if step is not None else f" of shape {seen.shape}"
                raise Wrong(
                    f"{self.name} was evaluated at inputs other than x ({self.name} got x{shifted}): "
                    "that is finite differences; ask autodiff for the derivative instead"
                )
        if got is None and not any(self.recorded):
            raise Wrong(self.ops.unrecorded)


class Ops01(Ops):
    """What module 01's checks need beyond core.Ops (bound to each framework below)."""

    unrecorded = ""

    def net(self, t: Any, w: Any, b: Any, v: Any) -> Any:
        """The network f(t) = sum_k v_k tanh(w_k t + b_k), elementwise, with the framework's ops."""
        raise NotImplementedError

    def is_recorded(self, t: Any) -> bool:
        """Whether autodiff records operations on t (torch: requires grad; TensorFlow: a tape watches it)."""
        raise NotImplementedError

    def loss(self, x: Any, w: Any, b: Any, v: Any) -> Any:
        """The scalar loss of exercise 01.9: sum(v * tanh(w @ x + b)) + |x|^2 / 2."""
        raise NotImplementedError

    def value_and_grad(
        self, fn: Callable[[Any], Any], x: np.ndarray, weights: np.ndarray, custom: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """fn(x) (of weights' shape) and the gradient of sum(weights * fn(x)) with respect to x, by autodiff.

        custom=True also demands that the gradient comes from a custom backward (not a hook).
        """
        raise NotImplementedError


class Torch01(TorchOps, Ops01):
    unrecorded = (
        "the gradient is missing because x does not require gradients: start from "
        "x.detach().clone().requires_grad_(True)"
    )

    def net(self, t, w, b, v):
        return (self.torch.tanh(t[..., None] * w + b) * v).sum(-1)

    def is_recorded(self, t):
        return bool(t.requires_grad)

    def loss(self, x, w, b, v):
        return (v * self.torch.tanh(w @ x + b)).sum() + 0.5 * (x * x).sum()

    def value_and_grad(self, fn, x, weights, custom=False):
        xt = self.tensor(x).requires_grad_(True)
        y = self.call(fn, xt)
        out = self.result(y, tuple(weights.shape), "the output")
        if not y.requires_grad:
            raise Wrong(
                "no gradient can flow back to x: the output is cut off from it "
                "(a .detach() or torch.no_grad() too many?)"
            )
        if custom and not self._has_custom_backward(y.grad_fn):
            raise Wrong(
                f"the output's gradient comes from {type(y.grad_fn).__name__}, not from a "
                "torch.autograd.Function: a hook (register_hook) changes the gradient without "
                "defining a backward; write the backward in the Function"
            )
        with self.learner("the backward pass"):
            (y * self.tensor(weights)).sum().backward()
        return out, xt.grad.numpy().astype(np.float64)

    def _has_custom_backward(self, node: Any, depth: int = 8) -> bool:
        """Whether the graph behind node holds the backward of a torch.autograd.Function."""
        if node is None or depth == 0:
            return False
        if isinstance(node, self.torch.autograd.function.BackwardCFunction):
            return True
        return any(self._has_custom_backward(n, depth - 1) for n, _ in node.next_functions)


class TensorFlow01(TensorFlowOps, Ops01):
    unrecorded = (
        "the gradient is None because the tape did not watch x: a tensor that is not a "
        "tf.Variable is only recorded after tape.watch(x)"
    )

    def net(self, t, w, b, v):
        return self.tf.reduce_sum(self.tf.tanh(t[..., None] * w + b) * v, axis=-1)

    def is_recorded(self, t):
        try:
            # No public API says whether a tape watches t.
            from tensorflow.python.eager import record
        except ImportError:
            return True  # unknown: assume it was, and let the None result speak for itself
        return bool(record.should_record_backprop([t]))

    def loss(self, x, w, b, v):
        tf = self.tf
        return tf.reduce_sum(v * tf.tanh(tf.linalg.matvec(w, x) + b)) + 0.5 * tf.reduce_sum(x * x)

    def value_and_grad(self, fn, x, weights, custom=False):
        tf = self.tf
        xt = self.tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = self.call(fn, xt)
            out = self.result(y, tuple(weights.shape), "the output")
            total = tf.reduce_sum(y * self.tensor(weights))
        # An op without a gradient (tf.round) or a stopped path gives None: count it as zero, as torch does.
        with self.learner("the gradient function"):
            grad = tape.gradient(total, xt, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return out, np.asarray(grad).astype(np.float64)


OPS = {"torch": Torch01, "tensorflow": TensorFlow01}


def standardize(ops: Ops01, fn: Any) -> None:
    x = np.random.default_rng(11).normal(3.0, 2.0, size=(6, 3)) * np.array([1.0, 10.0, 0.1])
    x_in = ops.tensor(x)
    got = ops.result(ops.call(fn, x_in), (6, 3))
    if not np.allclose(ops.to_numpy(x_in), x.astype(np.float32)):
        raise Wrong("your function changed its input in place; return a new tensor instead")
    mean = x.mean(axis=0)
    if np.allclose(got, (x - mean) / x.std(axis=0, ddof=1), atol=1e-4):
        raise Wrong(
            "you divided by the sample standard deviation (n − 1, torch.std's default); use the "
            "population one (divide by n): torch.std(..., correction=0) or tf.math.reduce_std"
        )
    if np.allclose(got, (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True), atol=1e-4):
        raise Wrong("you standardized each row; standardize each column (reduce over dim/axis 0)")
    if np.allclose(got, x - mean, atol=1e-4):
        raise Wrong("the columns have mean 0, but you did not divide by their standard deviation")
    close(got, (x - mean) / x.std(axis=0), "the standardized value")


def seconds(ops: Ops01, fn: Any, *arrays: np.ndarray, repeats: int = 3) -> float:
    """The fastest of a few calls of fn on these arrays (as the framework's tensors), in seconds."""
    return fastest(ops, fn, *[ops.tensor(a) for a in arrays], repeats=repeats)


def pairwise_sq_dists(ops: Ops01, fn: Any) -> None:
    rng = np.random.default_rng(12)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
    out = ops.call(fn, ops.tensor(a), ops.tensor(b))
    if tuple(getattr(out, "shape", ())) == (6, 4):
        raise Wrong(
            "expected shape (4, 6), one row per point of a and one column per point of b; "
            "got (6, 4): the result is transposed"
        )
    got = ops.result(out, (4, 6))
    expected = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)
    if np.allclose(got, np.sqrt(expected), atol=1e-4):
        raise Wrong("these are distances; the exercise asks for squared distances (no square root)")
    close(got, expected, "the squared distance")
    # Broadcasting costs about the same for 64 pairs as for 10,000; a Python loop over pairs costs 150x more.
    small, large = (
        seconds(ops, fn, a[:2], b[:4], repeats=5),
        seconds(ops, fn, rng.normal(size=(100, 3)), rng.normal(size=(100, 3)), repeats=1),
    )
    if large > 0.05 and large > 30 * small:
        raise Wrong(
            f"the values are right, but 10,000 pairs took {large / small:.0f}x as long as 8 pairs "
            f"({large:.2f} s): a Python loop over the points; let broadcasting build the "
            "(n, m, d) differences in one expression"
        )


def derivative(ops: Ops01, fn: Any) -> None:
    x = np.linspace(-3.0, 3.0, 9)
    net = random_net(13)
    got = Probe(ops, net).answer(fn, x)
    got = ops.result(got, (9,), "f'(x)")
    value, first, _ = net_derivatives(net, x)
    if np.allclose(got, value, atol=1e-4):
        raise Wrong("these are the values f(x), not the derivative f'(x)")
    ratio = got / first
    if np.allclose(ratio, ratio[0], rtol=1e-3) and not np.isclose(ratio[0], 1.0, rtol=1e-3):
        raise Wrong(
            f"off by a factor of {ratio[0]:.3g} at every x (at x = {x[0]:g}: expected {first[0]:.5f}, got {got[0]:.5f})"
        )
    close(got, first, "f'(x)", x)


def second_derivative(ops: Ops01, fn: Any) -> None:
    x = np.array([-1.5, -0.5, 0.5, 2.0])
    net = random_net(14)
    got = Probe(ops, net).answer(fn, x)
    got = ops.result(got, (4,), "f''(x)")
    _, first, second = net_derivatives(net, x)
    if np.allclose(got, first, rtol=1e-4, atol=1e-5):
        raise Wrong(
            "you returned the first derivative f'(x); differentiate it once more (torch: "
            "create_graph=True on the first grad; TensorFlow: a tape inside a tape)"
        )
    close(got, second, "f''(x)", x)


def straight_through_round(ops: Ops01, fn: Any) -> None:
    x = np.array([-1.7, -0.2, 0.4, 1.3, 2.6])
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    value, grad = ops.value_and_grad(fn, x, weights)
    close(value, np.round(x), "the forward value (it should be round(x))", x)
    if np.allclose(grad, 0.0):
        raise Wrong(
            "the gradient is zero everywhere: round() has zero gradient almost everywhere, so "
            "let the gradient pass straight through instead"
        )
    close(grad, weights, "the gradient (it should pass through unchanged, d/dx = 1)", x)


def clip_grad(ops: Ops01, fn: Any) -> None:
    x = np.array([0.5, -1.0, 2.0, 3.0])
    weights = np.array([-3.0, -0.5, 0.2, 2.5])
    for limit in (1.0, 0.3):

        def with_limit(t: Any, limit: float = limit) -> Any:
            return fn(t, limit)

        value, grad = ops.value_and_grad(with_limit, x, weights, custom=True)
        if not np.allclose(value, x):
            raise Wrong(
                "the forward pass should return x unchanged; clip the *gradient* in the backward pass, not the values"
            )
        if np.allclose(grad, weights):
            raise Wrong(
                "the gradient is not clipped: a custom backward (torch.autograd.Function or "
                f"tf.custom_gradient) must clamp the incoming gradient to [-limit, limit] (limit = {limit})"
            )
        close(grad, np.clip(weights, -limit, limit), f"the gradient with limit = {limit}", x)


# The function each notebook asks to port, as the twin notebook writes it (shown there verbatim).
def nll_from_logits_torch(torch: Any, logits: Any, labels: Any) -> Any:
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    picked = log_probs.gather(1, labels[:, None]).squeeze(1)
    return -picked.mean()


def nll_from_logits_tf(tf: Any, logits: Any, labels: Any) -> Any:
    log_probs = logits - tf.reduce_logsumexp(logits, axis=1, keepdims=True)
    picked = tf.gather(log_probs, labels, axis=1, batch_dims=1)
    return -tf.reduce_mean(picked)


ORIGINALS = {
    "pytorch": ("tensorflow", TensorFlowOps, nll_from_logits_tf),
    "tensorflow": ("torch", TorchOps, nll_from_logits_torch),
}


def twin_original(ops: Ops01, logits: np.ndarray, labels: np.ndarray) -> tuple[float, str]:
    """The original's value: run in the twin framework where it is installed, else from NumPy."""
    framework, twin_ops, original = ORIGINALS[ops.name]
    if available(framework):
        twin = twin_ops()
        lib = getattr(twin, "torch", None) or getattr(twin, "tf")  # noqa: B009 (one of the two exists)
        value = original(lib, twin.tensor(logits), twin.tensor(labels))
        return float(twin.to_numpy(value)), f"the {twin.name} original"
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean()), "the reference"


def port_nll(ops: Ops01, fn: Any) -> None:
    rng = np.random.default_rng(15)
    logits, labels = rng.normal(0.0, 2.0, size=(6, 4)), rng.integers(0, 4, size=6)
    labels[:2] = [3, 0]
    got = ops.result(ops.call(fn, ops.tensor(logits), ops.tensor(labels)), (), "the loss")
    expected, source = twin_original(ops, logits, labels)
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    if np.isclose(got, -log_probs[:, labels].mean(), rtol=1e-4):
        raise Wrong(
            "you averaged log_probs[:, labels], a (6, 6) table of every row at every label; "
            "pick one entry per row: tf.gather(..., batch_dims=1) is torch's "
            "log_probs.gather(1, labels[:, None]), and torch.gather is not tf.gather"
        )
    if np.isclose(got, -expected, rtol=1e-4):
        raise Wrong(f"the sign is flipped: {source} returns {expected:.5g}, yours {got:.5g}")
    close(got, expected, f"the loss (compared with {source} on the same inputs)")


def norm_disagreement(ops: Ops01, answer: Any) -> None:
    safe_norm = letter_then(
        ops,
        answer,
        ("why_they_disagree", "safe_norm"),
        "B",
        "both frameworks compute the same value; look at the derivative of sqrt(s) at s = 0 and at what each "
        "framework's norm does with it",
    )
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [-1.0, 2.0, 2.0]])
    weights = np.array([1.0, 2.0, 0.5])
    value, grad = ops.value_and_grad(safe_norm, x, weights)
    norms = np.linalg.norm(x, axis=1)
    close(value, norms, "the norm")
    if np.isnan(grad[1]).any():
        raise Wrong(
            "the gradient at the zero vector is NaN: sqrt's derivative is infinite at 0, and a "
            "plain tf.where still sends the NaN back; take the sqrt of a safe value (where(s > 0, s, 1))"
        )
    if not np.isfinite(grad).all():
        raise Wrong("the gradient is infinite at the zero vector; the safe branch must have a finite derivative")
    # d|x|/dx = x / |x| away from 0, and 0 at the zero vector, as torch.linalg.vector_norm gives it.
    expected = weights[:, None] * np.divide(x, norms[:, None], out=np.zeros_like(x), where=norms[:, None] > 0)
    close(grad, expected, "the gradient")


def minimize(ops: Ops01, fn: Any) -> None:
    rng = np.random.default_rng(16)
    w, b, v = rng.normal(0, 0.8, (4, 3)), rng.normal(0, 0.5, 4), rng.normal(0, 1.0, 4)
    x0, lr, steps, momentum = rng.normal(0, 1.0, 3), 0.1, 20, 0.8

    def loss_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        th = np.tanh(w @ x + b)
        return float(v @ th + 0.5 * x @ x), w.T @ (v * (1 - th**2)) + x

    def descend(mom: float) -> tuple[np.ndarray, list[float]]:
        x, vel, hist = x0.copy(), np.zeros(3), list[float]()
        for _ in range(steps):
            loss, grad = loss_and_grad(x)
            vel = mom * vel + grad
            x, hist = x - lr * vel, [*hist, loss]
        return x, hist

    calls = []
    wt, bt, vt = ops.tensor(w), ops.tensor(b), ops.tensor(v)

    def loss_fn(x: Any) -> Any:
        calls.append(1)
        return ops.loss(x, wt, bt, vt)

    x0_in = ops.tensor(x0)
    out = ops.call(fn, loss_fn, x0_in, lr, steps, momentum)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise Wrong(f"expected (x, history) to be returned, got {describe(out)}")
    got, history = ops.result(out[0], (3,), "x"), np.asarray([float(h) for h in out[1]])
    if not np.allclose(ops.to_numpy(x0_in), x0.astype(np.float32)):
        raise Wrong("your function changed x0 in place; start from a copy")
    if len(calls) != steps:
        raise Wrong(
            f"the loss was evaluated {len(calls)} times in {steps} steps: autodiff needs one "
            "evaluation per step (many more means finite differences)"
        )
    if len(history) != steps:
        raise Wrong(f"the history holds {len(history)} losses for {steps} steps; append each step's loss")
    x_ref, h_ref = descend(momentum)
    if history[-1] > history[0]:
        raise Wrong(
            f"the loss grew from {history[0]:.4g} to {history[-1]:.4g}: the step goes uphill; subtract lr * velocity"
        )
    if np.allclose(got, descend(0.0)[0], rtol=1e-4, atol=1e-5):
        raise Wrong(
            "this is plain gradient descent: the velocity must keep momentum * its last value and add the new gradient"
        )
    close(history, h_ref, "the loss history")
    close(got, x_ref, "the final x")


EXERCISES = [
    Exercise(
        "01.1",
        "standardize the columns",
        "subtract each column's mean and divide by its population std; reduce over dim/axis 0 and let "
        "broadcasting do the rest",
        standardize,
    ),
    Exercise(
        "01.2",
        "pairwise squared distances",
        "give a the shape (n, 1, d) and b the shape (1, m, d), subtract, square, sum over the last axis",
        pairwise_sq_dists,
    ),
    Exercise(
        "01.3",
        "a derivative by autodiff",
        "record f(x) (torch: a leaf that requires grad; TensorFlow: tape.watch(x)) and differentiate "
        "its sum: each x only affects its own term",
        derivative,
    ),
    Exercise(
        "01.4",
        "second derivatives",
        "take the first derivative while keeping its graph, then differentiate the sum of it again",
        second_derivative,
    ),
    Exercise(
        "01.5",
        "straight-through rounding",
        "the value must be round(x) but the gradient must see only x: add to x a correction whose gradient is stopped",
        straight_through_round,
    ),
    Exercise(
        "01.6",
        "a custom gradient that clips",
        "forward returns x as it is; backward returns the incoming gradient clamped to [-limit, limit]",
        clip_grad,
    ),
    Exercise(
        "01.7",
        "port a loss from the twin",
        "translate line by line, but check what each call means: torch.gather and tf.gather pick different things",
        port_nll,
    ),
    Exercise(
        "01.8",
        "why the twins' norms disagree at zero",
        "never let sqrt see 0: take the sqrt of where(s > 0, s, 1) and choose 0 where s is 0",
        norm_disagreement,
    ),
    Exercise(
        "01.9",
        "gradient descent with momentum, by hand",
        "one loss evaluation and one gradient per step; velocity = momentum * velocity + gradient; x -= lr * velocity",
        minimize,
    ),
]
