"""The course's datasets: identical, disjoint, deterministic splits in NumPy, torch and tf.data."""

import numpy as np
import pytest

from coursekit.data import DATASETS, SPLITS, load_split, tf_dataset, torch_loader
from helpers import needs


@pytest.mark.parametrize("name", list(DATASETS))
def test_splits_partition_the_data_and_are_deterministic(name):
    parts = {s: load_split(name, s) for s in SPLITS}
    total = sum(len(p) for p in parts.values())
    assert len(parts["train"]) == pytest.approx(0.7 * total, abs=2)
    assert len(parts["test"]) == pytest.approx(0.2 * total, abs=2)
    rows = [{p.x[i].tobytes() for i in range(len(p))} for p in parts.values()]
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2]), "splits overlap"
    again = load_split(name, "train")
    np.testing.assert_array_equal(again.x, parts["train"].x)
    assert parts["train"].x.dtype == np.float32


def test_digits_are_scaled_images_with_every_class_in_every_split():
    for split in SPLITS:
        part = load_split("digits", split)
        assert part.x.shape[1:] == (8, 8) and part.x.min() >= 0.0 and part.x.max() <= 1.0
        assert set(part.y.tolist()) == set(range(10))


def test_seed_changes_the_split():
    assert not np.array_equal(load_split("moons", "train", seed=0).x, load_split("moons", "train", seed=1).x)


@needs("torch", "tensorflow")
def test_torch_and_tensorflow_see_the_same_examples():
    loader = torch_loader("digits", "test", batch_size=1000)
    x_t, y_t = next(iter(loader))
    x_f, y_f = next(iter(tf_dataset("digits", "test", batch_size=1000)))
    np.testing.assert_array_equal(x_t.numpy(), x_f.numpy())
    np.testing.assert_array_equal(y_t.numpy(), y_f.numpy())


@needs("torch")
def test_training_split_is_shuffled_reproducibly():
    first = [b[1].tolist() for b in torch_loader("moons", "train", batch_size=50, seed=3)]
    second = [b[1].tolist() for b in torch_loader("moons", "train", batch_size=50, seed=3)]
    assert first == second
    unshuffled = [b[1].tolist() for b in torch_loader("moons", "train", batch_size=50, shuffle=False)]
    assert first != unshuffled


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: load_split("mnist", "train"), "unknown dataset 'mnist': expected one of digits, moons, curve"),
        (lambda: load_split("digits", "trian"), "unknown split 'trian': expected one of train, val, test"),
        (lambda: torch_loader("digits", "train", batch_size=0), "batch_size must be a positive integer, got 0"),
        (lambda: tf_dataset("digits", "train", batch_size=-4), "batch_size must be a positive integer, got -4"),
        (lambda: torch_loader("digits", "train", batch_size=2.0), "batch_size must be a positive integer, got 2.0"),
        (
            lambda: load_split(["digits"], "train"),
            r"unknown dataset \['digits'\]: expected one of digits, moons, curve",
        ),
        (lambda: load_split("moons", "train", seed=-1), r"seed must be an integer in \[0, 2\*\*32\), got -1"),
        (lambda: load_split("moons", "train", seed=1.5), r"seed must be an integer in \[0, 2\*\*32\), got 1.5"),
        (lambda: load_split("moons", "train", seed=True), r"seed must be an integer in \[0, 2\*\*32\), got True"),
        (
            lambda: torch_loader("moons", "train", seed=2**32),
            r"seed must be an integer in \[0, 2\*\*32\), got 4294967296",
        ),
        (
            lambda: torch_loader("moons", "train", shuffle="no"),
            r"shuffle must be True, False or None \(the default\), got 'no'",
        ),
        (
            lambda: tf_dataset("moons", "train", shuffle=0),
            r"shuffle must be True, False or None \(the default\), got 0",
        ),
    ],
)
def test_bad_names_and_sizes_are_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
