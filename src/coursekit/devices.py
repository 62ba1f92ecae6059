"""What each framework sees (CPU, CUDA, Apple MPS, TPU), where we run, and the best device to use."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coursekit import validate
from coursekit.frameworks import available, canonical, install_hint, module_available, require
from coursekit.tables import Table

# The device names a learner may ask for; "auto" picks the best one present.
ACCEPTED_DEVICES = ("auto", "cpu", "cuda", "mps", "tpu")


@dataclass
class Accelerator:
    """One accelerator as a framework reports it."""

    kind: str  # "cuda", "mps" or "tpu"
    name: str
    memory_gb: float | None = None
    capability: str | None = None


@dataclass
class FrameworkReport:
    """What one framework sees: its version, accelerators, threads and the device it would use."""

    framework: str
    version: str | None
    accelerators: list[Accelerator] = field(default_factory=list)
    threads: dict[str, int] = field(default_factory=dict)
    best: str | None = None
    notes: list[str] = field(default_factory=list)


def runtime() -> str:
    """Where this Python runs: 'colab', 'kaggle', 'binder', 'ci' or 'local'."""
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
        return "kaggle"
    if any(k in os.environ for k in ("BINDER_LAUNCH_HOST", "BINDER_REQUEST", "BINDER_SERVICE_HOST")):
        return "binder"
    if os.environ.get("CI"):
        return "ci"
    return "local"


# Set by TPU runtimes: Cloud TPU VMs and Kaggle (TPU_NAME, TPU_ACCELERATOR_TYPE), older Colab (COLAB_TPU_ADDR).
TPU_VARIABLES = ("TPU_NAME", "TPU_ACCELERATOR_TYPE", "COLAB_TPU_ADDR")


def tpu_attached() -> bool:
    """Whether this machine has TPU chips attached or a TPU runtime says so (Colab, Kaggle, Cloud TPU VMs)."""
    if any(os.environ.get(name) for name in TPU_VARIABLES):
        return True
    return any(Path("/dev").glob("accel*")) or any(Path("/dev/vfio").glob("[0-9]*"))


def usable_cpus() -> int:
    """CPU cores this process may really use: affinity and container quota, not the host's count."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2, as on Binder and most containers
    try:
        limit, period = quota.read_text().split()
        if limit != "max":
            count = min(count, max(1, int(float(limit) / float(period))))
    except (OSError, ValueError):
        pass
    return count


# How many processes share this machine's cores: set by the learner (a classroom server, two notebooks at once),
# else by pytest-xdist in the course's test suite (two notebooks run side by side), else one.
SHARED_BY = ("COURSEKIT_PROCESSES", "PYTEST_XDIST_WORKER_COUNT")


@dataclass(frozen=True)
class ThreadSetting:
    """The threads one framework was given, and why: printed beside every timing taken with them."""

    framework: str
    threads: int
    cpus: int
    processes: int

    def __str__(self) -> str:
        share = (
            f"{self.cpus} usable CPU cores shared by {self.processes} processes"
            if self.processes > 1
            else (f"{self.cpus} usable CPU cores, this process alone")
        )
        plural = "s" if self.threads != 1 else ""
        return f"{self.framework}: {self.threads} thread{plural} per op ({share})"


def processes_sharing() -> int:
    """How many processes share the cores: $COURSEKIT_PROCESSES, else pytest-xdist's worker count, else 1."""
    for name in SHARED_BY:
        raw = os.environ.get(name, "").strip()
        if raw:
            try:
                count = int(raw)
            except ValueError:
                count = 0
            if count < 1:
                raise ValueError(f"${name} is {raw!r}: expected a positive whole number of processes, e.g. 2")
            return count
    return 1


def set_threads(framework: str, threads: int | None = None) -> ThreadSetting:
    """Give the framework `threads` threads per op (None: usable cores / processes sharing them); return the setting.

    Two processes that each use every core slow each other down many times over (a tiny torch step: 0.3 ms with
    one thread each, 86 ms with two), so timings are only meaningful with the cores shared out. TensorFlow accepts
    this only before it runs its first op: call it right after importing the framework.
    """
    name = canonical(framework)
    cpus, processes = usable_cpus(), processes_sharing()
    if threads is None:
        threads = max(1, cpus // processes)
    threads = validate.integer("threads", threads, minimum=1, expected="a positive number of threads, or None")
    if name == "torch":
        require("torch").set_num_threads(threads)
    else:
        tf = require("tensorflow")
        current = (
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
        )
        if current != (threads, threads):
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError as err:
                raise RuntimeError(
                    f"TensorFlow has already run an op, so its threads are fixed at {current[0] or cpus} per op "
                    "(0 means one per core): call set_threads right after `import tensorflow`, before any "
                    "tensor is made, or restart the kernel"
                ) from err
    return ThreadSetting(name, threads, cpus, processes)


def _check_device(device: str) -> str:
    key = str(device).strip().lower()
    if key not in ACCEPTED_DEVICES:
        raise ValueError(
            f"unknown device {device!r}: expected one of {', '.join(ACCEPTED_DEVICES)} "
            "(use 'auto' to let coursekit pick the best one present)"
        )
    return key


def torch_report() -> FrameworkReport:
    """What PyTorch sees. Imports torch."""
    torch = require("torch")
    report = FrameworkReport("torch", torch.__version__)
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            report.accelerators.append(
                Accelerator("cuda", props.name, props.total_memory / 2**30, f"{props.major}.{props.minor}")
            )
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        report.accelerators.append(Accelerator("mps", "Apple GPU (Metal)"))
    if tpu_attached():
        if module_available("torch_xla"):
            report.accelerators.append(Accelerator("tpu", "TPU via torch_xla"))
        else:
            report.notes.append("TPU chips are attached, but torch_xla is not installed.")
    report.threads = {"intra-op": torch.get_num_threads(), "inter-op": torch.get_num_interop_threads()}
    report.best = _pick("torch", report, "auto")
    return report


def tensorflow_report() -> FrameworkReport:
    """What TensorFlow sees. Imports TensorFlow."""
    tf = require("tensorflow")
    report = FrameworkReport("tensorflow", tf.__version__)
    # On macOS a "GPU" is the Apple GPU through the tensorflow-metal plugin; elsewhere it is CUDA.
    gpu_kind = "mps" if sys.platform == "darwin" else "cuda"
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        cap = details.get("compute_capability")
        report.accelerators.append(
            Accelerator(
                gpu_kind,
                details.get("device_name", gpu.name),
                None,  # TensorFlow reports memory in use, not the card's total
                ".".join(map(str, cap)) if cap else None,
            )
        )
    tpus = tf.config.list_logical_devices("TPU")
    report.accelerators += [Accelerator("tpu", d.name) for d in tpus]
    if tpu_attached() and not tpus:
        report.accelerators += _resolve_tpu(tf, report.notes)
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    # 0 means "let TensorFlow decide", which is one thread per usable core.
    report.threads = {"intra-op": intra or usable_cpus(), "inter-op": inter or usable_cpus()}
    report.best = _pick("tensorflow", report, "auto")
    return report


def _resolve_tpu(tf: Any, notes: list[str]) -> list[Accelerator]:
    """Ask TensorFlow's TPU resolver how many TPU cores this machine has, without initialising them."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
        cores = resolver.num_accelerators().get("TPU", 0)
    except Exception as err:  # the resolver raises several error types when no TPU answers
        cores, why = 0, f" ({type(err).__name__}: {err})"
    else:
        why = ""
    if not cores:
        notes.append(f"a TPU runtime is signalled, but TensorFlow's TPU resolver found none{why}.")
        return []
    notes.append(
        "TPU cores found but not initialised: tf.tpu.experimental.initialize_tpu_system(resolver) "
        "comes first (module 09)."
    )
    return [Accelerator("tpu", f"TPU core {i} (via TPUClusterResolver)") for i in range(cores)]


def _pick(framework: str, report: FrameworkReport, device: str) -> str:
    kinds = [a.kind for a in report.accelerators]
    names = {
        "torch": {"cuda": "cuda", "mps": "mps", "tpu": "xla", "cpu": "cpu"},
        "tensorflow": {"cuda": "/GPU:0", "mps": "/GPU:0", "tpu": "/TPU:0", "cpu": "/CPU:0"},
    }[framework]
    if device == "auto":
        for kind in ("cuda", "tpu", "mps"):
            if kind in kinds:
                return names[kind]
        return names["cpu"]
    if device != "cpu" and device not in kinds:
        seen = ", ".join(["cpu", *dict.fromkeys(kinds)])
        raise ValueError(
            f"device {device!r} was asked for, but {framework} sees no such device here "
            f"(it sees: {seen}). Use device='auto' or one of those."
        )
    return names[device]


def best_device(framework: str, device: str = "auto") -> str:
    """The device string to use with the framework: 'cuda'/'mps'/'cpu' for torch, '/GPU:0' etc. for TF.

    `device` is what the learner asked for ('auto' picks the best present); asking for a device
    the framework does not see raises a ValueError that lists what it does see.
    """
    key = _check_device(device)
    report = framework_report(framework)
    return _pick(report.framework, report, key)


def framework_report(framework: str) -> FrameworkReport:
    """What the framework sees ('torch'/'pytorch' or 'tensorflow'/'tf'); imports it."""
    return torch_report() if canonical(framework) == "torch" else tensorflow_report()


def doctor_report(frameworks: str | tuple[str, ...] = ("torch", "tensorflow")) -> tuple[str, list[str]]:
    """A plain-text report of the machine and each framework (one name or several), and the missing ones."""
    names = [canonical(fw) for fw in validate.names("frameworks", frameworks)]
    if not names:
        raise ValueError("frameworks must name at least one framework, e.g. ('torch', 'tensorflow'); got none")
    lines = [
        f"Python      {platform.python_version()} ({sys.executable})",
        f"Platform    {platform.platform()}",
        f"Runtime     {runtime()}",
        f"CPU cores   {usable_cpus()} usable of {os.cpu_count()} on the host",
        "",
    ]
    missing, rows = [], []
    for fw in names:
        name = canonical(fw)
        if not available(name):
            missing.append(name)
            rows.append([name, "MISSING", "-", "-", f"install: {install_hint(name)}"])
            continue
        rep = framework_report(name)
        threads = ", ".join(f"{k} {v}" for k, v in rep.threads.items())
        accel = "; ".join(_describe(a) for a in rep.accelerators) or "none (CPU only)"
        rows.append([name, rep.version or "?", rep.best or "-", threads, accel])
        rows += [["", "", "", "", f"note: {note}"] for note in rep.notes]
    table = Table(["framework", "version", "best device", "threads", "accelerators"], rows)
    return "\n".join(lines) + str(table), missing


def _describe(acc: Accelerator) -> str:
    extra = [f"{acc.memory_gb:.1f} GB" if acc.memory_gb else "", f"sm {acc.capability}" if acc.capability else ""]
    extra = [e for e in extra if e]
    return f"{acc.kind}: {acc.name}" + (f" ({', '.join(extra)})" if extra else "")


__all__ = [
    "ACCEPTED_DEVICES",
    "Accelerator",
    "FrameworkReport",
    "ThreadSetting",
    "best_device",
    "doctor_report",
    "framework_report",
    "processes_sharing",
    "runtime",
    "set_threads",
    "tensorflow_report",
    "torch_report",
    "tpu_attached",
    "usable_cpus",
]
