"""Checks of module 09 (distributed training).

The checks simulate the workers in one process, so they run in a second: a shard is checked against the
twin's sharding rule, a hand-written DDP step gets a stand-in `all_reduce` that adds the other worker's
gradient (computed by the check on the other half of the global batch), the epoch loop gets a real
`DistributedSampler`, the loss scaling and the effective learning rate are compared with their formulas,
and a stand-in broadcast hands out rank 0's weights. Each plausible mistake is computed too, and named
when the answer matches it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from coursekit.checks.core import Exercise, Ops, TensorFlowOps, TorchOps, Wrong, close, describe, letter_then

# Exercise 09.2: a 4 -> 3 (tanh) -> 2 classifier, a global batch of 8 split over 2 workers, SGD lr 0.5.
IN, HIDDEN, OUT, GLOBAL, WORLD, LR = 4, 3, 2, 8, 2, 0.5


def mlp_weights(seed: int = 9) -> list[np.ndarray]:
    """The 09.2 weights in Keras' layout: kernel (in, out), bias, kernel, bias."""
    rng = np.random.default_rng(seed)
    return [
        rng.normal(0, 0.6, (IN, HIDDEN)),
        rng.normal(0, 0.1, HIDDEN),
        rng.normal(0, 0.6, (HIDDEN, OUT)),
        rng.normal(0, 0.1, OUT),
    ]


def global_batch(seed: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(GLOBAL, IN)).astype(np.float32), rng.integers(0, OUT, size=GLOBAL)


class Ops09(Ops):
    """What module 09's checks need beyond core.Ops (bound to each framework below)."""

    def ddp_setup(self) -> tuple[Any, Any, Any]:
        """A fresh 09.2 model (float32), its SGD optimizer (lr LR) and the loss function."""
        raise NotImplementedError

    def weights(self, model: Any) -> list[np.ndarray]:
        """The model's weights as NumPy in Keras' layout."""
        raise NotImplementedError

    def grads(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """The gradient of the mean loss over (x, y) at the starting weights, Keras' layout."""
        raise NotImplementedError

    def prefill(self, model: Any) -> None:
        """Leave stale gradients in the model, as an earlier step would (torch only: TF's tape starts fresh)."""

    def fake_all_reduce(self, others: dict[tuple[int, ...], np.ndarray], calls: list[tuple[int, ...]]) -> Any:
        """A stand-in all_reduce of 2 workers: adds the other worker's gradient to the one it is given."""
        raise NotImplementedError

    def set_weights(self, model: Any, weights: list[np.ndarray]) -> None:
        """Load Keras-layout weights into the 09.2 model."""
        raise NotImplementedError

    def fake_broadcast(self, chief: dict[tuple[int, ...], np.ndarray]) -> Any:
        """A stand-in broadcast from rank 0: torch's fills the tensor in place, TensorFlow's returns rank 0's value."""
        raise NotImplementedError


def _keras_layout(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """torch's Linear weights (out, in) as Keras kernels (in, out)."""
    return [a.T if a.ndim == 2 else a for a in arrays]


class Torch09(TorchOps, Ops09):
    def _model(self) -> Any:
        nn, torch = self.torch.nn, self.torch
        model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, OUT))
        with torch.no_grad():
            for p, w in zip(model.parameters(), mlp_weights(), strict=True):
                p.copy_(torch.from_numpy(np.ascontiguousarray(w.T if w.ndim == 2 else w).astype(np.float32)))
        return model

    def ddp_setup(self):
        model = self._model()
        return model, self.torch.optim.SGD(model.parameters(), lr=LR), self.torch.nn.CrossEntropyLoss()

    def weights(self, model):
        return _keras_layout([p.detach().numpy().astype(np.float64) for p in model.parameters()])

    def grads(self, x, y):
        model = self._model()
        self.torch.nn.functional.cross_entropy(model(self.torch.from_numpy(x)), self.torch.from_numpy(y)).backward()
        return _keras_layout([p.grad.numpy().astype(np.float64) for p in model.parameters()])

    def prefill(self, model):
        for p in model.parameters():
            p.grad = self.torch.full_like(p, 3.0)

    def fake_all_reduce(self, others, calls):
        torch = self.torch

        def all_reduce(tensor, *args, **kwargs):
            if not isinstance(tensor, torch.Tensor):
                raise Wrong(f"all_reduce takes one gradient tensor (it sums in place), got {describe(tensor)}")
            shape = tuple(tensor.shape)[::-1] if tensor.ndim == 2 else tuple(tensor.shape)
            if shape not in others:
                raise Wrong(
                    f"all_reduce was given a tensor of shape {tuple(tensor.shape)}: give it each parameter's .grad"
                )
            calls.append(shape)
            other = others[shape].T if tensor.ndim == 2 else others[shape]
            with torch.no_grad():
                tensor.add_(torch.from_numpy(np.ascontiguousarray(other).astype(np.float32)))

        return all_reduce

    def set_weights(self, model, weights):
        with self.torch.no_grad():
            for p, w in zip(model.parameters(), weights, strict=True):
                p.copy_(self.torch.from_numpy(np.ascontiguousarray(w.T if w.ndim == 2 else w).astype(np.float32)))

    def fake_broadcast(self, chief):
        torch = self.torch

        def broadcast(tensor, src=None, *args, **kwargs):
            if src != 0:
                raise Wrong(f"broadcast(tensor, src={src!r}): the weights to copy are rank 0's, so src=0")
            shape = tuple(tensor.shape)[::-1] if tensor.ndim == 2 else tuple(tensor.shape)
            if shape not in chief:
                raise Wrong(f"broadcast was given a tensor of shape {tuple(tensor.shape)}: give it each parameter")
            value = chief[shape].T if tensor.ndim == 2 else chief[shape]
            with torch.no_grad():
                tensor.copy_(torch.from_numpy(np.ascontiguousarray(value).astype(np.float32)))

        return broadcast


class TensorFlow09(TensorFlowOps, Ops09):
    def __init__(self) -> None:
        super().__init__()
        import keras

        self.keras = keras

    def _model(self) -> Any:
        keras = self.keras
        model = keras.Sequential([keras.Input((IN,)), keras.layers.Dense(HIDDEN, "tanh"), keras.layers.Dense(OUT)])
        model.set_weights([w.astype(np.float32) for w in mlp_weights()])
        return model

    def _loss(self) -> Any:
        return self.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def ddp_setup(self):
        return self._model(), self.keras.optimizers.SGD(LR), self._loss()

    def weights(self, model):
        return [np.asarray(v.numpy(), np.float64) for v in model.trainable_variables]

    def grads(self, x, y):
        model = self._model()
        with self.tf.GradientTape() as tape:
            loss = self._loss()(y, model(x))
        return [np.asarray(g.numpy(), np.float64) for g in tape.gradient(loss, model.trainable_variables)]

    def fake_all_reduce(self, others, calls):
        tf = self.tf

        def one(t: Any) -> Any:
            shape = tuple(t.shape)
            if shape not in others:
                raise Wrong(f"all_reduce was given a tensor of shape {shape}: give it the gradients")
            calls.append(shape)
            return t + tf.constant(others[shape], dtype=t.dtype)

        def all_reduce(values, *args, **kwargs):
            if isinstance(values, (list, tuple)):
                return [one(v) for v in values]
            return one(values)

        return all_reduce

    def set_weights(self, model, weights):
        model.set_weights([w.astype(np.float32) for w in weights])

    def fake_broadcast(self, chief):
        def broadcast(value, *args, **kwargs):
            shape = tuple(value.shape)
            if shape not in chief:
                raise Wrong(f"broadcast was given a value of shape {shape}: give it each variable")
            return self.tf.constant(chief[shape], dtype=value.dtype)

        return broadcast


OPS = {"torch": Torch09, "tensorflow": TensorFlow09}


def _indices(ops: Ops09, value: Any, what: str) -> np.ndarray:
    if value is None:
        raise Wrong(f"{what} is None: did you forget to `return` it?")
    if hasattr(value, "numpy") or hasattr(value, "detach"):
        return np.asarray(ops.to_numpy(value)).astype(np.int64).reshape(-1)
    try:
        return np.asarray(list(value), dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise Wrong(f"{what} should be a tensor of indices, got {describe(value)}") from None


def shard_by_rank(ops: Ops09, fn: Any) -> None:
    rng = np.random.default_rng(3)
    for n, world in ((12, 2), (10, 3), (11, 4)):
        values = rng.permutation(100)[:n]  # a shuffled epoch order: not 0..n-1, so positions and values differ
        usable = n // world * world
        got = [
            _indices(ops, ops.call(fn, ops.tensor(values), rank, world), f"rank {rank}'s shard")
            for rank in range(world)
        ]
        right = [values[rank:usable:world] for rank in range(world)]
        if all(np.array_equal(g, r) for g, r in zip(got, right, strict=True)):
            continue
        if all(np.array_equal(g, got[0]) for g in got):
            raise Wrong("every rank got the same indices: the ranks would all train on the same examples")
        if all(np.array_equal(g, values[rank::world]) for rank, g in enumerate(got)) and usable != n:
            sizes = [len(g) for g in got]
            raise Wrong(
                f"with {n} examples and {world} ranks the shards hold {sizes} indices: every rank must get the same "
                f"number ({n // world}), so drop the last {n - usable} (else the ranks run different numbers of "
                "steps and the last collective waits forever)"
            )
        per = n // world
        if all(np.array_equal(g, values[rank * per : (rank + 1) * per]) for rank, g in enumerate(got)):
            raise Wrong(
                "you took contiguous blocks; the twin deals the indices round-robin: "
                "rank r takes r, r + world_size, ..."
            )
        if all(np.array_equal(g, np.arange(n)[rank:usable:world]) for rank, g in enumerate(got)):
            raise Wrong("you returned positions 0, 1, ...; return the entries of `indices` at those positions")
        for rank, (g, r) in enumerate(zip(got, right, strict=True)):
            if not np.array_equal(g, r):
                raise Wrong(
                    f"with {n} indices over {world} ranks, rank {rank} should get {r.tolist()}, got {g.tolist()}"
                )


def ddp_step(ops: Ops09, fn: Any) -> None:
    x, y = global_batch()
    half = GLOBAL // WORLD
    mine, other = (x[:half], y[:half]), (x[half:], y[half:])
    start = mlp_weights()
    g_mine, g_other, g_all = ops.grads(*mine), ops.grads(*other), ops.grads(x, y)
    others = {tuple(g.shape): g for g in g_other}
    calls: list[tuple[int, ...]] = []
    model, optimizer, loss_fn = ops.ddp_setup()
    ops.prefill(model)
    loss = ops.call(
        fn,
        model,
        optimizer,
        loss_fn,
        ops.tensor(mine[0]),
        ops.tensor(mine[1]),
        ops.fake_all_reduce(others, calls),
        WORLD,
    )
    got = ops.weights(model)

    def after(grads: list[np.ndarray]) -> list[np.ndarray]:
        return [w - LR * g for w, g in zip(start, grads, strict=True)]

    def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
        return all(np.allclose(u, v, rtol=1e-4, atol=1e-5) for u, v in zip(a, b, strict=True))

    if same(got, start):
        raise Wrong("the weights did not change: take the optimizer step after averaging the gradients")
    if not same(got, after(g_all)):
        if same(got, after([a + b for a, b in zip(g_mine, g_other, strict=True)])):
            raise Wrong("you summed the gradients: divide by world_size after all_reduce, as DDP averages them")
        if same(got, after(g_mine)):
            raise Wrong("the step used this worker's own gradient: all_reduce every gradient before the step")
        stale = [a + 3.0 for a in g_mine]
        if isinstance(ops, Torch09) and any(
            same(got, after([(s + b) / d for s, b in zip(stale, g_other, strict=True)])) for d in (1, WORLD)
        ):
            raise Wrong("the gradients left from an earlier step were not cleared: call optimizer.zero_grad() first")
        if same(got, after([(a + b) / WORLD**2 for a, b in zip(g_mine, g_other, strict=True)])):
            raise Wrong("you divided by world_size twice: once after all_reduce is enough")
        raise Wrong("the weights after the step are not those of one step on the whole global batch (what DDP gives)")
    if sorted(calls) != sorted(others):
        raise Wrong("call all_reduce once on each parameter's gradient")
    try:
        value = float(np.asarray(ops.to_numpy(loss) if hasattr(loss, "numpy") or hasattr(loss, "detach") else loss))
    except (TypeError, ValueError):
        raise Wrong(f"return this worker's loss as a number, got {describe(loss)}") from None
    model2, _, loss2 = ops.ddp_setup()
    if isinstance(ops, Torch09):
        expected = float(loss2(model2(ops.tensor(mine[0])), ops.tensor(mine[1])).item())
    else:
        expected = float(loss2(mine[1], model2(mine[0])))
    close(value, expected, "the returned loss (this worker's mean loss before the step)")


def set_epoch(ops: Ops09, fn: Any) -> None:
    if not isinstance(ops, Torch09):
        return _replica_loss(ops, fn)
    torch = ops.torch
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    def run(mode: str) -> list[list[int]]:
        data = TensorDataset(torch.arange(12))
        sampler: Any = DistributedSampler(data, num_replicas=2, rank=0, shuffle=True, seed=0)
        loader = DataLoader(data, batch_size=3, sampler=sampler)
        seen: dict[int, list[int]] = {}

        def visit(epoch: int, batch: Any) -> None:
            (xb,) = batch
            seen.setdefault(int(epoch), []).extend(int(v) for v in xb)

        if mode == "learner":
            ops.call(fn, loader, sampler, 3, visit)
        else:
            for epoch in range(3):
                if mode == "right":
                    sampler.set_epoch(epoch)
                for batch in loader:
                    visit(epoch, batch)
                if mode == "late":
                    sampler.set_epoch(epoch)
        return [seen.get(e, []) for e in range(3)]

    got, right = run("learner"), run("right")
    if not any(got):
        raise Wrong("visit(epoch, batch) was never called: call it for every batch of every epoch")
    if got == right:
        return
    if got == run("none"):
        raise Wrong(
            "every epoch replayed epoch 0's order: call sampler.set_epoch(epoch) before each epoch (the sampler's "
            "shuffle is seeded with seed + epoch)"
        )
    if got == run("late"):
        raise Wrong("set_epoch came one epoch late: call it before iterating over the loader, not after")
    raise Wrong(f"the examples seen per epoch should be {right}, got {got}")


def _replica_loss(ops: Ops09, fn: Any) -> None:
    assert isinstance(ops, TensorFlow09)
    tf = ops.tf
    rng = np.random.default_rng(4)
    local, global_size = 4, 8
    labels = rng.integers(0, 3, size=local)
    logits = rng.normal(size=(local, 3)).astype(np.float32)
    per_example = -(logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)))[np.arange(local), labels]
    got = ops.call(fn, tf.constant(labels), tf.constant(logits), global_size)
    if got is None:
        raise Wrong("replica_loss returned None: did you forget to `return` it?")
    shape = tuple(getattr(got, "shape", ()))
    if shape not in ((), (1,)):
        raise Wrong(f"return one number (the replica's share of the global mean), got {describe(got)}")
    value = float(np.asarray(ops.to_numpy(got) if hasattr(got, "numpy") else got).reshape(()))
    right = per_example.sum() / global_size
    if math.isclose(value, right, rel_tol=1e-4):
        return
    if math.isclose(value, per_example.mean(), rel_tol=1e-4):
        raise Wrong(
            f"you divided by this replica's {local} examples: the replicas' gradients are summed, so with 2 replicas "
            f"the step is 2 times too large; divide the sum by the global batch ({global_size})"
        )
    if math.isclose(value, per_example.sum(), rel_tol=1e-4):
        raise Wrong(f"you returned the sum of the per-example losses: divide it by the global batch ({global_size})")
    if math.isclose(value, per_example.sum() / global_size / 2, rel_tol=1e-4):
        raise Wrong(
            "you divided by the number of replicas too: the global batch already counts every replica's examples"
        )
    close(value, right, "the replica's loss")


def effective_lr(ops: Ops09, fn: Any) -> None:
    why = (
        "the optimizer's learning rate is the same number in both; look at how the workers' gradients are "
        "combined (DDP's all-reduce divides by the world size; apply_gradients under a strategy sums)"
    )
    compute = letter_then(
        ops,
        fn,
        ("why_they_differ", "effective_lr"),
        "A",
        {"B": why, "C": "both losses here are means over each worker's own batch; " + why},
    )
    for lr, workers in ((0.1, 2), (0.05, 4), (0.2, 1)):
        got = {r: ops.call(compute, lr, workers, r) for r in ("mean", "sum")}
        for reduction, value in got.items():
            try:
                got[reduction] = float(value)
            except (TypeError, ValueError):
                raise Wrong(f"effective_lr should return a number, got {describe(value)}") from None
        if workers == 1:
            close([got["mean"], got["sum"]], [lr, lr], "with 1 worker, the effective learning rate")
            continue
        if math.isclose(got["mean"], lr * workers, rel_tol=1e-6):
            raise Wrong(
                f"with 'mean' (DDP) the gradients are averaged: the mean of {workers} local means is the global mean, "
                f"so the effective learning rate stays {lr:g}"
            )
        if math.isclose(got["mean"], lr / workers, rel_tol=1e-6):
            raise Wrong(f"with 'mean' nothing shrinks the step: averaging keeps the global mean's gradient ({lr:g})")
        if math.isclose(got["sum"], lr, rel_tol=1e-6):
            raise Wrong(
                f"with 'sum' the {workers} local-mean gradients add up to {workers} times the global mean's: the "
                f"effective learning rate is {lr * workers:g}, not {lr:g}"
            )
        close([got["mean"], got["sum"]], [lr, lr * workers], f"effective_lr({lr}, {workers}, 'mean' / 'sum')")


def sync_weights(ops: Ops09, fn: Any) -> None:
    chief, mine = mlp_weights(9), mlp_weights(11)  # rank 0's starting weights, and this rank's (another seed)
    model, _, _ = ops.ddp_setup()
    ops.set_weights(model, mine)
    ops.call(fn, model, ops.fake_broadcast({tuple(w.shape): w for w in chief}))
    got = ops.weights(model)
    names = ["the first kernel", "the first bias", "the second kernel", "the second bias"]
    left = [name for name, g, c in zip(names, got, chief, strict=True) if not np.allclose(g, c, atol=1e-6)]
    if len(left) == len(names):
        raise Wrong("the weights still differ from rank 0's: copy every parameter from rank 0 into this model")
    if left:
        raise Wrong(f"{' and '.join(left)} still differ from rank 0's: synchronise every parameter, biases too")


EXERCISES = [
    Exercise(
        "09.1",
        "shard a dataset by rank, ported from the twin",
        "drop the last n % world_size indices, then rank r takes every world_size-th index starting at r",
        shard_by_rank,
    ),
    Exercise(
        "09.2",
        "a DDP step by hand: all_reduce and average",
        "clear the gradients, forward, loss, backward; all_reduce each gradient (a sum), divide by world_size, "
        "then take the optimizer step",
        ddp_step,
    ),
    Exercise(
        "09.3",
        "fix a job whose workers diverge",
        "PyTorch: sampler.set_epoch(epoch) before each epoch; TensorFlow: divide the per-example losses' sum "
        "by the GLOBAL batch (tf.nn.compute_average_loss)",
        set_epoch,
    ),
    Exercise(
        "09.4",
        "the effective learning rate when the worker count changes",
        "averaged gradients keep the step of the global mean; summed gradients of local means are world_size times "
        "larger, as if the learning rate were lr × workers",
        effective_lr,
    ),
    Exercise(
        "09.5",
        "synchronise the starting weights from rank 0",
        "every parameter (weights and biases) takes rank 0's value: broadcast each one from src=0",
        sync_weights,
    ),
]

__all__ = ["EXERCISES", "OPS"]
