"""Device detection, the best-device choice and the runtime: the choice on simulated machines (so the
tests hold on a CPU laptop and a GPU server alike), detection on whatever this machine has."""

import pytest

from coursekit import devices
from coursekit.devices import Accelerator, FrameworkReport, best_device, runtime, usable_cpus
from helpers import needs


@pytest.fixture
def cpu_only(monkeypatch):
    """A machine whose frameworks see no accelerator, whatever this one has."""
    monkeypatch.setattr(devices, "framework_report", lambda fw: FrameworkReport(devices.canonical(fw), "x"))


def test_cpu_only_machine_picks_the_cpu(cpu_only):
    assert best_device("torch") == "cpu"
    assert best_device("pytorch", "cpu") == "cpu"
    assert best_device("tf") == "/CPU:0"


@pytest.mark.parametrize("name", ["gpu", "cuda:0", "", "TPU2"])
def test_unknown_device_names_list_the_accepted_ones(name):
    with pytest.raises(ValueError, match=r"unknown device .*expected one of auto, cpu, cuda, mps, tpu"):
        best_device("torch", name)


def test_asking_for_an_absent_device_says_what_is_there(cpu_only):
    with pytest.raises(ValueError, match=r"'cuda' was asked for, but torch sees no such device here \(it sees: cpu\)"):
        best_device("torch", "cuda")
    with pytest.raises(ValueError, match=r"tensorflow sees no such device here \(it sees: cpu\)"):
        best_device("tensorflow", "tpu")


def test_preference_order_on_a_simulated_machine():
    report = FrameworkReport("torch", "x", [Accelerator("mps", "Apple"), Accelerator("cuda", "H100", 80.0, "9.0")])
    assert devices._pick("torch", report, "auto") == "cuda"
    assert devices._pick("torch", report, "mps") == "mps"
    assert devices._pick("tensorflow", report, "auto") == "/GPU:0"
    assert devices._pick("torch", FrameworkReport("torch", "x", [Accelerator("tpu", "v5e")]), "auto") == "xla"


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"COLAB_RELEASE_TAG": "release-colab-2026"}, "colab"),
        ({"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, "kaggle"),
        ({"BINDER_LAUNCH_HOST": "https://mybinder.org/"}, "binder"),
        ({"CI": "true"}, "ci"),
        ({}, "local"),
    ],
)
def test_runtime_is_read_from_the_environment(monkeypatch, env, expected):
    for key in (
        "COLAB_RELEASE_TAG",
        "KAGGLE_KERNEL_RUN_TYPE",
        "BINDER_LAUNCH_HOST",
        "BINDER_REQUEST",
        "BINDER_SERVICE_HOST",
        "CI",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert runtime() == expected


def test_usable_cpus_respects_a_container_quota(monkeypatch, tmp_path):
    import os

    assert 1 <= usable_cpus() <= os.cpu_count()
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")  # Binder-like: one CPU's worth of time per period
    real_path = devices.Path
    monkeypatch.setattr(devices, "Path", lambda p: quota if p == "/sys/fs/cgroup/cpu.max" else real_path(p))
    assert usable_cpus() == 1


@needs("tensorflow")
def test_a_tpu_runtime_without_tpus_gets_a_note_not_a_crash(monkeypatch):
    monkeypatch.setenv("TPU_NAME", "local")  # what a TPU VM sets; this machine has no TPU to answer
    assert devices.tpu_attached()
    report = devices.tensorflow_report()
    assert report.best in ("/CPU:0", "/GPU:0")
    assert any("TPU resolver found none" in note for note in report.notes), report.notes


@needs("torch")
def test_the_torch_report_matches_what_torch_sees():
    import torch

    report = devices.torch_report()
    cuda = [a for a in report.accelerators if a.kind == "cuda"]
    assert len(cuda) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert report.best == ("cuda" if cuda else "mps" if any(a.kind == "mps" for a in report.accelerators) else "cpu")
    assert report.threads["intra-op"] == torch.get_num_threads() >= 1
    if cuda:  # a GPU machine: the name and memory come from the device's properties
        props = torch.cuda.get_device_properties(0)
        assert cuda[0].name == props.name and cuda[0].memory_gb == pytest.approx(props.total_memory / 2**30)


@needs("tensorflow")
def test_the_tensorflow_report_matches_what_tensorflow_sees():
    import tensorflow as tf

    report = devices.tensorflow_report()
    gpus = tf.config.list_physical_devices("GPU")
    assert len([a for a in report.accelerators if a.kind in ("cuda", "mps")]) == len(gpus)
    assert report.best == ("/GPU:0" if gpus else "/CPU:0")


@needs("torch")
def test_doctor_report_takes_one_name_or_several():
    report, missing = devices.doctor_report("torch")  # one name, not five letters
    assert "torch" in report and "tensorflow" not in report.split("Runtime")[1] and missing == []
    with pytest.raises(ValueError, match="frameworks must name at least one framework"):
        devices.doctor_report(())
    with pytest.raises(TypeError, match="frameworks must be a name or a list of names, got 5"):
        devices.doctor_report(5)
    with pytest.raises(ValueError, match="unknown framework 'jax'"):
        devices.doctor_report(["torch", "jax"])


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, 1),
        ({"PYTEST_XDIST_WORKER_COUNT": "2"}, 2),
        ({"COURSEKIT_PROCESSES": "3", "PYTEST_XDIST_WORKER_COUNT": "2"}, 3),
    ],
)
def test_the_processes_sharing_the_cores_come_from_the_environment(monkeypatch, env, expected):
    for name in devices.SHARED_BY:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert devices.processes_sharing() == expected


@pytest.mark.parametrize("raw", ["0", "two", "-1"])
def test_a_bad_process_count_is_named(monkeypatch, raw):
    monkeypatch.setenv("COURSEKIT_PROCESSES", raw)
    with pytest.raises(ValueError, match=rf"\$COURSEKIT_PROCESSES is '{raw}': expected a positive whole number"):
        devices.processes_sharing()


@needs("torch")
def test_set_threads_shares_the_cores_out_and_says_so(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(devices, "usable_cpus", lambda: 4)
    monkeypatch.setenv("COURSEKIT_PROCESSES", "2")
    try:
        setting = devices.set_threads("pytorch")
        assert (setting.threads, torch.get_num_threads()) == (2, 2)
        assert str(setting) == "torch: 2 threads per op (4 usable CPU cores shared by 2 processes)"
        assert devices.set_threads("torch", 1).threads == torch.get_num_threads() == 1
        monkeypatch.setenv("COURSEKIT_PROCESSES", "8")
        assert devices.set_threads("torch").threads == 1  # never fewer than one
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [0, 1.5, "2", True])
def test_set_threads_refuses_a_bad_count(threads):
    with pytest.raises((ValueError, TypeError), match="threads must be a positive number of threads, or None"):
        devices.set_threads("torch", threads)


@needs("tensorflow")
def test_tensorflow_threads_after_its_first_op_get_a_clear_error():
    from helpers import run_python

    code = (
        "from coursekit.devices import set_threads\nimport tensorflow as tf\n"
        "print(set_threads('tf', 1))\ntf.constant(1.0) + 1\nprint(set_threads('tf', 1))\n"
        "try:\n    set_threads('tf', 2)\nexcept RuntimeError as err:\n    print('refused:', err)\n"
    )
    out = run_python(code).stdout
    assert "tensorflow: 1 thread per op" in out
    assert "refused: TensorFlow has already run an op, so its threads are fixed at 1 per op" in out
