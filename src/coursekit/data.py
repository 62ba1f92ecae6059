"""The course's datasets, split identically for both frameworks. Nothing is downloaded.

- "digits": scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes), scaled to [0, 1].
- "moons": two interleaving half-circles, the binary-classification task (2 features, 1,000 points).
- "curve": a noisy cubic for regression from scratch (1 feature, 400 points).

Every split is a deterministic function of the dataset name and the seed, so the PyTorch and the
TensorFlow notebook of a pair see exactly the same examples in train, val and test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from coursekit import validate
from coursekit.frameworks import require

SPLITS = ("train", "val", "test")
FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
# The cubic behind "curve": y = 0.5 x³ - x² - 0.5 x + 1 (+ noise), coefficients from x³ down to 1.
CURVE_COEFFICIENTS = (0.5, -1.0, -0.5, 1.0)


@dataclass(frozen=True)
class Split:
    """One split of a dataset as NumPy arrays: x (float32) and y (int64 labels or float32 targets)."""

    dataset: str
    split: str
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def _digits(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.images / 16.0).astype(np.float32), bunch.target.astype(np.int64)


def _moons(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1000, noise=0.2, random_state=seed)
    return x.astype(np.float32), y.astype(np.int64)


def _curve(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=(400, 1))
    y = np.polyval(CURVE_COEFFICIENTS, x[:, 0]) + rng.normal(0.0, 0.3, size=400)
    return x.astype(np.float32), y.astype(np.float32)


DATASETS: dict[str, Callable[[int], tuple[np.ndarray, np.ndarray]]] = {
    "digits": _digits,
    "moons": _moons,
    "curve": _curve,
}


def load_split(dataset: str, split: str, *, seed: int = 0) -> Split:
    """Return one split ('train', 'val' or 'test') of a course dataset as NumPy arrays.

    The split is 70/10/20 and, for classification, stratified so every class appears in each part.
    """
    from sklearn.model_selection import train_test_split

    validate.choice("dataset", dataset, DATASETS)
    validate.choice("split", split, SPLITS)
    seed = validate.seed(seed)
    x, y = DATASETS[dataset](seed)
    stratify = y if y.dtype == np.int64 else None
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=FRACTIONS["test"], random_state=seed, stratify=stratify
    )
    val_share = FRACTIONS["val"] / (FRACTIONS["train"] + FRACTIONS["val"])
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest,
        y_rest,
        test_size=val_share,
        random_state=seed,
        stratify=y_rest if stratify is not None else None,
    )
    parts = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
    return Split(dataset, split, *parts[split])


def torch_loader(dataset: str, split: str, *, batch_size: int = 64, shuffle: bool | None = None, seed: int = 0):
    """A torch DataLoader over one split; shuffles the training split by default, with a seeded order."""
    batch_size, shuffle = _loader_options(batch_size, shuffle)
    part = load_split(dataset, split, seed=seed)
    torch = require("torch")
    from torch.utils.data import DataLoader, TensorDataset

    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        TensorDataset(torch.from_numpy(part.x), torch.from_numpy(part.y)),
        batch_size=batch_size,
        shuffle=split == "train" if shuffle is None else shuffle,
        generator=generator,
    )


def tf_dataset(dataset: str, split: str, *, batch_size: int = 64, shuffle: bool | None = None, seed: int = 0):
    """A tf.data.Dataset over one split; shuffles the training split by default, with a seeded order."""
    batch_size, shuffle = _loader_options(batch_size, shuffle)
    part = load_split(dataset, split, seed=seed)
    tf = require("tensorflow")
    ds = tf.data.Dataset.from_tensor_slices((part.x, part.y))
    if split == "train" if shuffle is None else shuffle:
        ds = ds.shuffle(len(part), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def _loader_options(batch_size: int, shuffle: bool | None) -> tuple[int, bool | None]:
    """The checked batch size and shuffle flag shared by torch_loader and tf_dataset."""
    return (
        validate.integer("batch_size", batch_size, minimum=1, expected="a positive integer"),
        validate.optional_flag("shuffle", shuffle),
    )
