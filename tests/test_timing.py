"""benchmark measures what it claims: known sleeps, agreement with torch.utils.benchmark, bad input."""

import math
import time

import pytest

from coursekit.timing import BenchmarkResult, Timer, benchmark, compare, format_seconds


def test_benchmark_measures_a_known_sleep():
    result = benchmark(time.sleep, 0.01, warmup=1, min_time=0.2, min_blocks=5)
    # time.sleep never returns early; the OS may add a little on a busy 2-core machine.
    assert 0.0100 <= result.median <= 0.0125, result
    assert result.blocks >= 5 and result.number == 1
    assert 0 <= result.iqr < 0.002


def test_fast_functions_get_many_calls_per_block():
    result = benchmark(lambda: None, min_time=0.05)
    assert result.number > 100  # one call would be below the clock's useful resolution
    assert result.median < 1e-5


def test_agrees_with_torch_utils_benchmark():
    torch = pytest.importorskip("torch")
    import statistics

    import torch.utils.benchmark as tb

    a = torch.randn(256, 256)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # torch.utils.benchmark's default; also steadier beside another test worker
    try:
        ours, theirs = [], []
        for _ in range(3):  # interleaved rounds, so a burst of load on the machine hits both alike
            ours.append(benchmark(torch.mm, a, a, framework="torch", min_time=0.3).median)
            timer = tb.Timer("torch.mm(a, a)", globals={"torch": torch, "a": a}, num_threads=1)
            theirs.append(timer.blocked_autorange(min_run_time=0.3).median)
    finally:
        torch.set_num_threads(threads)
    # Tolerance 25%: medians of a ~0.5 ms kernel on a shared 2-core machine (alone they agree within ~10%).
    assert statistics.median(ours) == pytest.approx(statistics.median(theirs), rel=0.25), (ours, theirs)


def test_tensorflow_synchronises_and_measures():
    tf = pytest.importorskip("tensorflow")
    a = tf.random.normal((128, 128))
    result = benchmark(tf.linalg.matmul, a, a, framework="tensorflow", min_time=0.1)
    assert result.median > 0 and result.blocks >= 7


def test_timer_measures_elapsed_time():
    with Timer() as t:
        time.sleep(0.02)
    assert 0.02 <= t.elapsed < 0.05
    assert str(t).endswith("ms")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"warmup": -1}, "warmup must be an integer ≥ 0, got -1"),
        ({"min_blocks": 0}, "min_blocks must be an integer ≥ 1, got 0"),
        ({"min_blocks": 5, "max_blocks": 2}, "max_blocks must be an integer ≥ 5, got 2"),
        ({"number": 0}, "number must be an integer ≥ 1, got 0"),
        ({"number": 2.5}, "number must be an integer ≥ 1, got 2.5"),
        ({"min_time": -1}, "min_time must be a number of seconds ≥ 0, got -1"),
        ({"framework": "jax"}, "unknown framework 'jax'"),
    ],
)
def test_bad_arguments_name_the_value_and_what_is_accepted(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        benchmark(lambda: None, **kwargs)


def test_not_callable_is_a_type_error():
    with pytest.raises(TypeError, match="needs a function to call, got int"):
        benchmark(3)


def test_compare_table_and_round_trip():
    fast = BenchmarkResult("fast", 1e-3, 0.9e-3, 1.1e-3, 10, 5, 3)
    slow = BenchmarkResult("slow", 4e-3, 3.9e-3, 4.2e-3, 10, 1, 3)
    table = compare([slow, fast])
    text = str(table)
    assert "4.00×" in text and "1.00×" in text and "faster than 'slow'" in text
    assert "| fast | 1 ms |" in table._repr_markdown_()
    assert BenchmarkResult.from_dict(fast.as_dict()) == fast
    assert math.isclose(fast.as_dict()["iqr"], 0.2e-3)
    with pytest.raises(ValueError, match="baseline 'medium' is not among the results: slow, fast"):
        compare([slow, fast], baseline="medium")
    with pytest.raises(ValueError, match="at least one"):
        compare([])


@pytest.mark.parametrize("seconds, text", [(2.05, "2.05 s"), (1.27e-3, "1.27 ms"), (3.4e-6, "3.4 µs"), (8e-7, "800 ns")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text
