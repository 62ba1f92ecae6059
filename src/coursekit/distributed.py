"""Launching data-parallel workers on this machine (loopback only) and, unchanged, on a cluster.

Module 09's scripts and notebooks use this: the backend choice (gloo on CPU, nccl with CUDA), a free
port on 127.0.0.1, the launch commands (torchrun's arguments, TensorFlow's TF_CONFIG), built once so
the SLURM scripts and Kubeflow manifests contain the very commands the simulation runs, a launcher
that kills hung workers after a time bound, and the shared small MLP's starting weights.
Imports no framework at import time.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coursekit import validate

LOOPBACK = "127.0.0.1"
SIZES = (64, 32, 10)  # the module's MLP: 8x8 digits -> 32 tanh units -> 10 logits


def backend(cuda: bool | None = None) -> str:
    """torch.distributed's backend for this machine: 'nccl' with CUDA GPUs, else 'gloo' (CPU).

    cuda: whether CUDA is usable; None asks torch (imported only then).
    """
    if cuda is None:
        from coursekit.frameworks import require

        torch = require("torch")
        cuda = bool(torch.cuda.is_available()) and torch.distributed.is_nccl_available()
    if not isinstance(cuda, bool):
        raise validate.WrongType(f"cuda must be True, False or None, got {validate.show(cuda)}")
    return "nccl" if cuda else "gloo"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on `host` now (the OS picks it): for a rendezvous or a TF worker server."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def torchrun_args(
    script: str,
    script_args: Sequence[str] = (),
    *,
    nproc_per_node: int = 2,
    nnodes: int = 1,
    endpoint: str | None = None,
    max_restarts: int = 0,
) -> list[str]:
    """torchrun's arguments (without the launcher itself) for `script`.

    One node with no endpoint: `--standalone` (torchrun picks a free port on this machine). Several nodes:
    a c10d rendezvous at `endpoint` ('host:port'), the same line on every node, so the node rank needs
    no argument: the rendezvous hands ranks out.
    """
    nproc_per_node = validate.integer("nproc_per_node", nproc_per_node, minimum=1)
    nnodes = validate.integer("nnodes", nnodes, minimum=1)
    max_restarts = validate.integer("max_restarts", max_restarts, minimum=0)
    if not isinstance(script, str) or not script:
        raise validate.WrongType(f"script must be a path as a non-empty str, got {validate.show(script)}")
    if isinstance(script_args, str) or not all(isinstance(a, str) for a in script_args):
        raise validate.WrongType(f"script_args must be a list of str, got {validate.show(script_args)}")
    if endpoint is None:
        if nnodes > 1:
            raise ValueError(f"{nnodes} nodes need a rendezvous endpoint 'host:port' that every node can reach")
        head = ["--standalone"]
    else:
        host, _, port = str(endpoint).rpartition(":")
        if not host or not port:
            raise ValueError(f"endpoint must be 'host:port', e.g. '{LOOPBACK}:29400', got {endpoint!r}")
        head = [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}", "--rdzv-id=course09"]
    return [*head, f"--nproc-per-node={nproc_per_node}", f"--max-restarts={max_restarts}", script, *script_args]


def torchrun_command(*args: object, **kwargs: object) -> list[str]:
    """The command that runs torchrun_args(...) with this Python (`python -m torch.distributed.run` is torchrun)."""
    return [sys.executable, "-m", "torch.distributed.run", *torchrun_args(*args, **kwargs)]  # type: ignore[arg-type]


def tf_config(workers: Sequence[str], index: int) -> dict[str, object]:
    """TF_CONFIG for worker `index` of a MultiWorkerMirroredStrategy cluster of `workers` ('host:port' each)."""
    if isinstance(workers, str) or not workers or not all(isinstance(w, str) and ":" in w for w in workers):
        raise ValueError(f"workers must be a non-empty list of 'host:port' strings, got {validate.show(workers)}")
    index = validate.integer("index", index, minimum=0, maximum=len(workers) - 1)
    return {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}}


def tf_worker_env(workers: Sequence[str], index: int) -> dict[str, str]:
    """The environment a TensorFlow worker needs on top of its parent's: TF_CONFIG as JSON, quiet C++ logs."""
    return {"TF_CONFIG": json.dumps(tf_config(workers, index)), "TF_CPP_MIN_LOG_LEVEL": "3"}


def loopback_workers(count: int) -> list[str]:
    """`count` worker addresses on 127.0.0.1, each on a port free now."""
    count = validate.integer("count", count, minimum=1)
    return [f"{LOOPBACK}:{free_port()}" for _ in range(count)]


@dataclass(frozen=True)
class WorkerResult:
    """What one launched process did: its exit code (None if the launcher killed it: past the time bound, or
    because another process failed) and its output."""

    command: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def tail(self, lines: int = 8) -> str:
        return "\n".join((self.stderr or self.stdout).strip().splitlines()[-lines:])


class WorkersFailed(RuntimeError):
    """A launched worker failed or hung: the message names it and ends with its last lines of output."""


def launch(
    commands: Sequence[Sequence[str]],
    *,
    envs: Sequence[Mapping[str, str]] | None = None,
    timeout: float = 60.0,
    cwd: str | Path | None = None,
    check: bool = True,
    fail_fast: bool = True,
) -> list[WorkerResult]:
    """Start every command at once, wait at most `timeout` seconds in all, and kill (with their children) the
    processes still running then: a hung worker costs the time bound, never the session.

    envs: per command, variables set on top of this process's environment. fail_fast: when one process fails,
    kill the others at once (as torchrun's agent does), instead of waiting for their collectives to time out.
    check: raise WorkersFailed, naming each failed or killed process and its last output lines, unless every
    process exited with 0.
    """
    if isinstance(commands, str) or not commands:
        raise ValueError(f"commands must be a non-empty list of argument lists, got {validate.show(commands)}")
    timeout = validate.number("timeout", timeout, minimum=0.1, unit="seconds")
    envs = list(envs) if envs is not None else [{} for _ in commands]
    if len(envs) != len(commands):
        raise ValueError(f"{len(envs)} environments for {len(commands)} commands: give one per command")
    for command in commands:
        if isinstance(command, str) or not command:
            raise ValueError(f"each command must be a list of arguments, got {validate.show(command)}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="coursekit-launch-") as folder:
        procs, files = [], []
        for i, (command, extra) in enumerate(zip(commands, envs, strict=True)):
            out, err = (open(Path(folder) / f"{i}.{kind}", "w+") for kind in ("out", "err"))  # noqa: SIM115
            files.append((out, err))
            env = _with_this_coursekit({**os.environ, **{k: str(v) for k, v in extra.items()}})
            procs.append(
                subprocess.Popen(
                    [str(c) for c in command],
                    stdout=out,
                    stderr=err,
                    text=True,
                    env=env,
                    cwd=cwd,
                    start_new_session=True,  # its own process group: killing it takes its children too
                )
            )
        ended: dict[int, float] = {}
        killed: set[int] = set()
        while len(ended) < len(procs):
            for i, proc in enumerate(procs):
                if i not in ended and proc.poll() is not None:
                    ended[i] = time.perf_counter() - start
            failed = any(procs[i].returncode not in (0, None) for i in ended if i not in killed)
            late = time.perf_counter() - start > timeout
            if late or (fail_fast and failed):
                for i, proc in enumerate(procs):
                    if i not in ended:
                        _kill_group(proc)
                        proc.wait()
                        killed.add(i)
                        ended[i] = time.perf_counter() - start
            time.sleep(0.05)
        results = []
        for i, (command, proc) in enumerate(zip(commands, procs, strict=True)):
            texts = []
            for f in files[i]:
                f.seek(0)
                texts.append(f.read())
                f.close()
            code = None if i in killed else proc.returncode
            results.append(WorkerResult(list(command), code, texts[0], texts[1], ended[i]))
    if check:
        raise_failures(results, timeout)
    return results


def _with_this_coursekit(env: dict[str, str]) -> dict[str, str]:
    """env with this coursekit's folder first on PYTHONPATH: workers import the same coursekit as the launcher,
    whatever their working directory (a relative PYTHONPATH would not survive the change of folder)."""
    here = str(Path(__file__).resolve().parents[1])
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**env, "PYTHONPATH": os.pathsep.join([here, *(p for p in parts if p != here)])}


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(proc.pid, signal.SIGKILL)


def raise_failures(results: Sequence[WorkerResult], timeout: float) -> None:
    """WorkersFailed naming each process that was killed by the time bound or exited with an error, if any."""
    bad = [r for r in results if r.returncode != 0]
    if not bad:
        return
    parts = []
    for i, r in enumerate(results):
        if r.returncode == 0:
            continue
        if r.timed_out:
            what = f"was killed after {r.seconds:.1f} s (the time bound is {timeout:g} s, or another process failed)"
        else:
            what = f"exited with code {r.returncode}" + (" (killed by a signal)" if (r.returncode or 0) < 0 else "")
        tail = r.tail()
        parts.append(
            f"process {i} ({shlex.join(r.command[-3:])}) {what}; "
            + (f"its last output:\n{tail}" if tail else "no output")
        )
    raise WorkersFailed("\n".join(parts))


def mlp_init(seed: int = 0, sizes: Sequence[int] = SIZES) -> list[np.ndarray]:
    """The MLP's starting weights in Keras' layout [kernel (in, out), bias, ...], float64, Glorot uniform and zero
    biases: both frameworks and every worker start from exactly these."""
    seed = validate.seed(seed)
    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights += [rng.uniform(-limit, limit, (fan_in, fan_out)), np.zeros(fan_out)]
    return weights


def train_data(n: int = 1024, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The first n training digits, flattened to 64 float64 features, and their int64 labels: every worker loads all
    of them and reads its own share (n divides by the global batch, so no worker gets a short batch)."""
    from coursekit.data import load_split

    split = load_split("digits", "train", seed=seed)
    n = validate.integer("n", n, minimum=1, maximum=len(split))
    return split.x[:n].reshape(n, -1).astype(np.float64), split.y[:n].astype(np.int64)


def epoch_order(n: int, epoch: int, seed: int = 0) -> np.ndarray:
    """The order of n examples in `epoch`: a function of (seed, epoch) alone, the same for every worker."""
    n = validate.integer("n", n, minimum=1)
    epoch = validate.integer("epoch", epoch, minimum=0)
    return np.random.default_rng([validate.seed(seed), epoch]).permutation(n)


def shard(indices: Sequence[int] | np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank `rank`'s share of one global batch: a contiguous slice of len(indices) / world_size examples.

    The global batch must divide evenly, so that every worker's mean loss weighs its examples alike."""
    world_size = validate.integer("world_size", world_size, minimum=1)
    rank = validate.integer("rank", rank, minimum=0, maximum=world_size - 1)
    indices = np.asarray(indices)
    if len(indices) % world_size:
        raise ValueError(f"a global batch of {len(indices)} does not split evenly over {world_size} workers")
    per = len(indices) // world_size
    return indices[rank * per : (rank + 1) * per]


# The module's two-node job, the same in the simulation on this machine and in the cluster files: two nodes
# (machines, or pods), one worker process each; on GPU nodes set nproc_per_node to the GPUs per node.
NODES, PROCS_PER_NODE, RDZV_PORT, TF_PORT = 2, 1, 29400, 20000
DDP_SCRIPT, TF_SCRIPT = "ddp_train.py", "tf_multiworker.py"
CLUSTER_DIR = "cluster"  # beside the scripts: notebooks/09_distributed/cluster/


def two_node_torchrun(endpoint: str, script_args: Sequence[str]) -> list[str]:
    """torchrun's arguments for the two-node job: the simulation and the SLURM/Kubeflow files all call this."""
    return torchrun_args(DDP_SCRIPT, script_args, nproc_per_node=PROCS_PER_NODE, nnodes=NODES, endpoint=endpoint)


def tf_worker_args(script_args: Sequence[str]) -> list[str]:
    """A TensorFlow worker's arguments after the interpreter (TF_CONFIG comes from the environment)."""
    if isinstance(script_args, str) or not all(isinstance(a, str) for a in script_args):
        raise validate.WrongType(f"script_args must be a list of str, got {validate.show(script_args)}")
    return [TF_SCRIPT, *script_args]


def _flow(items: Sequence[str]) -> str:
    return json.dumps(list(items))  # a JSON array is a YAML flow sequence


def cluster_files(script_args: Sequence[str] = ("--out", "results")) -> dict[str, str]:
    """The SLURM batch scripts and Kubeflow Training Operator manifests (file name -> text) that launch the
    module's scripts on a real cluster, built from the same functions as the simulation's commands."""
    head = (
        "#!/bin/bash\n# Generated by coursekit.distributed.cluster_files(): edit that, not this file.\n"
        "# Submit from notebooks/09_distributed (the scripts' folder): sbatch cluster/<this file>\n"
    )
    ddp_slurm = (
        head + f"#SBATCH --job-name=course09-ddp\n#SBATCH --nodes={NODES}\n#SBATCH --ntasks-per-node=1\n"
        "#SBATCH --time=00:10:00\nset -euo pipefail\n"
        "# One torchrun per node; they meet at a c10d rendezvous on the first node, which hands out the ranks.\n"
        'HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)\n'
        "srun torchrun " + " ".join(two_node_torchrun(f"${{HEAD_NODE}}:{RDZV_PORT}", script_args)) + "\n"
    )
    tf_slurm = (
        head + f"#SBATCH --job-name=course09-tf\n#SBATCH --nodes={NODES}\n#SBATCH --ntasks-per-node=1\n"
        "#SBATCH --time=00:10:00\nset -euo pipefail\n"
        "# Each task sets its own TF_CONFIG (its index is $SLURM_PROCID) and starts the same worker script.\n"
        'HOSTS=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | paste -sd, -)\n'
        f'srun python -m coursekit.distributed tf-worker --hosts "$HOSTS" --port {TF_PORT} -- '
        + " ".join(tf_worker_args(script_args))
        + "\n"
    )
    image = "ghcr.io/bilingual-dl/pytorch-tensorflow-course:v0.1.0"
    workdir = "/course/notebooks/09_distributed"

    def pod(name: str, command: list[str], indent: str) -> str:
        return (
            f"{indent}template:\n{indent}  spec:\n{indent}    containers:\n"
            f"{indent}      - name: {name}\n{indent}        image: {image}\n"
            f"{indent}        workingDir: {workdir}\n{indent}        command: {_flow(command)}\n"
        )

    # Kubernetes expands $(MASTER_ADDR) and $(MASTER_PORT), which the operator sets in every PyTorchJob pod.
    ddp_command = ["torchrun", *two_node_torchrun("$(MASTER_ADDR):$(MASTER_PORT)", script_args)]
    replicas = {"Master": 1, "Worker": NODES - 1}
    pytorchjob = (
        "# Generated by coursekit.distributed.cluster_files(): edit that, not this file.\n"
        "apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata:\n  name: course09-ddp\nspec:\n"
        "  pytorchReplicaSpecs:\n"
        + "".join(
            f"    {role}:\n      replicas: {count}\n      restartPolicy: OnFailure\n"
            + pod("pytorch", ddp_command, "      ")
            for role, count in replicas.items()
        )
    )
    # The operator writes TF_CONFIG into each worker pod: the command is the simulation's, after the interpreter.
    tfjob = (
        "# Generated by coursekit.distributed.cluster_files(): edit that, not this file.\n"
        "apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata:\n  name: course09-tf\nspec:\n  tfReplicaSpecs:\n"
        f"    Worker:\n      replicas: {NODES}\n      restartPolicy: OnFailure\n"
        + pod("tensorflow", ["python", *tf_worker_args(script_args)], "      ")
    )
    return {"ddp.slurm": ddp_slurm, "tf.slurm": tf_slurm, "pytorchjob.yaml": pytorchjob, "tfjob.yaml": tfjob}


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m coursekit.distributed tf-worker --hosts a,b --port P [--index I] -- script.py args...`: run a
    TensorFlow worker with TF_CONFIG for worker I (default $SLURM_PROCID) of the cluster hosts:port."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m coursekit.distributed")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("tf-worker", help="run a TensorFlow worker with its TF_CONFIG")
    worker.add_argument("--hosts", required=True, help="comma-separated host names, in worker order")
    worker.add_argument("--port", type=int, required=True)
    worker.add_argument("--index", type=int, default=None, help="this worker's index (default: $SLURM_PROCID)")
    worker.add_argument("script", nargs=argparse.REMAINDER, help="-- script.py and its arguments")
    args = parser.parse_args(argv)
    script = args.script[1:] if args.script[:1] == ["--"] else args.script
    if not script:
        parser.error("give the worker script after --, e.g. -- tf_multiworker.py --out results")
    index = args.index if args.index is not None else int(os.environ.get("SLURM_PROCID", "-1"))
    hosts = [h for h in args.hosts.split(",") if h]
    env = {**os.environ, **tf_worker_env([f"{h}:{args.port}" for h in hosts], index)}
    os.execve(sys.executable, [sys.executable, *script], env)


__all__ = [
    "CLUSTER_DIR",
    "LOOPBACK",
    "SIZES",
    "WorkerResult",
    "WorkersFailed",
    "backend",
    "cluster_files",
    "epoch_order",
    "free_port",
    "launch",
    "loopback_workers",
    "mlp_init",
    "raise_failures",
    "shard",
    "tf_config",
    "tf_worker_args",
    "tf_worker_env",
    "torchrun_args",
    "torchrun_command",
    "train_data",
    "two_node_torchrun",
]


if __name__ == "__main__":
    main()
