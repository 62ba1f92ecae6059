"""Checks of module 05 (training loops).

The checks build their own small models, optimizers and data, run the learner's code on them, and
run the same training themselves several ways: right, and with each plausible mistake (a forgotten
zero_grad, the model left in inference mode, a mean of batch means, weights restored without the
optimizer, the last weights kept instead of the best). The answer is named by the variant it matches.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from coursekit.checks.core import Exercise, Ops, TensorFlowOps, TorchOps, Wrong, close, describe, letter_then

# Exercise 05.2: a tiny classifier with batch normalisation (whose output depends on train/eval mode).
IN, HIDDEN, CLASSES, ROWS, BATCH = 6, 8, 3, 50, 16
# Exercise 05.3: validation losses by epoch; with patience 3 the best is epoch 2 and training stops
# after epoch 5 (six epochs run); the later 0.40 is a trap for a loop that runs on.
VAL_LOSSES = [0.90, 0.70, 0.50, 0.60, 0.55, 0.52, 0.80, 0.40, 0.45, 0.47]
PATIENCE, BEST_EPOCH, EPOCHS_RUN = 3, 2, 6


def epoch_data(seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, labels and a visiting order for one epoch of exercise 05.2."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, IN)).astype(np.float32)
    y = rng.integers(0, CLASSES, size=ROWS)
    return x, y, rng.permutation(ROWS)


def net_weights(seed: int = 6) -> list[np.ndarray]:
    """Weights of the 05.2 classifier, Keras layout: dense kernel (in, out), bias, BN gamma, beta."""
    rng = np.random.default_rng(seed)
    return [
        rng.normal(0, 0.5, (IN, HIDDEN)).astype(np.float32),
        rng.normal(0, 0.1, HIDDEN).astype(np.float32),
        np.ones(HIDDEN, np.float32),
        np.zeros(HIDDEN, np.float32),
        rng.normal(0, 0.5, (HIDDEN, CLASSES)).astype(np.float32),
        rng.normal(0, 0.1, CLASSES).astype(np.float32),
    ]


class Ops05(Ops):
    """What module 05's checks need beyond core.Ops (bound to each framework below)."""

    def classifier(self) -> tuple[Any, Any, Any]:
        """A fresh 05.2 classifier (dense, batch norm, ReLU, dense) in inference mode, SGD with momentum, a loss."""
        raise NotImplementedError

    def reference_epoch(self, x: np.ndarray, y: np.ndarray, order: np.ndarray, mistake: str = "") -> list[np.ndarray]:
        """The 05.2 epoch run by the check, right or with one mistake; returns the trained weights."""
        raise NotImplementedError

    def weights(self, model: Any) -> list[np.ndarray]:
        """A model's weights as NumPy, in a fixed order."""
        raise NotImplementedError

    def small_model(self, value: float = 0.0) -> Any:
        """A model with one dense layer (2 -> 2), every weight equal to `value` (05.3)."""
        raise NotImplementedError

    def fill(self, model: Any, value: float) -> None:
        """Set every weight of the model to `value`, in place (05.3's training epoch)."""
        raise NotImplementedError

    def resumable(self) -> tuple[Any, Any]:
        """A fresh small model (4 -> 3, fixed weights) and a fresh Adam for it (05.4)."""
        raise NotImplementedError

    def new_adam(self, model: Any) -> Any:
        """A fresh Adam (lr 0.05) for the model (05.4)."""
        raise NotImplementedError

    def adam_step(self, model: Any, optimizer: Any, x: np.ndarray, y: np.ndarray) -> None:
        """One Adam step of 05.4's regression."""
        raise NotImplementedError

    def adam_settings(self, optimizer: Any) -> dict[str, Any] | None:
        """lr, betas and eps of an Adam optimizer of this framework, or None if it is not one."""
        raise NotImplementedError

    twin_eps = 0.0  # the epsilon of the twin framework's Adam (05.5)


class Torch05(TorchOps, Ops05):
    def __init__(self) -> None:
        super().__init__()
        self.nn = self.torch.nn

    def classifier(self):
        nn, torch = self.nn, self.torch
        model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))
        w = net_weights()
        with torch.no_grad():
            for param, value in zip(
                (model[0].weight, model[0].bias, model[1].weight, model[1].bias, model[3].weight, model[3].bias),
                (w[0].T, w[1], w[2], w[3], w[4].T, w[5]),
                strict=True,
            ):
                param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
        model.eval()  # handed over in inference mode: the epoch must switch it to training
        return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), nn.CrossEntropyLoss()

    def weights(self, model):
        return [p.detach().cpu().numpy().copy() for p in model.parameters()]

    def reference_epoch(self, x, y, order, mistake=""):
        model, optimizer, loss_fn = self.classifier()
        model.train(mistake != "eval mode")
        xt, yt = self.torch.from_numpy(x), self.torch.from_numpy(y)
        visit = np.arange(len(x)) if mistake == "order ignored" else order
        for start in range(0, len(visit), BATCH):
            idx = self.torch.from_numpy(visit[start : start + BATCH])
            if mistake != "no zero_grad":
                optimizer.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            optimizer.step()
        return self.weights(model)

    def small_model(self, value=0.0):
        model = self.nn.Linear(2, 2)
        self.fill(model, value)
        return model

    def fill(self, model, value):
        with self.torch.no_grad():
            for p in model.parameters():
                p.fill_(value)

    def resumable(self):
        model = self.nn.Linear(4, 3)
        rng = np.random.default_rng(7)
        with self.torch.no_grad():
            model.weight.copy_(self.torch.from_numpy(rng.normal(0, 0.5, (3, 4)).astype(np.float32)))
            model.bias.copy_(self.torch.from_numpy(rng.normal(0, 0.1, 3).astype(np.float32)))
        return model, self.new_adam(model)

    def new_adam(self, model):
        return self.torch.optim.Adam(model.parameters(), lr=0.05)

    def adam_step(self, model, optimizer, x, y):
        optimizer.zero_grad()
        ((model(self.torch.from_numpy(x)) - self.torch.from_numpy(y)) ** 2).mean().backward()
        optimizer.step()

    def adam_settings(self, optimizer):
        if not isinstance(optimizer, self.torch.optim.Adam):
            return None
        d = optimizer.defaults
        return {"lr": d["lr"], "betas": tuple(d["betas"]), "eps": d["eps"]}

    twin_eps = 1e-7


class TensorFlow05(TensorFlowOps, Ops05):
    def __init__(self) -> None:
        super().__init__()
        import keras

        self.keras = keras

    def classifier(self):
        keras = self.keras
        model = keras.Sequential(
            [
                keras.Input((IN,)),
                keras.layers.Dense(HIDDEN),
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(),
                keras.layers.Dense(CLASSES),
            ]
        )
        w = net_weights()
        model.set_weights(
            [w[0], w[1], w[2], w[3], np.zeros(HIDDEN, np.float32), np.ones(HIDDEN, np.float32), w[4], w[5]]
        )
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return model, keras.optimizers.SGD(learning_rate=0.1, momentum=0.9), loss_fn

    def weights(self, model):
        return [np.asarray(v.numpy()).copy() for v in model.trainable_variables]

    def reference_epoch(self, x, y, order, mistake=""):
        tf = self.tf
        model, optimizer, loss_fn = self.classifier()
        visit = np.arange(len(x)) if mistake == "order ignored" else order
        for start in range(0, len(visit), BATCH):
            idx = visit[start : start + BATCH]
            with tf.GradientTape() as tape:
                loss = loss_fn(y[idx], model(x[idx], training=mistake != "eval mode"))
            optimizer.apply_gradients(
                zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables, strict=True)
            )
        return self.weights(model)

    def small_model(self, value=0.0):
        model = self.keras.Sequential([self.keras.Input((2,)), self.keras.layers.Dense(2)])
        self.fill(model, value)
        return model

    def fill(self, model, value):
        for v in model.weights:
            v.assign(np.full(v.shape, value, np.float32))

    def resumable(self):
        keras = self.keras
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        rng = np.random.default_rng(7)
        model.set_weights([rng.normal(0, 0.5, (3, 4)).astype(np.float32).T, rng.normal(0, 0.1, 3).astype(np.float32)])
        return model, self.new_adam(model)

    def new_adam(self, model):
        return self.keras.optimizers.Adam(learning_rate=0.05)

    def adam_step(self, model, optimizer, x, y):
        tf = self.tf
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x, training=True) - y) ** 2)
        optimizer.apply_gradients(
            zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables, strict=True)
        )

    def adam_settings(self, optimizer):
        if not isinstance(optimizer, self.keras.optimizers.Adam):
            return None
        return {
            "lr": float(np.asarray(optimizer.learning_rate)),
            "betas": (float(optimizer.beta_1), float(optimizer.beta_2)),
            "eps": float(optimizer.epsilon),
        }

    twin_eps = 1e-8


OPS = {"torch": Torch05, "tensorflow": TensorFlow05}


def number(value: Any, what: str) -> float:
    """A Python float from a float or a 0-d tensor; Wrong naming what came back otherwise."""
    if value is None:
        raise Wrong(f"{what} is None: did you forget to `return` it?")
    shape = tuple(getattr(value, "shape", ()))
    if shape not in ((), (1,)):
        raise Wrong(f"{what} should be one number, got {describe(value)}")
    try:
        return float(np.asarray(value.numpy() if hasattr(value, "numpy") else value).reshape(()))
    except (TypeError, ValueError, AttributeError):
        raise Wrong(f"{what} should be a number, got {describe(value)}") from None


def same_weights(a: list[np.ndarray], b: list[np.ndarray], atol: float = 1e-5) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and np.allclose(x, y, rtol=1e-4, atol=atol) for x, y in zip(a, b, strict=True)
    )


def accuracy(ops: Ops05, fn: Any) -> None:
    rng = np.random.default_rng(21)
    for n, classes in ((10, 10), (37, 10)):  # square first: a wrong axis still runs there, and is named
        logits = rng.normal(size=(n, classes)).astype(np.float32)
        labels = rng.integers(0, classes, size=n)
        labels[: n // 2] = logits[: n // 2].argmax(axis=1)  # about half right, so the fraction is not tiny
        got = number(ops.call(fn, ops.tensor(logits), ops.tensor(labels)), "the accuracy")
        right = float(np.mean(logits.argmax(axis=1) == labels))
        by_batch = float(np.mean(logits.argmax(axis=0) == labels)) if n == classes else math.nan
        if not math.isclose(right, by_batch) and math.isclose(got, by_batch, abs_tol=1e-6):
            raise Wrong(
                "you took the argmax over the batch axis (0); the classes are the last axis: "
                "argmax(dim=1) in torch, tf.argmax(..., axis=-1) in TensorFlow"
            )
        if math.isclose(got, float(np.sum(logits.argmax(axis=1) == labels)), abs_tol=1e-6) and got > 1:
            raise Wrong(f"you returned the number of right rows ({got:.0f}); return the fraction (divide by {n})")
        if math.isclose(got, float(np.mean(logits.argmax(axis=1)[:, None] == labels[None, :])), abs_tol=1e-6):
            raise Wrong("the comparison broadcast (n, 1) against (n,) into (n, n): compare two (n,) tensors")
        close(got, right, f"the accuracy of {n} rows")


def train_epoch(ops: Ops05, fn: Any) -> None:
    x, y, order = epoch_data()
    model, optimizer, loss_fn = ops.classifier()
    start = ops.weights(model)
    returned = ops.call(fn, model, optimizer, loss_fn, ops.tensor(x), ops.tensor(y), ops.tensor(order), BATCH)
    got = ops.weights(model)
    if same_weights(got, start, atol=0):
        raise Wrong(
            "the weights did not change: take an optimizer step after each backward pass "
            "(and clear the gradients before the backward pass, not between it and the step)"
        )
    got_loss = number(returned, "the returned loss")
    named = {
        "no zero_grad": "the gradients accumulated from step to step: call optimizer.zero_grad() before each backward",
        "eval mode": "the model trained in inference mode (batch norm used its running statistics): call "
        "model.train() first in torch, pass training=True in TensorFlow",
        "order ignored": "the batches did not follow `order`: batch i is x[order[i * batch_size:(i + 1) * batch_size]]",
    }
    right = ops.reference_epoch(x, y, order)
    if not same_weights(got, right):
        for mistake, message in named.items():
            if same_weights(got, ops.reference_epoch(x, y, order, mistake)):
                raise Wrong(message)
        raise Wrong("the trained weights differ from one epoch of SGD over the batches of `order`")
    # The loss the epoch reports: the mean over examples, each batch's mean loss weighted by its size.
    losses = []
    replay, replay_opt, replay_loss = ops.classifier()
    for begin in range(0, ROWS, BATCH):
        idx = order[begin : begin + BATCH]
        losses.append((float(ops.to_numpy(replay_loss(*_loss_args(ops, replay, x[idx], y[idx])))), len(idx)))
        _step(ops, replay, replay_opt, replay_loss, x[idx], y[idx])
    weighted = sum(loss * k for loss, k in losses) / ROWS
    unweighted = float(np.mean([loss for loss, _ in losses]))
    if not math.isclose(got_loss, weighted, rel_tol=1e-4) and math.isclose(got_loss, unweighted, rel_tol=1e-4):
        raise Wrong(
            f"you returned the mean of the batch means ({unweighted:.5f}); weight each batch by its size "
            f"(the last batch holds {ROWS % BATCH} rows): the mean over examples is {weighted:.5f}"
        )
    if math.isclose(got_loss, losses[-1][0], rel_tol=1e-4):
        raise Wrong("you returned the last batch's loss; return the mean over all the examples of the epoch")
    close(got_loss, weighted, "the epoch's mean loss")


def _loss_args(ops: Ops05, model: Any, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """(prediction, target) or (target, prediction) in the order each framework's loss takes them, in training mode."""
    if isinstance(ops, Torch05):
        model.train()
        return model(ops.torch.from_numpy(x)), ops.torch.from_numpy(y)
    return y, model(x, training=True)


def _step(ops: Ops05, model: Any, optimizer: Any, loss_fn: Any, x: np.ndarray, y: np.ndarray) -> None:
    if isinstance(ops, Torch05):
        optimizer.zero_grad()
        loss_fn(*_loss_args(ops, model, x, y)).backward()
        optimizer.step()
        return
    assert isinstance(ops, TensorFlow05)
    with ops.tf.GradientTape() as tape:
        loss = loss_fn(*_loss_args(ops, model, x, y))
    optimizer.apply_gradients(
        zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables, strict=True)
    )


def early_stopping(ops: Ops05, fn: Any) -> None:
    model = ops.small_model()
    epochs: list[int] = []

    def train_one_epoch(m: Any) -> None:
        epochs.append(len(epochs))
        ops.fill(m, float(len(epochs)))  # after epoch e (from 0), every weight is e + 1, changed in place

    def val_loss(m: Any) -> float:
        value = round(float(ops.weights(m)[0].flat[0]))
        if not 1 <= value <= len(VAL_LOSSES):
            raise Wrong("val_loss was called on a model that no epoch produced: call train_one_epoch first")
        return VAL_LOSSES[value - 1]

    max_epochs = len(VAL_LOSSES)
    ran = ops.call(fn, model, train_one_epoch, val_loss, max_epochs, PATIENCE)
    kept = float(ops.weights(model)[0].flat[0])
    if len(epochs) == max_epochs:
        raise Wrong(
            f"training ran all {max_epochs} epochs: stop once `patience` ({PATIENCE}) epochs in a row "
            "brought no better validation loss"
        )
    if len(epochs) != EPOCHS_RUN:
        raise Wrong(
            f"training ran {len(epochs)} epochs; with these validation losses {VAL_LOSSES[:EPOCHS_RUN]}... and "
            f"patience {PATIENCE} it should stop after {EPOCHS_RUN} (the best is epoch {BEST_EPOCH + 1}, then "
            f"{PATIENCE} epochs without improvement)"
        )
    if math.isclose(kept, float(EPOCHS_RUN)):
        raise Wrong(
            "the model holds the last epoch's weights, not the best: a state_dict() or model.weights holds "
            "references to the live tensors, which later epochs change; keep a copy (copy.deepcopy, "
            "get_weights()) and load it back at the end"
        )
    if not math.isclose(kept, float(BEST_EPOCH + 1)):
        raise Wrong(
            f"the model holds the weights of epoch {kept:.0f}; the best validation loss was at epoch {BEST_EPOCH + 1}"
        )
    if ran is None or int(number(ran, "the number of epochs")) != EPOCHS_RUN:
        raise Wrong(f"return the number of epochs that ran ({EPOCHS_RUN}), got {ran!r}")


def resume(ops: Ops05, fn: Any) -> None:
    if not (isinstance(fn, tuple) and len(fn) == 2 and all(callable(f) for f in fn)):
        raise Wrong(f"expected the two functions (save_checkpoint, load_checkpoint), got {describe(fn)}")
    save, load = fn
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(16, 4)).astype(np.float32), rng.normal(size=(16, 3)).astype(np.float32)

    def run(model: Any, optimizer: Any, steps: int) -> None:
        for _ in range(steps):
            ops.adam_step(model, optimizer, x, y)

    whole, whole_opt = ops.resumable()
    run(whole, whole_opt, 6)
    first, first_opt = ops.resumable()
    run(first, first_opt, 3)
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "checkpoint")
        with ops.learner("save_checkpoint"):
            save(path, first, first_opt, 3)
        ops.fill(first, 0.0)  # nothing of the first run may leak into the second but the files
        later, later_opt = ops.resumable()
        with ops.learner("load_checkpoint"):
            epoch = load(path, later, later_opt)
        restored = ops.weights(later)
        # TensorFlow restores an optimizer's slots when they are created, at its first step: keep the files till then.
        with ops.learner("the first steps after load_checkpoint"):
            run(later, later_opt, 3)
    if epoch is None or number(epoch, "the epoch load_checkpoint returns") != 3:
        raise Wrong(f"load_checkpoint should return the epoch saved with the checkpoint (3), got {epoch!r}")
    start, _ = ops.resumable()
    if same_weights(restored, ops.weights(start)):
        raise Wrong("the weights were not restored: the model after load_checkpoint still has its initial weights")
    got = ops.weights(later)
    if same_weights(got, ops.weights(whole)):
        return
    bug, bug_opt = ops.resumable()  # the plausible bug: the weights after 3 steps, then a fresh Adam
    run(bug, bug_opt, 3)
    run(bug, ops.new_adam(bug), 3)
    if same_weights(got, ops.weights(bug)):
        raise Wrong(
            "the weights were restored but the optimizer's state was not: Adam restarted from zero moments "
            "and step 0, so the resumed run leaves the uninterrupted one; save and load the optimizer's state too"
        )
    raise Wrong("after resuming, 3 more steps do not give the weights of 6 uninterrupted steps")


def adam_defaults(ops: Ops05, fn: Any) -> None:
    look = "; look at the epsilon each one adds to the denominator"
    make = letter_then(
        ops,
        fn,
        ("why_they_differ", "matching_adam"),
        "B",
        {
            "A": "the default learning rates are the same (0.001) in both frameworks" + look,
            "C": "both apply Adam's bias correction" + look,
        },
    )
    if isinstance(ops, Torch05):
        params = [ops.torch.zeros(2, requires_grad=True)]
        optimizer = ops.call(make, params)
    else:
        optimizer = ops.call(make)
    settings = ops.adam_settings(optimizer)
    if settings is None:
        raise Wrong(f"matching_adam should return this framework's Adam optimizer, got {describe(optimizer)}")
    if isinstance(ops, Torch05) and optimizer.param_groups[0]["params"][0] is not params[0]:
        raise Wrong("the optimizer does not update the parameters it was given")
    if not math.isclose(settings["eps"], ops.twin_eps, rel_tol=1e-6):
        raise Wrong(f"its epsilon is {settings['eps']:g}; the twin's Adam uses {ops.twin_eps:g} by default")
    if not math.isclose(settings["lr"], 1e-3, rel_tol=1e-6) or not np.allclose(settings["betas"], (0.9, 0.999)):
        raise Wrong(f"keep the other defaults (learning rate 0.001, betas 0.9 and 0.999), got {settings}")


EXERCISES = [
    Exercise(
        "05.1",
        "accuracy from logits, ported from the twin",
        "the predicted class is the argmax over the last axis (the classes); compare it with the labels "
        "and take the mean of the matches as floats",
        accuracy,
    ),
    Exercise(
        "05.2",
        "one training epoch by hand",
        "switch the model to training, then for each batch of `order`: clear the gradients, forward, loss, "
        "backward, step; add loss × batch size and divide by the number of examples at the end",
        train_epoch,
    ),
    Exercise(
        "05.3",
        "early stopping that keeps the best weights",
        "after each epoch compare the validation loss with the best so far; on improvement keep a copy of the "
        "weights and reset the count, else stop when the count reaches patience; load the copy at the end",
        early_stopping,
    ),
    Exercise(
        "05.4",
        "save and resume",
        "a resume checkpoint holds the model's weights, the optimizer's state and the epoch; load all three",
        resume,
    ),
    Exercise(
        "05.5",
        "why the twins' Adam differ",
        "compare the two Adam signatures' defaults: lr, betas and epsilon",
        adam_defaults,
    ),
]

__all__ = ["EXERCISES", "OPS"]
