"""coursekit: the small helper package of the PyTorch + TensorFlow side-by-side course.

Importing it imports neither torch nor TensorFlow: each framework is imported only inside
the functions that need it, so a learner with one framework installed can use the rest; so are
matplotlib and ipywidgets (`coursekit.plots`).
"""

from coursekit import plots
from coursekit.data import Split, load_split
from coursekit.devices import best_device, doctor_report, runtime, set_threads
from coursekit.frameworks import FrameworkMissing, available, require
from coursekit.repro import seed_everything
from coursekit.results import load_results, save_results
from coursekit.timing import BenchmarkResult, Timer, benchmark, compare

__version__ = "0.1.0"

__all__ = [
    "BenchmarkResult",
    "FrameworkMissing",
    "Split",
    "Timer",
    "available",
    "benchmark",
    "best_device",
    "compare",
    "doctor_report",
    "load_results",
    "load_split",
    "plots",
    "require",
    "runtime",
    "save_results",
    "seed_everything",
    "set_threads",
]
