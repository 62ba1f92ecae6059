"""Module 09's scripts, launched as the lessons launch them: 2 workers on a global batch end with the weights of
1 worker on it (tolerance 1e-12 in float64; rounding gives ~1e-16, a sharding or averaging mistake 1e-3 or more).

torchrun's store, gloo and TensorFlow's worker servers listen on all interfaces, so where `unshare -n` works (root
on Linux) every launch here runs inside a network namespace that has only the loopback interface: the jobs
cannot reach, or be reached from, anything but 127.0.0.1. Elsewhere they run plainly, and the namespace test
says why it skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from coursekit import distributed
from helpers import ROOT, needs

MODULE = ROOT / "notebooks" / "09_distributed"
TOLERANCE = 1e-12
SHORT = ["--epochs", "2", "--examples", "512"]  # 16 steps: enough to move the weights, quick to launch
NETNS = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def _namespace_links() -> tuple[list[str] | None, str]:
    """The interfaces seen inside a new network namespace, or None and why it cannot be made here."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None, "unshare or ip is not installed"
    probe = subprocess.run([*NETNS, "ip", "-o", "link"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return None, f"`unshare -n` is not permitted here (needs root on Linux): {probe.stderr.strip()[:120]}"
    return [line.split(":")[1].strip() for line in probe.stdout.splitlines()], ""


LINKS, WHY_NOT = _namespace_links()


def run_jobs(commands: list[list[str]], envs: list[dict[str, str]], timeout: float = 120) -> None:
    """Launch the commands together (inside one loopback-only namespace where possible); raise if any fails."""
    if LINKS is None:
        distributed.launch(commands, envs=envs, timeout=timeout, cwd=MODULE)
        return
    driver = (
        "import json, sys; from coursekit.distributed import launch; "
        "c, e, t = json.loads(sys.argv[1]); launch(c, envs=e, timeout=t)"
    )
    wrapped = [*NETNS, sys.executable, "-c", driver, json.dumps([commands, envs, timeout])]
    distributed.launch([wrapped], timeout=timeout + 15, cwd=MODULE)


def max_diff(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) for u, v in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("m09")
    x, y = distributed.train_data(512, 0)
    np.savez(folder / "digits.npz", x=x, y=y)
    return folder


def test_the_namespace_has_only_loopback():
    if LINKS is None:
        pytest.skip(f"no network namespace, so the jobs ran on the host's network: {WHY_NOT}")
    assert LINKS == ["lo"], f"the namespace should hold the loopback interface alone, found {LINKS}"


@needs("torch")
def test_ddp_two_workers_equal_one_worker(data, torch):
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    args = [*SHORT, "--data", str(data / "digits.npz"), "--out", str(data / "ddp2")]
    run_jobs([distributed.torchrun_command("ddp_train.py", args, nproc_per_node=2)], [{"OMP_NUM_THREADS": "1"}])
    two = json.loads((data / "ddp2" / "result.json").read_text())
    # One worker, in this process: the same sampler with one replica, the same model, SGD and global batch.
    x, y = distributed.train_data(512, 0)
    dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=0, drop_last=True)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10)).double()
    with torch.no_grad():
        for param, w in zip(model.parameters(), distributed.mlp_init(0), strict=True):
            param.copy_(torch.from_numpy(np.ascontiguousarray(w.T if w.ndim == 2 else w)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for xb, yb in DataLoader(dataset, batch_size=64, sampler=sampler):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
    one = [p.detach().numpy().T if p.ndim == 2 else p.detach().numpy() for p in model.parameters()]
    assert (two["world_size"], two["backend"], two["steps"]) == (2, "gloo", 16)
    assert max_diff(one, distributed.mlp_init(0)) > 0.01, "the weights did not move"
    assert max_diff(one, two["weights"]) < TOLERANCE
    assert two["rank_weight_max_diff"] == 0.0 and two["collectives"]["all_reduce"] == [3.0, 30.0]


@needs("tensorflow")
def test_tf_two_workers_equal_one_worker(data, tf):
    sys.path.insert(0, str(MODULE))
    try:
        from tf_mirrored import batches  # the order every worker of the script reads
    finally:
        sys.path.remove(str(MODULE))
    env = {"OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    workers = distributed.loopback_workers(2)
    worker = [
        sys.executable,
        *distributed.tf_worker_args([*SHORT, "--data", str(data / "digits.npz"), "--out", str(data / "multi")]),
    ]
    run_jobs([worker, worker], [{**env, **distributed.tf_worker_env(workers, i)} for i in range(2)])
    multi = json.loads((data / "multi" / "result.json").read_text())
    # One worker, in this process: plain SGD on each global batch, in float64.
    x, y = distributed.train_data(512, 0)
    xs, ys = batches(x, y, 2, 64, 0)
    weights = [tf.Variable(w) for w in distributed.mlp_init(0)]
    for start in range(0, len(xs), 64):
        xb, yb = tf.constant(xs[start : start + 64]), tf.constant(ys[start : start + 64])
        with tf.GradientTape() as tape:
            logits = tf.tanh(xb @ weights[0] + weights[1]) @ weights[2] + weights[3]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits))
        for w, g in zip(weights, tape.gradient(loss, weights), strict=True):
            w.assign_sub(0.1 * g)
    one = [w.numpy() for w in weights]
    worker1 = json.loads((data / "multi" / "worker1.json").read_text())
    assert multi["world_size"] == 2 and multi["steps"] == 16
    assert max_diff(one, distributed.mlp_init(0)) > 0.01, "the weights did not move"
    assert max_diff(one, multi["weights"]) < TOLERANCE
    assert max_diff(worker1["weights"], multi["weights"]) == 0.0
