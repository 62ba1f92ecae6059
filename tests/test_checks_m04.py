"""Module 04's checks pass right answers, report stubs as unsolved, and name what each wrong answer
gets wrong (in both frameworks): a wrong axis, a roll, a loop where one indexing was asked, an augmented
test split, batches shuffled instead of samples, an unseeded order, a full shuffle posing as a buffer."""

import random

import numpy as np

from helpers import check_without_tensorflow, checks_tests, needs, stub

STUBS = {"04.4": (stub, stub)}


def buffer_shuffle(draw, grow=False, drain=True, full=False, early_read=False):
    """A shuffle buffer with randint draw(k) in [0, k), and the mistakes the check must catch."""

    def shuffle(stream, buffer, seed):
        rand = draw(seed)
        items = list(stream) if early_read or full else None
        if full:
            yield from (items[i] for i in np.random.default_rng(seed).permutation(len(items)))
            return
        held = []
        for item in items if items is not None else stream:
            held.append(item)
            if len(held) >= buffer and (not grow or item % 2):  # grow: the buffer never stops growing
                j = rand(len(held))
                held[j], held[-1] = held[-1], held[j]
                yield held.pop()
        while drain and held:
            j = rand(len(held))
            held[j], held[-1] = held[-1], held[j]
            yield held.pop()

    return shuffle


def answers_torch(torch):
    from torch.utils.data import DataLoader, Dataset, TensorDataset

    def shift_batch(images, shifts, swap=False, sign=1):
        if swap:
            shifts = shifts.flip(1)
        padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
        r = torch.arange(8)
        rows = r[None, :] + 1 - sign * shifts[:, :1]
        cols = r[None, :] + 1 - sign * shifts[:, 1:]
        return padded[torch.arange(len(images))[:, None, None], rows[:, :, None], cols[:, None, :]]

    def rolled(images, shifts):
        return torch.stack(
            [torch.roll(img, tuple(s.tolist()), dims=(0, 1)) for img, s in zip(images, shifts, strict=True)]
        )

    def looped(images, shifts):
        padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
        return torch.stack(
            [p[1 - dy : 9 - dy, 1 - dx : 9 - dx] for p, (dy, dx) in zip(padded, shifts.tolist(), strict=True)]
        )

    class Augmented(Dataset):
        def __init__(self, x, y, augment):
            self.x, self.y, self.augment = x, y, augment

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.augment(self.x[i]), self.y[i]

    def pipelines(
        x, y, tx, ty, augment, batch_size, seed, seeded=True, test_aug=False, batch_first=False, shuffle_test=False
    ):
        data = Augmented(x, y, augment)
        generator = torch.Generator().manual_seed(seed) if seeded else None
        if batch_first:
            batches = list(DataLoader(data, batch_size=batch_size))
            order = torch.randperm(len(batches), generator=torch.Generator().manual_seed(seed))
            train = [batches[j] for j in order]
        else:
            train = DataLoader(data, batch_size=batch_size, shuffle=True, generator=generator)
        test_data = Augmented(tx, ty, augment) if test_aug else TensorDataset(tx, ty)
        shuffled = torch.Generator().manual_seed(seed) if shuffle_test else None
        return train, DataLoader(test_data, batch_size=batch_size, shuffle=shuffle_test, generator=shuffled)

    def collate(samples, how="batch"):
        xb, yb = torch.stack([s[0] for s in samples]), torch.stack([s[1] for s in samples])
        mean = xb.mean(dim=0) if how == "batch" else xb.mean(dim=1, keepdim=True)
        return xb - mean, yb

    def centred(x, y, drop_last=True, how="batch"):
        return DataLoader(TensorDataset(x, y), batch_size=32, drop_last=drop_last, collate_fn=lambda s: collate(s, how))

    def ordered(x, y, order, batch_size):
        return DataLoader(TensorDataset(x, y), batch_size=batch_size, sampler=order.tolist())

    def draw(seed):
        generator = torch.Generator().manual_seed(seed)
        return lambda k: int(torch.randint(k, (1,), generator=generator))

    right = {
        "04.1": shift_batch,
        "04.2": pipelines,
        "04.3": centred,
        "04.4": (lambda: "B", ordered),
        "04.5": buffer_shuffle(draw),
    }
    wrong = [
        ("04.1", lambda i, s: shift_batch(i, s, swap=True), "dy moved the columns"),
        ("04.1", lambda i, s: shift_batch(i, s, sign=-1), "moved the wrong way"),
        ("04.1", rolled, "wrapped around"),
        ("04.1", looped, "a loop over the images"),
        ("04.2", lambda *a: pipelines(*a, test_aug=True), "the test split was augmented"),
        ("04.2", lambda *a: pipelines(*a, shuffle_test=True), "the test split came out shuffled"),
        ("04.2", lambda *a: pipelines(*a, batch_first=True), "you shuffled the batches, not the samples"),
        ("04.2", lambda *a: pipelines(*a, seeded=False), "built again with the same seed"),
        ("04.3", lambda x, y: centred(x, y, drop_last=False), "drops the last, partial batch"),
        ("04.3", lambda x, y: centred(x, y, how="sample"), "you centred each sample by its own mean"),
        ("04.4", (lambda: "A", ordered), "'A' is not why"),
        (
            "04.4",
            (lambda: "B", lambda x, y, order, b: ordered(x, y, np.argsort(order), b)),
            "this is the inverse permutation",
        ),
        ("04.5", buffer_shuffle(draw, drain=False), "never came out"),
        ("04.5", buffer_shuffle(draw, full=True), "read 200 items before handing out the first"),
        ("04.5", buffer_shuffle(draw, grow=True), "an item came out"),
        ("04.5", buffer_shuffle(lambda seed: lambda k: random.randrange(k)), "the same seed gave another order"),
    ]
    return right, wrong


def answers_tf(tf):
    def shift_batch(images, shifts, swap=False, sign=1):
        if swap:
            shifts = tf.reverse(shifts, [1])
        padded = tf.pad(images, [[0, 0], [1, 1], [1, 1]])
        r = tf.range(8)[None, :]
        rows, cols = r + 1 - sign * shifts[:, :1], r + 1 - sign * shifts[:, 1:]
        return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)

    def looped(images, shifts):
        padded = tf.pad(images, [[0, 0], [1, 1], [1, 1]])
        return tf.stack(
            [p[1 - dy : 9 - dy, 1 - dx : 9 - dx] for p, (dy, dx) in zip(padded, shifts.numpy(), strict=True)]
        )

    def pipelines(x, y, tx, ty, augment, batch_size, seed, seeded=True, test_aug=False, batch_first=False, buffer=None):
        train = tf.data.Dataset.from_tensor_slices((x, y)).map(lambda a, b: (augment(a), b))
        n = int(x.shape[0])
        if batch_first:
            train = train.batch(batch_size).shuffle(n, seed=seed)
        else:
            train = train.shuffle(buffer or n, seed=seed if seeded else None).batch(batch_size)
        test = tf.data.Dataset.from_tensor_slices((tx, ty))
        if test_aug:
            test = test.map(lambda a, b: (augment(a), b))
        return train, test.batch(batch_size)

    def centred(x, y, drop=True, how="batch"):
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32, drop_remainder=drop)
        if how == "batch":
            return ds.map(lambda xb, yb: (xb - tf.reduce_mean(xb, axis=0), yb))
        if how == "whole":
            return ds.map(lambda xb, yb: (xb - tf.reduce_mean(x, axis=0), yb))
        return ds.map(lambda xb, yb: (xb - tf.reduce_mean(xb, axis=1, keepdims=True), yb))

    def ordered(x, y, order, batch_size):
        return tf.data.Dataset.from_tensor_slices((tf.gather(x, order), tf.gather(y, order))).batch(batch_size)

    def draw(seed):
        generator = tf.random.Generator.from_seed(seed)
        return lambda k: int(generator.uniform([], 0, k, dtype=tf.int32))

    right = {
        "04.1": shift_batch,
        "04.2": pipelines,
        "04.3": centred,
        "04.4": (lambda: "b", ordered),
        "04.5": buffer_shuffle(draw),
    }
    wrong = [
        ("04.1", lambda i, s: shift_batch(i, s, swap=True), "dy moved the columns"),
        ("04.1", looped, "a loop over the images"),
        ("04.2", lambda *a: pipelines(*a, test_aug=True), "the test split was augmented"),
        ("04.2", lambda *a: pipelines(*a, batch_first=True), "you shuffled the batches, not the samples"),
        ("04.2", lambda *a: pipelines(*a, buffer=4), "the shuffle buffer is too small"),
        ("04.2", lambda *a: pipelines(*a, seeded=False), "built again with the same seed"),
        ("04.2", lambda *a: (pipelines(*a)[0], pipelines(*a)[0]), "the test split was augmented"),
        ("04.3", lambda x, y: centred(x, y, drop=False), "drops the last, partial batch"),
        ("04.3", lambda x, y: centred(x, y, how="whole"), "the mean of the whole data set"),
        ("04.3", lambda x, y: list(centred(x, y)), "should be a tf.data.Dataset"),
        ("04.4", (lambda: "C", ordered), "'C' is not why"),
        ("04.5", buffer_shuffle(draw, early_read=True), "read 200 items before handing out the first"),
    ]
    return right, wrong


test_right_answers_pass_and_stubs_are_unsolved, test_wrong_answers_get_a_sentence_naming_the_mistake = checks_tests(
    {"torch": answers_torch, "tf": answers_tf}, STUBS, count=5
)


@needs("torch")
def test_the_port_is_checked_against_the_numpy_reference_when_the_twin_is_missing():
    out = check_without_tensorflow(
        "from coursekit.checks.m04 import centred_batches_torch",
        "04.3",
        "lambda x, y: centred_batches_torch(torch, x, y)",
        "lambda x, y: centred_batches_torch(torch, x * 2, y)",
    )
    assert "✓ 04.3 port a batch transform from the twin: passed." in out
    assert "compared with the reference" in out
