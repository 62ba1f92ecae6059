"""Checks of module 06 (debugging).

Each exercise hands the learner broken code; the check runs the fix on inputs of its own and judges it
by behaviour: the loss is finite and right on logits that make log(softmax) underflow, a regression loss
does not broadcast, an epoch's weights and validation loss match a right reference (not one of the
classic mistakes), and a logged step records every call. Plausible wrong fixes are computed here too
(nan_to_num, clipped probabilities, the wrong axis squeezed, zero_grad misplaced, eval() without
train()) and named when the answer matches one.
"""

from __future__ import annotations

import linecache
import math
from typing import Any

import numpy as np

from coursekit.checks.core import Exercise, Wrong, close, describe, letter_then, one_line
from coursekit.checks.m05 import BATCH, TensorFlow05, Torch05, epoch_data, number, same_weights

# 06.1: logits with one confident wrong row (a gap of 200: softmax underflows to exactly 0 in float32).
GAP = 200.0


def nan_logits() -> tuple[np.ndarray, np.ndarray]:
    """Logits (6, 4) and labels (6,) for 06.1; row 0's label has a logit 200 below the row's largest."""
    rng = np.random.default_rng(61)
    logits = rng.normal(0, 2, (6, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 6)
    logits[0] = [0.0, GAP, 0.0, 0.0]
    labels[0] = 0
    return logits, labels


def cross_entropy_variants(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The right mean cross-entropy (float64) and what each plausible wrong fix of log(0) gives."""
    z = logits.astype(np.float64)
    n = np.arange(len(z))
    lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
    probs = np.exp(z - lse[:, None])
    picked32 = np.exp(logits - logits.max(1, keepdims=True)).astype(np.float32)
    picked32 = (picked32 / picked32.sum(1, keepdims=True))[n, labels]
    with np.errstate(divide="ignore"):
        log_picked = np.log(picked32.astype(np.float64))
    finite_max = float(np.finfo(np.float32).max)
    twice = np.exp(probs - np.log(np.exp(probs).sum(1, keepdims=True)))
    normalised = np.clip(z / z.sum(1, keepdims=True), 1e-7, 1 - 1e-7)
    return {
        "right": float(np.mean(lse - z[n, labels])),
        "nan_to_num": float(np.mean(-np.nan_to_num(log_picked, neginf=-finite_max))),
        "clipped": float(np.mean(-np.log(np.clip(probs[n, labels], 1e-7, 1 - 1e-7)))),
        "softmax twice": float(np.mean(-np.log(twice[n, labels]))),
        "logits as probabilities": float(np.mean(-np.log(normalised[n, labels]))),
    }


class Torch06(Torch05):
    """Module 06's checks in PyTorch: module 05's small batch-norm classifier and a few steps of its own."""

    def grad_of(self, fn: Any, logits: np.ndarray, labels: np.ndarray) -> tuple[Any, np.ndarray]:
        z = self.torch.tensor(logits, requires_grad=True)
        loss = self.call(fn, z, self.torch.from_numpy(labels))
        if not isinstance(loss, self.torch.Tensor) or loss.grad_fn is None:
            raise Wrong(f"return the loss as a tensor that autograd can differentiate, got {describe(loss)}")
        with self.learner("backward() through your loss"):
            loss.backward()
        return loss.detach(), z.grad.numpy()

    def reference_epochs(self, data: tuple, mistake: str = "") -> tuple[list[np.ndarray], list[float], bool]:
        """Two calls of 06.3's epoch, right or with one mistake: weights, validation losses, final training mode."""
        model, optimizer, loss_fn = self.classifier()
        model.train()
        torch = self.torch
        x, y, xv, yv = (torch.from_numpy(a) for a in data)
        vals = []
        for call in range(2):
            if mistake != "no train back" or call == 0:
                model.train(mistake != "eval mode")
            for start in range(0, len(x), BATCH):
                if mistake not in ("no zero_grad", "zero_grad late"):
                    optimizer.zero_grad()
                loss_fn(model(x[start : start + BATCH]), y[start : start + BATCH]).backward()
                if mistake == "zero_grad late":
                    optimizer.zero_grad()
                optimizer.step()
            model.train(mistake == "val in train mode")
            with torch.no_grad():
                vals.append(float(loss_fn(model(xv), yv)))
            if mistake != "no train back":
                model.train()
        return self.weights(model), vals, model.training

    def logged_step_model(self) -> tuple[Any, Any, Any]:
        model, optimizer, loss_fn = self.classifier()
        model.train()
        return model, optimizer, loss_fn

    def reference_losses(self, batches: list) -> list[float]:
        model, optimizer, loss_fn = self.logged_step_model()
        out = []
        for x, y in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(self.torch.from_numpy(x)), self.torch.from_numpy(y))
            loss.backward()
            optimizer.step()
            out.append(loss.item())
        return out

    def entry_problem(self, entry: Any) -> str | None:
        if isinstance(entry, self.torch.Tensor) and entry.grad_fn is not None:
            return (
                "the log holds loss tensors with their autograd graph (grad_fn): each step's whole graph stays in "
                "memory; append loss.item(), a Python float"
            )
        return None

    def check_graph(self, step: Any) -> None:
        return None

    script = """import torch.nn.functional as F


def head(x, w, y):
    logits = x.reshape(-1, 8) @ w
    return F.cross_entropy(logits, y)


def script(x, w, y):
    loss = head(x, w, y)
    return loss
"""


class TensorFlow06(TensorFlow05):
    """Module 06's checks in TensorFlow."""

    def grad_of(self, fn: Any, logits: np.ndarray, labels: np.ndarray) -> tuple[Any, np.ndarray]:
        tf = self.tf
        z = tf.Variable(logits)
        with tf.GradientTape() as tape:
            loss = self.call(fn, z, tf.constant(labels))
        if loss is None:
            raise Wrong("the loss is None: did you forget to `return` it?")
        with self.learner("the gradient of your loss"):
            grad = tape.gradient(loss, z)
        if grad is None:
            raise Wrong("the loss does not depend on the logits through TensorFlow operations (its gradient is None)")
        return loss, np.asarray(grad)

    def _step(self, model: Any, optimizer: Any, loss_fn: Any, x: Any, y: Any, training: bool, acc: Any = None) -> Any:
        tf = self.tf
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=training))
        grads = tape.gradient(loss, model.trainable_variables)
        if acc is not None:  # the mistake: a hand-made accumulator that is never reset
            for a, g in zip(acc, grads, strict=True):
                a.assign_add(g)
            grads = [a.read_value() for a in acc]
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    def reference_epochs(self, data: tuple, mistake: str = "") -> tuple[list[np.ndarray], list[float], bool]:
        model, optimizer, loss_fn = self.classifier()
        x, y, xv, yv = data
        vals = []
        for _ in range(2):
            acc = [self.tf.Variable(self.tf.zeros_like(v)) for v in model.trainable_variables]
            for start in range(0, len(x), BATCH):
                sl = slice(start, start + BATCH)
                self._step(
                    model,
                    optimizer,
                    loss_fn,
                    x[sl],
                    y[sl],
                    mistake != "eval mode",
                    acc if mistake == "no zero_grad" else None,
                )
            vals.append(float(loss_fn(yv, model(xv, training=mistake == "val in train mode"))))
        return self.weights(model), vals, True

    def logged_step_model(self) -> tuple[Any, Any, Any]:
        return self.classifier()

    def reference_losses(self, batches: list) -> list[float]:
        model, optimizer, loss_fn = self.classifier()
        return [float(self._step(model, optimizer, loss_fn, x, y, True)) for x, y in batches]

    def entry_problem(self, entry: Any) -> str | None:
        if not isinstance(entry, self.tf.Tensor):
            return None
        try:
            entry.numpy()
        except Exception:
            return (
                "the log holds symbolic tensors: the append ran only while tf.function traced the step, not at each "
                "call; return the loss from the step and append float(loss) outside it"
            )
        return None

    def check_graph(self, step: Any) -> None:
        if self.tf.config.functions_run_eagerly():
            self.tf.config.run_functions_eagerly(False)
            raise Wrong(
                "tf.config.run_functions_eagerly(True) hides the bug by giving up the graph (switched back off now): "
                "keep tf.function and move the append out of it"
            )
        closure = [cell.cell_contents for cell in getattr(step, "__closure__", None) or ()]
        if not any(hasattr(f, "experimental_get_tracing_count") for f in [step, *closure]):
            raise Wrong("the step should still run a tf.function (the fix is not to drop the graph)")

    script = """import keras
import tensorflow as tf


def head(x, w, y):
    logits = tf.reshape(x, (-1, 8)) @ w
    return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


def script(x, w, y):
    loss = head(x, w, y)
    return loss
"""


OPS = {"torch": Torch06, "tensorflow": TensorFlow06}


def stable_loss(ops: Any, fn: Any) -> None:
    logits, labels = nan_logits()
    loss, grad = ops.grad_of(fn, logits, labels)
    got = number(loss, "the loss")
    variants = cross_entropy_variants(logits, labels)
    fix_it = "fix the log(0) itself: log_softmax (torch) / from_logits=True (TensorFlow) computes log p stably"
    if not math.isfinite(got):
        raise Wrong(
            f"the loss is {got} on logits where one label's logit is {GAP:g} below the largest: "
            "softmax underflows to 0 and log(0) = -inf; " + fix_it
        )
    if got > 1e30:
        raise Wrong(f"the loss is {got:.3g}: you replaced the -inf or NaN by a huge number (nan_to_num); " + fix_it)
    if math.isclose(got, variants["clipped"], rel_tol=1e-3):
        raise Wrong(
            "you clipped the probabilities before the log (clamp, or a small epsilon): a confidently wrong "
            f"example then costs at most {-math.log(1e-7):.1f} instead of {GAP:g}; " + fix_it
        )
    if math.isclose(got, variants["softmax twice"], rel_tol=1e-4):
        raise Wrong(
            "the loss took a softmax of probabilities: you passed probabilities where the loss expects logits "
            "(torch's cross_entropy takes logits)"
        )
    if math.isclose(got, variants["logits as probabilities"], rel_tol=1e-3):
        raise Wrong(
            "the loss treated the logits as probabilities: Keras' losses default to from_logits=False; "
            "pass from_logits=True"
        )
    if not np.all(np.isfinite(grad)):
        raise Wrong("the loss is finite but its gradient holds NaN or inf: the log(0) is still in the graph; " + fix_it)
    close(got, variants["right"], "the mean cross-entropy", rtol=1e-5)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    expected = (probs - np.eye(logits.shape[1])[labels]) / len(labels)
    close(grad, expected, "the gradient of the loss with respect to the logits", atol=1e-5)


def regression_loss(ops: Any, fn: Any) -> None:
    rng = np.random.default_rng(62)
    pred = rng.normal(size=(5, 1)).astype(np.float32)
    target = rng.normal(size=5).astype(np.float32)
    got = number(ops.call(fn, ops.tensor(pred), ops.tensor(target)), "the loss")
    right = float(np.mean((pred[:, 0] - target) ** 2))
    if math.isclose(got, float(np.mean((pred - target[None, :]) ** 2)), rel_tol=1e-5):
        raise Wrong(
            "the difference broadcast (5, 1) against (5,) into (5, 5): every prediction was compared with every "
            "target; drop the LAST axis of the predictions (squeezing axis 0, the batch, changes nothing)"
        )
    if math.isclose(got, float(np.sum((pred[:, 0] - target) ** 2)), rel_tol=1e-5):
        raise Wrong("you returned the sum of the squared errors; return their mean")
    close(got, right, "the mean squared error")
    one = number(ops.call(fn, ops.tensor(pred[:1]), ops.tensor(target[:1])), "the loss of a batch of one")
    close(one, float((pred[0, 0] - target[0]) ** 2), "the loss of a batch of one row")


def epoch_data06() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training and validation data for 06.3 (module 05's epoch data, split 40/10)."""
    x, y, _ = epoch_data(seed=63)
    return x[:40], y[:40], x[40:], y[40:]


def train_and_validate(ops: Any, fn: Any) -> None:
    data = epoch_data06()
    model, optimizer, loss_fn = ops.logged_step_model()
    start = ops.weights(model)
    vals = []
    for call in range(2):
        got = ops.call(fn, model, optimizer, loss_fn, *(ops.tensor(a) for a in data), BATCH)
        vals.append(number(got, f"the validation loss of call {call + 1}"))
    weights = ops.weights(model)
    if same_weights(weights, start, atol=0):
        raise Wrong(
            "the weights did not change: take an optimizer step after each batch's backward pass (if zero_grad "
            "ran between backward() and step(), the step saw no gradient: call it before backward())"
        )
    right_w, right_v, _ = ops.reference_epochs(data)
    named = {
        "no zero_grad": "the gradients accumulated from step to step: clear them before each backward pass "
        "(optimizer.zero_grad() in torch; in TensorFlow apply each step's fresh tape gradients, no running sum)",
        "zero_grad late": "zero_grad ran between backward() and step(): the step saw no gradient; call it "
        "before backward()",
        "eval mode": "the model trained in inference mode (batch norm used its running statistics): "
        "model.train() in torch, training=True in TensorFlow",
        "no train back": "the second call trained in inference mode: after validating with model.eval(), "
        "switch back with model.train() (or call model.train() at the start of each epoch)",
    }
    if not same_weights(weights, right_w):
        for mistake, message in named.items():
            if same_weights(weights, ops.reference_epochs(data, mistake)[0]):
                raise Wrong(message)
        raise Wrong("the weights differ from two epochs of SGD over the batches in order")
    if not np.allclose(vals, right_v, rtol=1e-4, atol=1e-5):
        if np.allclose(vals, ops.reference_epochs(data, "val in train mode")[1], rtol=1e-4, atol=1e-5):
            raise Wrong(
                "the validation loss was computed in training mode (batch norm used the validation batch's own "
                "statistics): model.eval() in torch, training=False in TensorFlow"
            )
        close(vals, right_v, "the validation losses of the two calls")
    if hasattr(model, "training") and not model.training:
        raise Wrong(
            named["no train back"].replace(
                "the second call trained in inference mode", "the model was left in eval mode"
            )
        )


def logged_step(ops: Any, answer: Any) -> None:
    make = letter_then(
        ops,
        answer,
        ("why_logs_differ", "make_logged_step"),
        "A",
        {
            "B": "TensorFlow runs a tf.function at every call; what it skips is the Python in it",
            "C": "both frameworks compute the same losses; the difference is where the Python append runs",
        },
    )
    model, optimizer, loss_fn = ops.logged_step_model()
    out = ops.call(make, model, optimizer, loss_fn)
    if not (isinstance(out, tuple) and len(out) == 2 and callable(out[0]) and isinstance(out[1], list)):
        raise Wrong(f"make_logged_step should return (step, log), a function and a list, got {describe(out)}")
    step, log = out
    x, y, _ = epoch_data(seed=64)
    batches = [(x[i : i + n], y[i : i + n]) for i, n in ((0, 8), (8, 8), (16, 5), (21, 8), (29, 5))]
    for bx, by in batches:
        with ops.learner("calling your step"):
            step(ops.tensor(bx), ops.tensor(by))
    ops.check_graph(step)
    for entry in log:
        problem = ops.entry_problem(entry)
        if problem:
            raise Wrong(problem)
    if len(log) != len(batches):
        raise Wrong(f"the log holds {len(log)} entries after {len(batches)} steps; expected one per step")
    if not all(isinstance(v, float) for v in log):
        raise Wrong(f"log Python floats (float(loss) or loss.item()), got {describe(log[0])}")
    close(log, ops.reference_losses(batches), "the logged losses")


SCRIPT_FILE = "<the broken script of 06.5>"
SCRIPT_SHAPES = {"x": (4, 8, 8), "w": (8, 10), "y": (4,), "logits": (32, 10)}


def failing_script(ops: Any) -> Any:
    """06.5's broken script, compiled under its own file name (registered for tracebacks): script(x, w, y)."""
    source = ops.script
    linecache.cache[SCRIPT_FILE] = (len(source), None, source.splitlines(keepends=True), SCRIPT_FILE)
    namespace: dict[str, Any] = {}
    exec(compile(source, SCRIPT_FILE, "exec"), namespace)
    return namespace["script"]


def post_mortem(ops: Any, fn: Any) -> None:
    script = failing_script(ops)
    rng = np.random.default_rng(65)
    args = (
        ops.tensor(rng.normal(size=SCRIPT_SHAPES["x"])),
        ops.tensor(rng.normal(size=SCRIPT_SHAPES["w"])),
        ops.tensor(rng.integers(0, 10, size=4)),
    )
    if not callable(fn):
        raise Wrong(f"expected a function, got {describe(fn)}")
    try:
        got = fn(script, *args)
    except NotImplementedError:
        raise
    except Exception as err:
        tb, files = err.__traceback__, set()
        while tb is not None:
            files.add(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
        if SCRIPT_FILE not in files:
            raise Wrong(f"your function raised {one_line(err)}") from None
        raise Wrong(
            f"your function let the script's error through ({type(err).__name__}): catch it with try/except "
            "and read its __traceback__"
        ) from None
    if not isinstance(got, dict):
        raise Wrong(f"return a dict {{local name: shape tuple}}, got {describe(got)}")
    shapes = {str(k): tuple(int(d) for d in v) for k, v in got.items()}
    if shapes == SCRIPT_SHAPES:
        return
    if set(shapes) == {"x", "w", "y"}:
        raise Wrong(
            "these are the locals of the first frame (script): walk the traceback down to the DEEPEST frame "
            "of the script's file (head), where the error happened"
        )
    if "logits" not in shapes:
        raise Wrong(
            f"these locals ({', '.join(sorted(shapes)) or 'none'}) are from a frame of the framework's own code: "
            "keep the deepest frame whose file is the script's (fn.__code__.co_filename), not the last one"
        )
    raise Wrong(f"expected the shapes {SCRIPT_SHAPES} of head's tensors, got {shapes}")


EXERCISES = [
    Exercise(
        "06.1",
        "a loss without log(0)",
        "never take the log of a softmax: log_softmax(logits) (torch) or a loss with from_logits=True (Keras) "
        "computes log p = z - logsumexp(z) without underflow",
        stable_loss,
    ),
    Exercise(
        "06.2",
        "a loss that does not broadcast, ported from the twin",
        "predictions (N, 1) minus targets (N,) broadcast to (N, N): drop the last axis of the predictions first",
        regression_loss,
    ),
    Exercise(
        "06.3",
        "an epoch that trains and validates in the right modes",
        "for each batch: clear the gradients, forward in training mode, backward, step; then validate in "
        "inference mode, and leave the model in training mode",
        train_and_validate,
    ),
    Exercise(
        "06.4",
        "a step that logs every loss",
        "the step returns its loss; the Python append runs outside the compiled step, on a float",
        logged_step,
    ),
    Exercise(
        "06.5",
        "a post-mortem that runs unattended",
        "catch the error; follow err.__traceback__ through tb_next and keep the last frame whose "
        "f_code.co_filename is fn.__code__.co_filename; its f_locals hold the tensors",
        post_mortem,
    ),
]

__all__ = ["EXERCISES", "OPS"]
