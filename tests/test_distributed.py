"""coursekit.distributed: backend choice, loopback ports, launch commands, the launcher's time bound, and the
cluster files (SLURM scripts and Kubeflow manifests) that must hold the very commands the simulation runs."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time

import numpy as np
import pytest

from coursekit import distributed as d
from helpers import ROOT, run_python

CLUSTER = ROOT / "notebooks" / "09_distributed" / d.CLUSTER_DIR


def test_importing_it_imports_no_framework():
    result = run_python("import coursekit.distributed, sys; print('torch' in sys.modules, 'tensorflow' in sys.modules)")
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_backend_is_gloo_on_cpu_and_nccl_with_cuda():
    assert d.backend(cuda=False) == "gloo" and d.backend(cuda=True) == "nccl"
    with pytest.raises(TypeError, match="cuda must be True, False or None"):
        d.backend(cuda="yes")


def test_free_port_is_free_on_loopback():
    import socket

    port = d.free_port()
    with socket.socket() as s:
        s.bind((d.LOOPBACK, port))  # would raise if taken
    assert all(w.startswith("127.0.0.1:") for w in d.loopback_workers(2))


def test_torchrun_args_standalone_and_rendezvous():
    assert d.torchrun_args("a.py", ["--x", "1"]) == [
        "--standalone",
        "--nproc-per-node=2",
        "--max-restarts=0",
        "a.py",
        "--x",
        "1",
    ]
    two = d.two_node_torchrun("127.0.0.1:5", [])
    assert "--nnodes=2" in two and "--rdzv-endpoint=127.0.0.1:5" in two and "--rdzv-backend=c10d" in two
    assert d.torchrun_command("a.py")[:3] == [sys.executable, "-m", "torch.distributed.run"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"nnodes": 2}, "need a rendezvous endpoint"),
        ({"endpoint": "nohost"}, "endpoint must be 'host:port'"),
        ({"nproc_per_node": 0}, "nproc_per_node must be an integer ≥ 1"),
        ({"max_restarts": -1}, "max_restarts"),
    ],
)
def test_torchrun_args_name_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        d.torchrun_args("a.py", **kwargs)
    with pytest.raises(TypeError, match="script_args must be a list of str"):
        d.torchrun_args("a.py", "--x 1")


def test_tf_config_and_bad_input():
    config = d.tf_config(["127.0.0.1:1", "127.0.0.1:2"], 1)
    assert config == {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}
    assert json.loads(d.tf_worker_env(["h:1"], 0)["TF_CONFIG"])["task"]["index"] == 0
    with pytest.raises(ValueError, match="index must be an integer from 0 to 1"):
        d.tf_config(["a:1", "b:2"], 2)
    with pytest.raises(ValueError, match="'host:port' strings"):
        d.tf_config("a:1", 0)


def test_shard_and_orders():
    batch = np.arange(8)
    assert np.concatenate([d.shard(batch, r, 2) for r in range(2)]).tolist() == list(range(8))
    assert d.shard(batch, 1, 4).tolist() == [2, 3]
    with pytest.raises(ValueError, match="does not split evenly over 3 workers"):
        d.shard(batch, 0, 3)
    with pytest.raises(ValueError, match="rank must be an integer from 0 to 1"):
        d.shard(batch, 2, 2)
    assert np.array_equal(d.epoch_order(10, 1), d.epoch_order(10, 1))
    assert not np.array_equal(d.epoch_order(10, 1), d.epoch_order(10, 2))
    w = d.mlp_init(0)
    assert [a.shape for a in w] == [(64, 32), (32,), (32, 10), (10,)] and w[0].dtype == np.float64


def test_launch_returns_outputs_and_kills_a_hung_worker():
    ok = [sys.executable, "-c", "import os; print(os.environ['WHO'])"]
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    results = d.launch([ok, ok], envs=[{"WHO": "a"}, {"WHO": "b"}], timeout=30)
    assert [r.stdout.strip() for r in results] == ["a", "b"] and all(r.returncode == 0 for r in results)
    start = time.perf_counter()
    with pytest.raises(d.WorkersFailed, match=r"process 1 .* was killed after"):
        d.launch([ok, hang], envs=[{"WHO": "a"}, {}], timeout=1.0)
    assert time.perf_counter() - start < 10


def test_launch_fails_fast_when_one_worker_dies():
    die = [sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"]
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    start = time.perf_counter()
    results = d.launch([die, hang], timeout=30, check=False)
    assert time.perf_counter() - start < 10, "the other worker should be killed at once"
    assert results[0].returncode == 3 and results[0].tail() == "boom" and results[1].timed_out
    with pytest.raises(ValueError, match="one per command"):
        d.launch([die], envs=[{}, {}])
    with pytest.raises(ValueError, match="list of arguments"):
        d.launch(["python -c 1"])


def test_cluster_files_are_generated_and_valid():
    files = d.cluster_files()
    assert sorted(p.name for p in CLUSTER.iterdir()) == sorted(files)
    for name, text in files.items():
        assert (CLUSTER / name).read_text() == text, f"{name} differs from cluster_files(): regenerate it"
    for name in ("ddp.slurm", "tf.slurm"):
        result = subprocess.run(["bash", "-n", str(CLUSTER / name)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def _srun_line(name: str) -> list[str]:
    line = next(x for x in (CLUSTER / name).read_text().splitlines() if x.startswith("srun "))
    return shlex.split(line)


def test_cluster_files_launch_the_simulation_commands():
    args = ["--out", "results"]
    # SLURM: the torchrun line is the simulation's, with the head node's name for 127.0.0.1.
    ddp = _srun_line("ddp.slurm")
    assert ddp[:2] == ["srun", "torchrun"]
    assert ddp[2:] == d.two_node_torchrun("${HEAD_NODE}:29400", args)
    tf = _srun_line("tf.slurm")
    assert tf[tf.index("--") + 1 :] == d.tf_worker_args(args)
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed: the manifests' parse is not checked")
    job = yaml.safe_load((CLUSTER / "pytorchjob.yaml").read_text())
    for role in ("Master", "Worker"):
        command = job["spec"]["pytorchReplicaSpecs"][role]["template"]["spec"]["containers"][0]["command"]
        assert command == ["torchrun", *d.two_node_torchrun("$(MASTER_ADDR):$(MASTER_PORT)", args)]
    tfjob = yaml.safe_load((CLUSTER / "tfjob.yaml").read_text())
    worker = tfjob["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == d.NODES
    assert worker["template"]["spec"]["containers"][0]["command"] == ["python", *d.tf_worker_args(args)]


def test_tf_worker_entry_point_sets_tf_config(tmp_path):
    script = tmp_path / "show.py"
    script.write_text("import os, sys; print(os.environ['TF_CONFIG'], sys.argv[1:])")
    result = run_python(
        "from coursekit.distributed import main; main()",
        args=("tf-worker", "--hosts", "n1,n2", "--port", "7", "--", str(script), "--out", "x"),
        env={"SLURM_PROCID": "1"},
    )
    assert result.returncode == 0, result.stderr
    config, rest = result.stdout.rsplit(" [", 1)
    assert json.loads(config) == d.tf_config(["n1:7", "n2:7"], 1) and rest.strip() == "'--out', 'x']"
