"""coursekit.profiling: peak memory from both allocators, torch traces and TensorFlow's op table read back
(through xprof, and through TensorFlow's private converter when xprof is missing), and clear errors."""

import json

import pytest

from coursekit import profiling
from helpers import needs, run_python


def test_trace_peak_memory_reads_the_largest_total_allocated(tmp_path):
    trace = tmp_path / "t.json"
    events = [
        {"name": "[memory]", "args": {"Total Allocated": 100, "Bytes": 100}},
        {"name": "aten::mm", "args": {}},
        {"name": "[memory]", "args": {"Total Allocated": 350, "Bytes": 250}},
        {"name": "[memory]", "args": {"Total Allocated": 50, "Bytes": -300}},
    ]
    trace.write_text(json.dumps({"traceEvents": events}))
    assert profiling.trace_peak_memory(trace) == 350


def test_trace_errors_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="export_chrome_trace"):
        profiling.trace_peak_memory(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="not a torch profiler Chrome trace"):
        profiling.trace_peak_memory(bad)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"traceEvents": [{"name": "aten::mm"}]}))
    with pytest.raises(ValueError, match="profile_memory=True"):
        profiling.trace_peak_memory(empty)


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(TypeError, match="needs a function"):
        profiling.peak_memory("torch", 42)
    with pytest.raises(ValueError, match="framework"):
        profiling.peak_memory("jax", print)
    with pytest.raises(FileNotFoundError, match=r"not an \.xplane\.pb file"):
        profiling.op_stats(tmp_path / "x.json")
    with pytest.raises(FileNotFoundError, match=r"tf\.profiler\.experimental\.start"):
        profiling.xplane_files(tmp_path / "nowhere")


def test_importing_it_imports_no_framework():
    out = run_python("import sys, coursekit.profiling; print('torch' in sys.modules, 'tensorflow' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


@needs("torch")
def test_torch_peak_grows_with_the_batch_and_the_notices_stay_quiet(torch, capfd):
    def step(n):
        x = torch.randn(n, 256, requires_grad=True)
        (x @ torch.randn(256, 256)).relu().sum().backward()

    step(8)
    small, large = (profiling.peak_memory("torch", step, n) for n in (64, 512))
    assert large > 2 * small > 0, (small, large)
    assert "USDT" not in capfd.readouterr().err


@needs("tensorflow")
def test_tensorflow_peak_grows_with_the_batch(tf):
    def step(n):
        x = tf.random.normal((n, 256))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.nn.relu(x @ tf.random.normal((256, 256))))
        return tape.gradient(y, x)

    step(8)
    small, large = (profiling.peak_memory("tensorflow", step, n) for n in (64, 512))
    assert large > 2 * small > 0, (small, large)


OP_STATS = """
import tempfile
import tensorflow as tf
from coursekit import profiling

@tf.function
def f(x):
    return tf.reduce_sum(tf.matmul(x, x))

x = tf.random.normal((200, 200))
f(x)
folder = tempfile.mkdtemp()
tf.profiler.experimental.start(folder)
for _ in range(3):
    f(x)
tf.profiler.experimental.stop()
rows = profiling.op_stats(profiling.xplane_files(folder)[-1])
ops = [r["type"] for r in rows if r["type"] != "IDLE"]
print(profiling.converter())
print(ops[0], sorted(r["total_self_time"] > 0 for r in rows)[-1])
"""


@needs("tensorflow")
@pytest.mark.parametrize("hide", [(), ("xprof",)], ids=["xprof", "private fallback"])
def test_op_stats_reads_the_matmul_back_with_or_without_xprof(hide):
    if not hide:
        pytest.importorskip("xprof")
    out = run_python(OP_STATS, hide=hide)
    assert out.returncode == 0, out.stderr
    reader, top = out.stdout.strip().splitlines()[-2:]
    assert reader == ("xprof" if not hide else profiling.FALLBACK)
    assert top.split()[0].endswith("MatMul") and top.split()[1] == "True", out.stdout
