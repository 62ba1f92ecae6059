"""seed_everything makes both frameworks repeat their random numbers."""

import re

import numpy as np
import pytest

from coursekit.repro import seed_everything
from helpers import needs


@needs("torch", "tensorflow")
def test_same_seed_same_numbers_in_both_frameworks():
    import tensorflow as tf
    import torch

    draws = []
    for _ in range(2):
        assert seed_everything(7, frameworks=["torch", "tf"]) == ["torch", "tensorflow"]
        draws.append((np.random.rand(3), torch.randn(3).numpy(), tf.random.normal((3,)).numpy()))
    for a, b in zip(*draws, strict=True):
        np.testing.assert_array_equal(a, b)
    seed_everything(8, frameworks=["torch"])
    assert not np.array_equal(torch.randn(3).numpy(), draws[0][1])


@needs("torch")
def test_default_seeds_the_frameworks_already_imported():
    import torch  # noqa: F401  (imported here, so it is seeded)

    assert "torch" in seed_everything(0)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "0", True])
def test_bad_seeds_are_rejected(seed):
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*32\), got"):
        seed_everything(seed)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"deterministic": "no"}, "deterministic must be True or False, got 'no' (a str)"),
        ({"deterministic": None}, "deterministic must be True or False, got None"),
        ({"frameworks": 5}, "frameworks must be a name or a list of names, got 5 (an int)"),
        ({"frameworks": [None]}, "frameworks must hold names (strings), got None"),
        ({"frameworks": "jax"}, "unknown framework 'jax'"),
    ],
)
def test_bad_options_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        seed_everything(0, **kwargs)


@needs("torch")
def test_one_framework_name_is_not_read_letter_by_letter():
    assert seed_everything(np.int64(3), frameworks="torch") == ["torch"]  # a NumPy integer is a fine seed
