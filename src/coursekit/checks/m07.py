"""Checks of module 07 (compilation).

The checks compile with cheap means only: PyTorch's `torch._dynamo.explain` and the `CompileCounter`
back end count graphs and breaks without running a compiler; TensorFlow's traces are counted with
`experimental_get_tracing_count`, and XLA is asked for its program (`experimental_get_compiler_ir`)
without running it. Break-even answers are judged by the totals they imply, and measured answers
against stand-in functions whose first call and steady calls take a known, randomised time.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from coursekit.checks.core import Exercise, Ops, TensorFlowOps, TorchOps, Wrong, describe

# 07.2: the batch sizes of a training run with a short last batch, and a later evaluation.
BATCHES = (64, 64, 41, 17, 100)
FEATURES = 8
# 07.3: (first_base, steady_base, first_new, steady_new) -> the smallest n at which the new form is no slower.
BREAK_EVEN_CASES = (
    ((0.30, 0.050, 4.40, 0.008), 99),  # pays off after 98.6 steps: 99
    ((0.01, 0.004, 2.001, 0.001), 665),
    ((0.20, 0.010, 0.15, 0.005), 1),  # cheaper once and per step: from the first
    ((0.02, 0.003, 1.50, 0.004), None),  # slower per step: never
    ((0.30, 0.004, 0.10, 0.005), None),  # cheaper once, slower per step: ahead at first, behind for good later
)


def total(first: float, steady: float, n: int) -> float:
    """Seconds for n calls: the one-off part (first call minus a steady call) plus n steady calls."""
    return (first - steady) + n * steady


class Ops07(Ops):
    """What module 07's checks need beyond core.Ops (bound to each framework below)."""

    def normalise(self, x: Any) -> Any:
        """The reference of 07.1: x / max|x| where that max exceeds 1 (else x), then * 2 + 1."""
        raise NotImplementedError

    def check_no_break(self, fn: Any, x: Any) -> None:
        """07.1: raise Wrong unless the framework's compiler takes fn whole."""
        raise NotImplementedError

    def graphs_for_batches(self, make: Any) -> tuple[int, list[np.ndarray], list[np.ndarray]]:
        """07.2: the graphs (or traces) the learner's wrapper makes over BATCHES, its outputs, the reference outputs."""
        raise NotImplementedError

    def check_whole(self, fn: Any) -> None:
        """07.5: the port of the twin's refusal to split a function."""
        raise NotImplementedError


def _inputs(rng: np.random.Generator) -> list[np.ndarray]:
    """A batch whose largest |value| is above 1, and one where it is below: both branches of 07.1."""
    big = rng.normal(0, 3, (6, 4)).astype(np.float32)
    small = rng.uniform(-0.5, 0.5, (6, 4)).astype(np.float32)
    return [big, small]


class Torch07(TorchOps, Ops07):
    def __init__(self) -> None:
        super().__init__()
        import torch._dynamo
        from torch._dynamo.testing import CompileCounter

        self.dynamo = torch._dynamo
        self.counter = CompileCounter

    def normalise(self, x):
        torch = self.torch
        peak = x.abs().max()
        return torch.where(peak > 1, x / peak, x) * 2 + 1

    def explain(self, fn: Any, x: Any) -> Any:
        with self.learner("torch._dynamo.explain on your function"):
            self.dynamo.reset()
            return self.dynamo.explain(fn)(x)

    def check_no_break(self, fn, x):
        report = self.explain(fn, x)
        if report.graph_break_count:
            reason = report.break_reasons[0].reason.strip().splitlines()[0]
            raise Wrong(
                f"torch._dynamo.explain still finds {report.graph_break_count} graph break(s) ({reason}): keep the "
                "comparison a tensor and choose with torch.where instead of a Python `if` on .item()"
            )
        if report.graph_count != 1:
            raise Wrong(f"dynamo captured {report.graph_count} graphs; one graph for the whole function is the aim")

    def graphs_for_batches(self, make):
        torch = self.torch
        rng = np.random.default_rng(3)
        weight = torch.from_numpy(rng.normal(0, 0.5, (FEATURES, 3)).astype(np.float32))

        def layer(x):
            return torch.relu(x @ weight) * 2 - 1

        counter = self.counter()
        self.dynamo.reset()
        compiled = self.call(make, layer, counter)
        if not callable(compiled):
            raise Wrong(f"compile_for_any_batch should return the compiled function, got {describe(compiled)}")
        got, want = [], []
        for n in BATCHES:
            x = torch.from_numpy(rng.normal(size=(n, FEATURES)).astype(np.float32))
            with self.learner(f"calling the compiled function on a batch of {n}"):
                got.append(self.to_numpy(compiled(x)))
            want.append(self.to_numpy(layer(x)))
        self.dynamo.reset()
        return counter.frame_count, got, want

    def check_whole(self, fn):
        torch = self.torch

        def clean(x):
            return (x * 2 + 1).relu()

        def broken(x):
            if x.sum().item() > 0:  # a graph break
                return x * 2
            return -x

        counter = self.counter()
        self.dynamo.reset()
        compiled = self.call(fn, clean, counter)
        if not callable(compiled):
            raise Wrong(f"compile_whole should return the compiled function, got {describe(compiled)}")
        x = torch.linspace(-1, 1, 6)
        with self.learner("the compiled clean function"):
            out = compiled(x)
        if counter.frame_count != 1:
            raise Wrong(
                f"{counter.frame_count} graphs reached the backend the check passed in: "
                "call torch.compile(fn, backend=backend, ...) with that backend"
            )
        if not np.allclose(self.to_numpy(out), self.to_numpy(clean(x))):
            raise Wrong("the compiled function does not compute what the function computes")
        self.dynamo.reset()
        refuse = self.call(fn, broken, self.counter())
        try:
            refuse(x)
        except NotImplementedError:
            raise
        except Exception:
            self.dynamo.reset()
            return
        self.dynamo.reset()
        raise Wrong(
            "a function with a graph break (an `if` on .item()) ran without complaint: it was split silently. "
            "XLA refuses such a function as a whole; in PyTorch, fullgraph=True makes a break an error"
        )


class TensorFlow07(TensorFlowOps, Ops07):
    def normalise(self, x):
        tf = self.tf
        peak = tf.reduce_max(tf.abs(x))
        return tf.where(peak > 1, x / peak, x) * 2 + 1

    def xla_refusal(self, fn: Any, *args: Any) -> str:
        """'' if XLA compiles fn for these arguments, else the error's first line; runs nothing."""
        tf = self.tf
        try:
            tf.function(fn, jit_compile=True).experimental_get_compiler_ir(*args)(stage="hlo")
            return ""
        except NotImplementedError:
            raise
        except Exception as err:
            text = str(err).strip().splitlines()
            lines = [line.strip() for line in text if line.strip()]
            return f"{type(err).__name__}: {(lines[-1] if lines and lines[0] == 'in user code:' else lines[0])[:200]}"

    def check_no_break(self, fn, x):
        refusal = self.xla_refusal(fn, x)
        if "PyFunc" in refusal or "EagerPyFunc" in refusal:
            raise Wrong(
                "XLA still refuses the function: it calls Python (tf.numpy_function / tf.py_function), which XLA "
                "cannot compile; compute the scale with TensorFlow operations (tf.where, tf.maximum)"
            )
        if "attribute 'numpy'" in refusal:
            raise Wrong(
                "the function calls .numpy() on a tensor, which has no value while tf.function traces it: "
                "keep the computation in TensorFlow operations"
            )
        if refusal:
            raise Wrong(f"XLA refuses the function: {refusal}")

    def graphs_for_batches(self, make):
        tf = self.tf
        rng = np.random.default_rng(3)
        weight = tf.constant(rng.normal(0, 0.5, (FEATURES, 3)).astype(np.float32))

        def layer(x):
            return tf.nn.relu(x @ weight) * 2 - 1

        traced = self.call(make, layer)
        if not hasattr(traced, "experimental_get_tracing_count"):
            raise Wrong(
                f"trace_for_any_batch should return a tf.function, got {describe(traced)}: "
                "wrap the function with tf.function(...)"
            )
        got, want = [], []
        for n in BATCHES:
            x = tf.constant(rng.normal(size=(n, FEATURES)).astype(np.float32))
            try:
                got.append(self.to_numpy(traced(x)))
            except (TypeError, ValueError) as err:
                if "signature" in str(err).lower() or "shape" in str(err).lower():
                    raise Wrong(
                        f"a batch of {n} rows was refused: the input_signature fixes the batch size; "
                        "write None for the batch dimension"
                    ) from None
                raise Wrong(f"calling it on a batch of {n} raised {type(err).__name__}") from None
            want.append(self.to_numpy(layer(x)))
        return traced.experimental_get_tracing_count(), got, want

    def check_whole(self, fn):
        tf = self.tf
        calls = tf.Variable(0)

        def clean(x):
            calls.assign_add(1)
            return tf.nn.relu(x * 2 + 1)

        def with_numpy(x):
            calls.assign_add(1)
            return tf.numpy_function(lambda a: np.clip(a, 0, 1), [x], tf.float32)

        x = tf.linspace(-1.0, 1.0, 6)
        verdicts = {}
        for name, f in (("a function of TensorFlow ops", clean), ("a function calling tf.numpy_function", with_numpy)):
            got = self.call(fn, f, x)
            if not isinstance(got, (bool, np.bool_)):
                raise Wrong(f"compiles_whole should return True or False, got {describe(got)}")
            verdicts[name] = bool(got)
        if int(calls.numpy()):
            raise Wrong(
                f"the functions ran {int(calls.numpy())} time(s): ask XLA for the compiled program "
                "(experimental_get_compiler_ir) instead of calling the function, as the twin's fullgraph=True "
                "refuses at compile time"
            )
        if not verdicts["a function of TensorFlow ops"]:
            raise Wrong("you said XLA cannot compile a function made of TensorFlow ops only (relu(x * 2 + 1))")
        if verdicts["a function calling tf.numpy_function"]:
            raise Wrong(
                "you said XLA compiles a function that calls tf.numpy_function: tf.function runs it, but "
                "jit_compile=True refuses it; ask with tf.function(fn, jit_compile=True)"
            )


OPS = {"torch": Torch07, "tensorflow": TensorFlow07}


def no_break(ops: Ops07, fn: Any) -> None:
    rng = np.random.default_rng(11)
    for x in _inputs(rng):
        xt = ops.tensor(x)
        got = ops.result(ops.call(fn, xt), x.shape, "the normalised batch")
        want = ops.to_numpy(ops.normalise(xt))
        if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
            peak = float(np.abs(x).max())
            branch = "divided by it" if peak > 1 else "left as it is"
            raise Wrong(
                f"wrong values for a batch whose largest |value| is {peak:.2f}: it should be {branch}, then * 2 + 1; "
                "both branches must survive the rewrite"
            )
    ops.check_no_break(fn, ops.tensor(_inputs(rng)[0]))


def any_batch(ops: Ops07, fn: Any) -> None:
    count, got, want = ops.graphs_for_batches(fn)
    for n, a, b in zip(BATCHES, got, want, strict=True):
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-5, atol=1e-5):
            raise Wrong(f"the compiled function's result on a batch of {n} differs from the function's")
    what = "graphs" if isinstance(ops, Torch07) else "traces"
    sizes = len(set(BATCHES))
    if count == 0:
        raise Wrong(
            "no graph reached the backend the check passed in: return torch.compile(fn, backend=backend, ...) "
            "with that backend"
        )
    if count == sizes:
        raise Wrong(
            f"{count} {what} for {sizes} batch sizes: one per size, so the batch dimension is static; "
            + ("dynamic=True makes it symbolic from the start" if isinstance(ops, Torch07) else "declare it None")
        )
    if count == 2:
        raise Wrong(
            f"2 {what} for {sizes} batch sizes: "
            + (
                "the default dynamic=None recompiles once, at the first new size, before it generalises"
                if isinstance(ops, Torch07)
                else "reduce_retracing=True traces once more at the first new size; an input_signature traces once"
            )
        )
    if count != 1:
        raise Wrong(f"{count} {what} for {sizes} batch sizes; expected 1")


def _steps(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float, np.floating)):
        raise Wrong(f"{what} should be a whole number of steps or None, got {describe(value)}")
    if float(value) != math.floor(float(value)):
        raise Wrong(f"{what} is {float(value):.4g}: a number of steps is whole, the smallest n that is enough")
    return int(value)


def break_even_steps(ops: Ops07, fn: Any) -> None:
    for (first_b, steady_b, first_n, steady_n), right in BREAK_EVEN_CASES:
        case = f"(first_base={first_b}, steady_base={steady_b}, first_new={first_n}, steady_new={steady_n})"
        got = _steps(ops.call(fn, first_b, steady_b, first_n, steady_n), f"the answer for {case}")
        if got == right:
            continue
        if right is None:
            if got == 1 and first_n - steady_n <= first_b - steady_b:
                raise Wrong(
                    f"1 for {case}: the new form is ahead at the first step, but it is slower per step, so it falls "
                    "behind for good later: it never pays off (None)"
                )
            if got is not None and got < 0:
                raise Wrong(
                    f"{got} steps for {case}: a negative count has the sign wrong; the new form is slower per step "
                    "and costs more once, so it never pays off: return None"
                )
            raise Wrong(
                f"{got} for {case}: the new form is slower per step and costs more once: it never pays off (None)"
            )
        if got is None:
            raise Wrong(f"None for {case}, but the new form is faster per step: it pays off after {right} steps")
        gain = steady_b - steady_n
        if right == 1 and got < 1:
            raise Wrong(
                f"{got} for {case}: the new form costs less once and per step, so it is ahead from the first "
                "step: the answer is at least 1 (clamp with max(1, ...))"
            )
        if got == right - 1:
            raise Wrong(
                f"{got} steps for {case} is one too few: at {got} steps the new form is still "
                f"{total(first_n, steady_n, got) - total(first_b, steady_b, got):.3g} s behind. Round up (ceil), "
                "and take the one-off cost as the first call minus a steady call, not the whole first call"
            )
        if got == right + 1:
            raise Wrong(f"{got} steps for {case} is one too many: at {right} steps the new form is already no slower")
        if got < 0:
            raise Wrong(
                f"{got} steps for {case}: the sign is wrong; divide (one-off new - one-off base) "
                "by (steady_base - steady_new)"
            )
        ignored = math.ceil((first_n - steady_n) / gain) if gain > 0 else None
        if got == ignored:
            raise Wrong(
                f"{got} steps for {case}: the base's own one-off cost ({first_b - steady_b:.3g} s) was left out; "
                "compare the two totals, each with its one-off cost"
            )
        raise Wrong(f"{got} steps for {case}; expected {right} (the smallest n with total_new(n) <= total_base(n))")


class StandIn:
    """A function whose first call takes `first` seconds and every later call `steady` seconds."""

    def __init__(self, first: float, steady: float) -> None:
        self.first, self.steady, self.calls = first, steady, 0

    def __call__(self, *args: Any) -> int:
        self.calls += 1
        time.sleep(self.first if self.calls == 1 else self.steady)
        return self.calls


def measured_break_even(ops: Ops07, fn: Any) -> None:
    rng = np.random.default_rng(time.perf_counter_ns() % 2**32)  # a new delay each time: no number can be remembered
    first_new = float(rng.uniform(0.15, 0.3))
    base, new = StandIn(0.03, 0.004), StandIn(first_new, 0.001)
    got = ops.call(fn, base, new, ())
    if not isinstance(got, dict):
        raise Wrong(f"measure_break_even should return a dict, got {describe(got)}")
    keys = ("first_base", "steady_base", "first_new", "steady_new", "steps")
    missing = [k for k in keys if k not in got]
    if missing:
        raise Wrong(f"the dict lacks {', '.join(missing)}; return the keys {', '.join(keys)}")
    if new.calls == 0 or base.calls == 0:
        raise Wrong(
            "the functions were never called, so these numbers were not measured (the check draws new times "
            "each run): time their first calls and benchmark them"
        )
    if new.calls < 8 or base.calls < 8:
        raise Wrong(
            f"the functions were called {base.calls} and {new.calls} times: measure the steady time with "
            "coursekit.benchmark (many calls, median), not one call"
        )
    values = {k: float(got[k]) for k in keys[:4]}
    if not math.isclose(values["first_new"], first_new, rel_tol=0.35, abs_tol=0.02):
        if values["first_new"] < 0.05:
            raise Wrong(
                f"first_new is {values['first_new'] * 1e3:.1f} ms, but the new function's first call took "
                f"{first_new:.2f} s: time the very first call (coursekit.Timer) before benchmarking, whose warm-up "
                "calls would otherwise run the compile unseen"
            )
        raise Wrong(
            f"first_new is {values['first_new']:.3g} s, but the new function's first call took {first_new:.2f} s "
            "(this check draws a new delay each time): measure it"
        )
    if values["steady_new"] > 0.004:
        raise Wrong(
            f"steady_new is {values['steady_new'] * 1e3:.1f} ms for a function that takes 1 ms a call after its "
            "first: the steady time must leave the first call out (benchmark's median does)"
        )
    if not (0.0005 < values["steady_new"] < 0.004 and 0.002 < values["steady_base"] < 0.012):
        raise Wrong(
            f"the steady times ({values['steady_base'] * 1e3:.2g} ms and {values['steady_new'] * 1e3:.2g} ms) are not "
            "what the functions take (about 4 ms and 1 ms): measure them with coursekit.benchmark"
        )
    steps = _steps(got["steps"], "steps")
    b, s = (values["first_base"], values["steady_base"]), (values["first_new"], values["steady_new"])
    if steps is None or steps < 1:
        raise Wrong(f"steps is {steps!r}, but the new function is faster per call: it pays off after some steps")
    if total(*s, steps) > total(*b, steps) + 1e-12:
        raise Wrong(f"at {steps} steps your own measurements still put the new function behind: round up")
    if steps > 1 and total(*s, steps - 1) <= total(*b, steps - 1):
        raise Wrong(
            f"at {steps - 1} steps your own measurements already put the new function ahead: {steps} is one too many"
        )


def whole_function(ops: Ops07, fn: Any) -> None:
    ops.check_whole(fn)


EXERCISES = [
    Exercise(
        "07.1",
        "remove what the compiler cannot take",
        "keep the test on the largest |value| a tensor and choose with a where (torch.where / tf.where) "
        "instead of a Python `if` on a number, or NumPy",
        no_break,
    ),
    Exercise(
        "07.2",
        "one graph for every batch size",
        "declare the batch dimension dynamic from the start: torch.compile(..., dynamic=True) / "
        "tf.function(..., input_signature=[tf.TensorSpec([None, 8], tf.float32)])",
        any_batch,
    ),
    Exercise(
        "07.3",
        "break-even steps from measurements",
        "one-off cost = first call - steady call, for each form; the new form pays off at the smallest whole n "
        "with one_off_new + n * steady_new <= one_off_base + n * steady_base (ceil); never if it is not faster",
        break_even_steps,
    ),
    Exercise(
        "07.4",
        "measure the break-even",
        "time each function's very first call with coursekit.Timer, then its steady time with coursekit.benchmark "
        "(median), then apply the break-even rule of 07.3",
        measured_break_even,
    ),
    Exercise(
        "07.5",
        "refuse a split function, as the twin does",
        "PyTorch: torch.compile(fn, backend=backend, fullgraph=True); TensorFlow: ask "
        "tf.function(fn, jit_compile=True).experimental_get_compiler_ir(*args)(stage='hlo') and catch its error",
        whole_function,
    ),
]

__all__ = ["EXERCISES", "OPS"]
