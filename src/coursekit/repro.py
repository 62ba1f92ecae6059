"""One call to seed Python, NumPy, PyTorch and TensorFlow, and to ask for deterministic kernels."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable

import numpy as np

from coursekit import validate
from coursekit.course import FRAMEWORKS
from coursekit.frameworks import canonical, require


def seed_everything(
    seed: int, *, deterministic: bool = True, frameworks: str | Iterable[str] | None = None
) -> list[str]:
    """Seed every random number generator the course uses; return the frameworks that were seeded.

    frameworks: which of 'torch' / 'tensorflow' to seed (one name or a list). None seeds those already imported, so a
    PyTorch notebook does not pay for importing TensorFlow (import your framework first).
    deterministic: also ask each framework for deterministic kernels (slower on some GPU ops).
    """
    seed = validate.seed(seed)
    deterministic = validate.flag("deterministic", deterministic)
    if frameworks is None:
        names = [key for key in FRAMEWORKS if sys.modules.get(key) is not None]
    else:
        names = list(dict.fromkeys(canonical(fw) for fw in validate.names("frameworks", frameworks)))
    os.environ["PYTHONHASHSEED"] = str(seed)  # affects subprocesses started from here on
    random.seed(seed)
    np.random.seed(seed)
    for name in names:
        (_seed_torch if name == "torch" else _seed_tensorflow)(seed, deterministic)
    return names


def _seed_torch(seed: int, deterministic: bool) -> None:
    torch = require("torch")
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def _seed_tensorflow(seed: int, deterministic: bool) -> None:
    tf = require("tensorflow")
    tf.keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow's global seed
    if deterministic:
        tf.config.experimental.enable_op_determinism()
