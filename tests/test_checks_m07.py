"""Module 07's checks pass right answers, report stubs as unsolved, and name what each wrong answer
gets wrong (in both frameworks): a graph break left in (or XLA refused), a branch lost in the rewrite,
a graph or trace per batch size, the break-even rounded down, off by one, of the wrong sign or without
the base's one-off cost, a first call timed after the warm-up, a remembered number instead of a
measurement, and a compile that splits a function silently (or, in TensorFlow, runs it to find out)."""

import math
import time

import numpy as np

from helpers import check_without_tensorflow, checks_tests, needs


def break_even(first_base, steady_base, first_new, steady_new, rounding=math.ceil, whole_first=False, base_once=True):
    once_base = (first_base if whole_first else first_base - steady_base) if base_once else 0.0
    once_new = first_new if whole_first else first_new - steady_new
    if steady_new >= steady_base:
        return 1 if steady_new == steady_base and once_new <= once_base else None
    return max(1, rounding((once_new - once_base) / (steady_base - steady_new)))


def measure(base_fn, new_fn, args, warm_first=False, steady_from_mean=False, fixed=None):
    from coursekit import Timer, benchmark

    if fixed is not None:
        return fixed
    out = {}
    for name, fn in (("base", base_fn), ("new", new_fn)):
        if warm_first:
            steady = benchmark(fn, *args, label=name, min_time=0.05)
        with Timer() as first:
            fn(*args)
        if steady_from_mean:
            start = time.perf_counter()
            for _ in range(9):
                fn(*args)
            median = (time.perf_counter() - start + first.elapsed) / 10
        else:
            if not warm_first:
                steady = benchmark(fn, *args, label=name, min_time=0.05)
            median = steady.median
        out[f"first_{name}"], out[f"steady_{name}"] = first.elapsed, median
    out["steps"] = break_even(out["first_base"], out["steady_base"], out["first_new"], out["steady_new"])
    return out


REMEMBERED = {"first_base": 0.03, "steady_base": 0.004, "first_new": 0.7, "steady_new": 0.001, "steps": 223}
SHARED_WRONG = [
    ("07.3", lambda *a: break_even(*a, rounding=math.floor), "one too few"),
    ("07.3", lambda *a: break_even(*a, whole_first=True), "one too few"),
    ("07.3", lambda *a: break_even(*a) + 1 if break_even(*a) else None, "one too many"),
    ("07.3", lambda *a: break_even(*a, base_once=False), "one-off cost (0.25 s) was left out"),
    ("07.3", lambda b1, b2, n1, n2: math.ceil((b1 - b2 - n1 + n2) / (b2 - n2)), "the sign is wrong"),
    ("07.3", lambda *a: break_even(*a, rounding=lambda v: v), "a number of steps is whole"),
    (
        "07.3",
        lambda b1, b2, n1, n2: (1 if n1 - n2 <= b1 - b2 else None) if n2 >= b2 else break_even(b1, b2, n1, n2),
        "behind for good",
    ),
    ("07.4", lambda b, n, a: measure(b, n, a, warm_first=True), "time the very first call"),
    ("07.4", lambda b, n, a: measure(b, n, a, fixed=REMEMBERED), "never called"),
    ("07.4", lambda b, n, a: measure(b, n, a, steady_from_mean=True), "must leave the first call out"),
    ("07.4", lambda b, n, a: [1, 2], "should return a dict"),
]


def answers_torch(torch):
    def normalise(x, only_big=False):
        peak = x.abs().max()
        return (x / peak if only_big else torch.where(peak > 1, x / peak, x)) * 2 + 1

    def normalise_item(x):
        peak = x.abs().max()
        if peak.item() > 1:
            x = x / peak
        return x * 2 + 1

    right = {
        "07.1": normalise,
        "07.2": lambda fn, backend: torch.compile(fn, backend=backend, dynamic=True),
        "07.3": break_even,
        "07.4": measure,
        "07.5": lambda fn, backend: torch.compile(fn, backend=backend, fullgraph=True),
    }
    wrong = [
        ("07.1", normalise_item, "graph break(s)"),
        ("07.1", lambda x: normalise(x, only_big=True), "should be left as it is"),
        ("07.2", lambda fn, backend: torch.compile(fn, backend=backend, dynamic=False), "one per size"),
        ("07.2", lambda fn, backend: torch.compile(fn, backend=backend), "dynamic=None recompiles once"),
        ("07.2", lambda fn, backend: fn, "no graph reached the backend"),
        ("07.5", lambda fn, backend: torch.compile(fn, backend=backend), "ran without complaint"),
        ("07.5", lambda fn, backend: fn, "0 graphs reached the backend"),
        *SHARED_WRONG,
    ]
    return right, wrong


def answers_tf(tf):
    def normalise(x):
        peak = tf.reduce_max(tf.abs(x))
        return tf.where(peak > 1, x / peak, x) * 2 + 1

    def always_divide(x):
        return x / tf.reduce_max(tf.abs(x)) * 2 + 1

    def normalise_numpy(x):
        peak = tf.reduce_max(tf.abs(x))
        scale = tf.numpy_function(lambda p: np.float32(p if p > 1 else 1.0), [peak], tf.float32)
        return x / scale * 2 + 1

    def normalise_dot_numpy(x):
        peak = float(tf.reduce_max(tf.abs(x)).numpy())
        return (x / peak if peak > 1 else x) * 2 + 1

    def compiles_whole(fn, *args, run=False, plain=False):
        try:
            if run:
                tf.function(fn, jit_compile=True)(*args)
            elif plain:
                tf.function(fn).get_concrete_function(*args)
            else:
                tf.function(fn, jit_compile=True).experimental_get_compiler_ir(*args)(stage="hlo")
            return True
        except Exception:
            return False

    right = {
        "07.1": normalise,
        "07.2": lambda fn: tf.function(fn, input_signature=[tf.TensorSpec([None, 8], tf.float32)]),
        "07.3": break_even,
        "07.4": measure,
        "07.5": compiles_whole,
    }
    wrong = [
        ("07.1", normalise_numpy, "XLA still refuses"),
        ("07.1", normalise_dot_numpy, ".numpy()"),
        ("07.1", always_divide, "should be left as it is"),
        ("07.2", lambda fn: tf.function(fn), "one per size"),
        ("07.2", lambda fn: tf.function(fn, reduce_retracing=True), "reduce_retracing=True"),
        ("07.2", lambda fn: tf.function(fn, input_signature=[tf.TensorSpec([64, 8], tf.float32)]), "fixes the batch"),
        ("07.2", lambda fn: fn, "should return a tf.function"),
        ("07.5", lambda fn, *a: compiles_whole(fn, *a, run=True), "the functions ran"),
        ("07.5", lambda fn, *a: compiles_whole(fn, *a, plain=True), "jit_compile=True refuses it"),
        ("07.5", lambda fn, *a: "yes", "should return True or False"),
        ("07.1", lambda x: None, "is None"),
        *SHARED_WRONG,
    ]
    return right, wrong


test_right_answers_pass_and_stubs_are_unsolved, test_wrong_answers_get_a_sentence_naming_the_mistake = checks_tests(
    {"torch": answers_torch, "tf": answers_tf}, {}, count=5
)


def test_a_python_if_under_autograph_is_accepted_by_xla(tf):
    """An `if` on a tensor becomes tf.cond under AutoGraph, which XLA compiles: a right answer too."""
    from coursekit.checks import checker

    def python_if(x):
        peak = tf.reduce_max(tf.abs(x))
        if peak > 1:
            x = x / peak
        return x * 2 + 1

    check = checker("tensorflow")
    check("07.1", python_if)
    assert check.verdicts["07.1"].status == "passed"


@needs("torch")
def test_the_port_from_the_twin_is_checked_without_tensorflow():
    """07.5 ports XLA's refusal to PyTorch: its check needs no TensorFlow, and still names a silent split."""
    out = check_without_tensorflow(
        "",
        "07.5",
        "lambda fn, backend: torch.compile(fn, backend=backend, fullgraph=True)",
        "lambda fn, backend: torch.compile(fn, backend=backend)",
    )
    assert "✓ 07.5" in out and "ran without complaint" in out, out
