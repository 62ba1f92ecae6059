"""Checks of module 04 (data pipelines).

The checks hand the learner's pipelines data of their own in which every image holds its own index
(image i is filled with the value i), so the order, the batching and any augmentation can be read
back from what comes out: a shuffle of batches, an augmented test split or an unseeded order shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from coursekit.checks.core import Exercise, Ops, TensorFlowOps, TorchOps, Wrong, close, describe, fastest, letter_then
from coursekit.frameworks import available

OFFSET = 1000.0  # what the check's own "augmentation" adds to an image, so that augmented samples show


def shift_reference(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each 8x8 image moved shifts[b] = (dy, dx): dy rows down, dx columns right, zeros shifted in."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    return np.stack([padded[b, 1 - dy : 9 - dy, 1 - dx : 9 - dx] for b, (dy, dx) in enumerate(shifts)])


def indexed(n: int, size: int = 4) -> np.ndarray:
    """n images of size x size whose every pixel is the image's index: what comes out names itself."""
    return np.repeat(np.arange(n, dtype=np.float32), size * size).reshape(n, size, size)


class Ops04(Ops):
    """What module 04's checks need beyond core.Ops (bound to each framework below)."""

    pipeline = ""  # what the framework calls a pipeline, for messages
    shuffle_seeded = ""  # how to seed a shuffle in this framework
    reshuffle = ""  # how to get a new order each epoch

    def ints(self, array: Any) -> Any:
        """Integer indices as the framework indexes with them: torch int64, TensorFlow int32."""
        raise NotImplementedError

    def augment(self) -> Callable[[Any], Any]:
        """The check's own per-sample augmentation: adds OFFSET to the image (a framework op)."""
        return lambda image: image + OFFSET

    def is_pipeline(self, obj: Any) -> bool:
        raise NotImplementedError

    def loop_evidence(self, fn: Any, images: np.ndarray, shifts: np.ndarray) -> str | None:
        """How fn's cost grows from 4 images to many, when it grows like a loop over the images; else None."""
        raise NotImplementedError

    def batches(self, obj: Any, what: str) -> list[list[np.ndarray]]:
        """One epoch of a pipeline: every batch as a list of NumPy arrays (its fields)."""
        if obj is None:
            raise Wrong(f"{what} is None: did you forget to `return` it?")
        if not self.is_pipeline(obj):
            raise Wrong(f"{what} should be {self.pipeline}, got {describe(obj)}")
        out = []
        with self.learner(f"iterating over {what}"):
            for batch in obj:
                fields = list(batch) if isinstance(batch, (tuple, list)) else [batch]
                if not all(isinstance(f, self.tensor_type) for f in fields):
                    raise Wrong(f"each batch of {what} should be a tuple of {self.name} tensors, got {describe(batch)}")
                out.append([self.to_numpy(f) for f in fields])
        if not out:
            raise Wrong(f"{what} gave no batches")
        return out

    def centred_original(self, x: np.ndarray, y: np.ndarray) -> tuple[list[list[np.ndarray]], str] | None:
        """The twin's centred_batches run in the twin framework, if it is installed."""
        raise NotImplementedError


class Torch04(TorchOps, Ops04):
    pipeline = "a DataLoader (or another iterable of batches)"
    shuffle_seeded = "DataLoader(..., shuffle=True, generator=torch.Generator().manual_seed(seed))"
    reshuffle = "one DataLoader with a generator reshuffles at every epoch"

    def ints(self, array):
        return self.torch.tensor(np.asarray(array, dtype=np.int64))

    def is_pipeline(self, obj):
        return hasattr(obj, "__iter__") and not isinstance(obj, (self.torch.Tensor, str, bytes))

    def loop_evidence(self, fn, images, shifts):
        # Count the torch calls: one indexing of the padded batch makes the same few calls for 4 images as for 64,
        # a loop makes at least one per image. Counting, unlike timing, does not depend on the machine's load.
        from torch.overrides import TorchFunctionMode

        class Count(TorchFunctionMode):
            calls = 0

            def __torch_function__(self, func, types, args=(), kwargs=None):
                Count.calls += 1
                return func(*args, **(kwargs or {}))

        counts = []
        for b in (4, 64):
            args = self.tensor(images[:b]), self.ints(shifts[:b])
            Count.calls = 0
            with Count():
                self.call(fn, *args)
            counts.append(Count.calls)
        if counts[1] > counts[0] + 30:
            return f"it made {counts[1]} torch calls for 64 images against {counts[0]} for 4"
        return None

    def centred_original(self, x, y):
        if not available("tensorflow"):
            return None
        tf = TensorFlowOps().tf
        ds = centred_batches_tf(tf, tf.constant(x), tf.constant(y))
        return [[np.asarray(f.numpy()) for f in b] for b in ds], "the TensorFlow original"


class TensorFlow04(TensorFlowOps, Ops04):
    pipeline = "a tf.data.Dataset"
    shuffle_seeded = "ds.shuffle(n, seed=seed)"
    reshuffle = "shuffle(..., reshuffle_each_iteration=True), the default"

    def ints(self, array):
        return self.tf.constant(np.asarray(array, dtype=np.int32))

    def is_pipeline(self, obj):
        return isinstance(obj, self.tf.data.Dataset)

    def loop_evidence(self, fn, images, shifts):
        # Time per extra image: one gather costs well under a microsecond per 8x8 image, while an eager loop pays
        # tens of microseconds per image in op dispatch alone, a margin that survives a busy machine.
        small = fastest(self, fn, self.tensor(images[:4]), self.ints(shifts[:4]))
        large = fastest(self, fn, self.tensor(images), self.ints(shifts), repeats=2)
        per_image = (large - small) / (len(images) - 4)
        if large > 0.02 and per_image > 8e-6:
            return f"{len(images):,} images took {large:.2f} s, {per_image * 1e6:.0f} µs per extra image"
        return None

    def centred_original(self, x, y):
        if not available("torch"):
            return None
        torch = TorchOps().torch
        loader = centred_batches_torch(torch, torch.tensor(x), torch.tensor(y))
        return [[f.numpy() for f in b] for b in loader], "the PyTorch original"


OPS = {"torch": Torch04, "tensorflow": TensorFlow04}


def shift_batch(ops: Ops04, fn: Any) -> None:
    rng = np.random.default_rng(41)
    images = rng.uniform(0.1, 1.0, size=(9, 8, 8)).astype(np.float32)
    shifts = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])[[5, 0, 7, 2, 4, 1, 8, 3, 6]]
    got = ops.result(ops.call(fn, ops.tensor(images), ops.ints(shifts)), (9, 8, 8), "the shifted batch")
    expected = shift_reference(images, shifts)
    if np.allclose(got, shift_reference(images, shifts[:, ::-1]), atol=1e-6):
        raise Wrong(
            "dy moved the columns and dx the rows: dy is the row shift (axis 1 of the batch), dx the column one"
        )
    if np.allclose(got, shift_reference(images, -shifts), atol=1e-6):
        raise Wrong("the images moved the wrong way: dy = 1 moves the content one row down (out[r] = image[r - 1])")
    rolled = np.stack([np.roll(img, tuple(s), axis=(0, 1)) for img, s in zip(images, shifts, strict=True)])
    if np.allclose(got, rolled, atol=1e-6):
        raise Wrong("the pixels wrapped around (a roll): the border that opens up must be zeros")
    close(got, expected, "the shifted batch")
    big = rng.uniform(size=(4096, 8, 8)).astype(np.float32)
    evidence = ops.loop_evidence(fn, big, rng.integers(-1, 2, size=(4096, 2)))
    if evidence:
        raise Wrong(
            f"the values are right, but {evidence}: a loop over the images; shift the whole batch at once with one "
            "indexing (gather) of the padded batch"
        )


def _indices(batches: list[list[np.ndarray]], what: str, offset: float = 0.0) -> list[np.ndarray]:
    """The sample indices in each batch, read back from the images (every pixel of image i is i)."""
    out = []
    for batch in batches:
        if len(batch) != 2:
            raise Wrong(f"each batch of {what} should be (images, labels), got {len(batch)} fields")
        images = batch[0]
        flat = images.reshape(len(images), -1) - offset
        if not np.allclose(flat, flat[:, :1]):
            raise Wrong(f"the images in {what} were changed pixel by pixel; pass them through as they are")
        out.append(np.rint(flat[:, 0]).astype(np.int64))
    return out


def _check_labels(batches: list[list[np.ndarray]], indices: list[np.ndarray], what: str) -> None:
    for batch, idx in zip(batches, indices, strict=True):
        if not np.array_equal(np.asarray(batch[1]).reshape(-1), idx % 10):
            raise Wrong(f"in {what} the labels no longer belong to their images: shuffle images and labels together")


def make_pipelines(ops: Ops04, fn: Any) -> None:
    n_train, n_test, batch, seed = 100, 40, 16, 7
    x_train, x_test = indexed(n_train), indexed(n_test) + n_train
    y_train, y_test = np.arange(n_train) % 10, (np.arange(n_test) + n_train) % 10

    def build(seed: int) -> tuple[Any, Any]:
        args = (ops.tensor(x_train), ops.tensor(y_train), ops.tensor(x_test), ops.tensor(y_test))
        out = ops.call(fn, *args, ops.augment(), batch, seed)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise Wrong(f"expected the pair (train, test) to be returned, got {describe(out)}")
        return out

    train, test = build(seed)
    test_batches = ops.batches(test, "the test pipeline")
    if test_batches[0][0].min() >= OFFSET:
        raise Wrong("the test split was augmented: evaluate on the data as it is, augment the training split only")
    test_idx = _indices(test_batches, "the test pipeline", offset=n_train)
    if [len(b) for b in test_idx] != [16, 16, 8]:
        raise Wrong(f"the test batches have sizes {[len(b) for b in test_idx]}; expected [16, 16, 8] (keep the last)")
    if not np.array_equal(np.concatenate(test_idx), np.arange(n_test)):
        raise Wrong("the test split came out shuffled: evaluation needs no shuffle, keep it in order")
    _check_labels(test_batches, [i + n_train for i in test_idx], "the test pipeline")

    first = ops.batches(train, "the training pipeline")
    if first[0][0].min() < OFFSET:
        raise Wrong("the training samples were not augmented: apply `augment` to every training image")
    idx = _indices(first, "the training pipeline", offset=OFFSET)
    sizes = [len(b) for b in idx]
    if sorted(sizes) != [4] + [16] * 6:
        raise Wrong(f"the training batches have sizes {sizes}; expected six of 16 and a last one of 4")
    if all(b.max() - b.min() + 1 == len(b) for b in idx):
        raise Wrong(
            "every batch holds consecutive samples: you shuffled the batches, not the samples; "
            "shuffle first, then batch"
        )
    if sizes != [16] * 6 + [4]:
        raise Wrong(f"the training batches have sizes {sizes}; the partial batch of 4 should come last")
    order = np.concatenate(idx)
    if sorted(order.tolist()) != list(range(n_train)):
        raise Wrong("an epoch of the training pipeline should hold every training sample once")
    _check_labels(first, idx, "the training pipeline")
    if np.array_equal(order, np.arange(n_train)):
        raise Wrong(f"the training split is not shuffled: {ops.shuffle_seeded}")
    if (order - np.arange(n_train)).max() < n_train // 3:
        raise Wrong(
            "the order is still almost the stored one: the shuffle buffer is too small; make it as large as the split"
        )
    second = np.concatenate(_indices(ops.batches(train, "the training pipeline"), "the training pipeline", OFFSET))
    if np.array_equal(order, second):
        raise Wrong(f"every epoch has the same order: reshuffle at each epoch ({ops.reshuffle})")
    again_a, _ = build(seed)
    again_b, _ = build(seed)
    orders = [
        np.concatenate(_indices(ops.batches(p, "the training pipeline"), "the training pipeline", OFFSET))
        for p in (again_a, again_b)
    ]
    if not (np.array_equal(orders[0], order) and np.array_equal(orders[1], order)):
        raise Wrong(
            "built again with the same seed, the training pipeline gave another order: draw the order from a "
            f"generator seeded with `seed` ({ops.shuffle_seeded}), not from a global one"
        )
    other, _ = build(seed + 1)
    other_order = np.concatenate(_indices(ops.batches(other, "the training pipeline"), "the training pipeline", OFFSET))
    if np.array_equal(other_order, order):
        raise Wrong("another seed gave the same order: use the `seed` argument for the shuffle")


# The pipeline each notebook asks to port, as the twin notebook writes it (shown there verbatim).
def centred_batches_tf(tf: Any, x: Any, y: Any) -> Any:
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32, drop_remainder=True)
    return ds.map(lambda xb, yb: (xb - tf.reduce_mean(xb, axis=0), yb))


def centred_batches_torch(torch: Any, x: Any, y: Any) -> Any:
    from torch.utils.data import DataLoader, TensorDataset

    def collate(samples: list[tuple[Any, Any]]) -> tuple[Any, Any]:
        xb = torch.stack([s[0] for s in samples])
        yb = torch.stack([s[1] for s in samples])
        return xb - xb.mean(dim=0), yb

    return DataLoader(TensorDataset(x, y), batch_size=32, drop_last=True, collate_fn=collate)


def centred_reference(x: np.ndarray, y: np.ndarray) -> list[list[np.ndarray]]:
    return [[x[k : k + 32] - x[k : k + 32].mean(0), y[k : k + 32]] for k in range(0, len(x) - 31, 32)]


def port_centred(ops: Ops04, fn: Any) -> None:
    rng = np.random.default_rng(43)
    x = rng.normal(2.0, 3.0, size=(100, 3)).astype(np.float32)
    y = np.arange(100) % 10
    got = ops.batches(ops.call(fn, ops.tensor(x), ops.tensor(y)), "your port")
    original = ops.centred_original(x, y)
    expected, source = original if original is not None else (centred_reference(x, y), "the reference")
    if len(got) == len(expected) + 1:
        raise Wrong(
            f"your port gives {len(got)} batches, {source} {len(expected)}: it drops the last, partial batch "
            "(drop_last=True / drop_remainder=True)"
        )
    if len(got) != len(expected):
        raise Wrong(f"your port gives {len(got)} batches, {source} {len(expected)}")
    for k, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        if len(mine) != 2 or mine[0].shape != theirs[0].shape:
            shapes = [tuple(f.shape) for f in mine]
            raise Wrong(f"batch {k} should be (x, y) with x of shape {theirs[0].shape}, got fields of shapes {shapes}")
        if not np.array_equal(mine[1].reshape(-1), theirs[1]):
            raise Wrong(f"batch {k} holds other samples than {source}'s: keep the stored order (no shuffle)")
        raw = x[32 * k : 32 * k + 32]
        if np.allclose(mine[0], raw, atol=1e-5):
            raise Wrong("the batches are not centred: subtract each batch's mean over its samples (axis 0)")
        if np.allclose(mine[0], raw - raw.mean(1, keepdims=True), atol=1e-4):
            raise Wrong(
                "you centred each sample by its own mean (per-sample, over its features); the original centres "
                "each feature by its mean over the batch: a transform after batching, mean over axis 0"
            )
        if np.allclose(mine[0], raw - x.mean(0), atol=1e-4):
            raise Wrong("you centred with the mean of the whole data set; the original uses each batch's own mean")
        close(mine[0], theirs[0], f"batch {k}'s centred x (compared with {source})")


def ordered(ops: Ops04, answer: Any) -> None:
    ordered_batches = letter_then(
        ops,
        answer,
        ("why_they_differ", "ordered_batches"),
        "B",
        "both pipelines repeat their own order on a rerun, and both load the same split; look at where each "
        "framework's random numbers come from",
    )
    rng = np.random.default_rng(44)
    n, batch = 50, 8
    x, y = indexed(n), np.arange(n) % 10
    order = rng.permutation(n)
    got = ops.batches(ops.call(ordered_batches, ops.tensor(x), ops.tensor(y), order, batch), "your batches")
    idx = _indices(got, "your batches")
    if [len(b) for b in idx] != [8] * 6 + [2]:
        raise Wrong(f"the batches have sizes {[len(b) for b in idx]}; expected six of 8 and a last one of 2")
    seen = np.concatenate(idx)
    if np.array_equal(seen, np.argsort(order)):
        raise Wrong(
            "this is the inverse permutation: position k of the epoch must hold sample order[k] "
            "(x[order], not the place where each sample goes)"
        )
    if not np.array_equal(seen, order):
        raise Wrong(
            "the samples do not come in the given order: follow `order` exactly (no shuffle of your own); "
            f"expected {order[:6].tolist()} ..., got {seen[:6].tolist()} ..."
        )
    _check_labels(got, idx, "your batches")


class Stream:
    """The items 0..n-1, one at a time, counting how many the learner has pulled."""

    def __init__(self, n: int) -> None:
        self.n, self.pulled = n, 0

    def __iter__(self) -> Iterator[int]:
        for i in range(self.n):
            self.pulled += 1
            yield i


def buffer_shuffle(ops: Ops04, fn: Any) -> None:
    n, buffer = 200, 16

    def run(buffer: int, seed: int) -> tuple[np.ndarray, int]:
        stream = Stream(n)
        out = ops.call(fn, stream, buffer, seed)
        if not hasattr(out, "__iter__") or isinstance(out, (str, bytes)):
            raise Wrong(f"expected an iterator of items (a generator: use yield), got {describe(out)}")
        items, pulled_at_first = [], None
        with ops.learner("iterating over your shuffle"):
            for item in out:
                if pulled_at_first is None:
                    pulled_at_first = stream.pulled
                items.append(int(item))
        return np.array(items, dtype=np.int64), pulled_at_first or 0

    order, pulled = run(buffer, 3)
    distinct = set(order.tolist())
    if len(order) < n and len(distinct) == len(order) and distinct <= set(range(n)):
        raise Wrong(
            f"{n - len(order)} of the {n} items never came out: when the stream ends, empty the buffer in random order"
        )
    if sorted(order.tolist()) != list(range(n)):
        raise Wrong(f"the items that came out are not the {n} items of the stream, each once")
    if pulled > buffer + 1:
        raise Wrong(
            f"your shuffle read {pulled} items before handing out the first: a buffer of {buffer} holds at most "
            f"{buffer}; read the stream one item at a time (it may be too large to hold)"
        )
    if np.array_equal(order, np.arange(n)):
        raise Wrong("the items came out in the stream's order: hand out a random item of the buffer each time")
    early = int((order - np.arange(n)).max())
    if early > buffer - 1:
        raise Wrong(
            f"an item came out {early} places early; with a buffer of {buffer} no item can leave before it entered "
            f"(at most {buffer - 1} places early): that is a full shuffle, not a buffer"
        )
    if not np.array_equal(run(1, 3)[0], np.arange(n)):
        raise Wrong("a buffer of 1 must hand out the stream unchanged")
    if not np.array_equal(run(buffer, 3)[0], order):
        raise Wrong("the same seed gave another order: draw from a generator seeded with `seed`")
    if np.array_equal(run(buffer, 4)[0], order):
        raise Wrong("another seed gave the same order: seed your generator with `seed`")
    if int((run(n, 3)[0] - np.arange(n)).max()) < n // 4:
        raise Wrong(f"a buffer of {n} (the whole stream) should mix it fully, but items stay close to their place")


EXERCISES = [
    Exercise(
        "04.1",
        "shift a batch, vectorised",
        "pad the batch's two image axes by 1, then pick rows 1 - dy + r and columns 1 - dx + c for every image at "
        "once with index tensors of shape (batch, 8): one indexing, no loop",
        shift_batch,
    ),
    Exercise(
        "04.2",
        "a training and a test pipeline",
        "train: augment each sample, shuffle samples with a seeded generator, then batch; test: batch only, in order",
        make_pipelines,
    ),
    Exercise(
        "04.3",
        "port a batch transform from the twin",
        "the original batches first (dropping the partial batch), then subtracts each batch's mean over axis 0",
        port_centred,
    ),
    Exercise(
        "04.4",
        "why the twins' orders differ, and one order for both",
        "a seed fixes an order within one framework only; to share an order, draw it once (NumPy) and follow it",
        ordered,
    ),
    Exercise(
        "04.5",
        "a shuffle buffer, by hand",
        "fill a list up to `buffer` items; then for each new item hand out a random one of the list; at the end, "
        "empty the list in random order; all draws from a generator seeded with `seed`",
        buffer_shuffle,
    ),
]
