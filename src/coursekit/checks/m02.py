"""Checks of module 02 (execution models: eager and graphs).

They observe the capture itself, not only the values: PyTorch answers get a
`torch._dynamo.testing.CompileCounter` as backend (it counts the graphs dynamo hands over and runs
them uncompiled), TensorFlow answers are asked for their tf.function's tracing count. So a graph
that retraces, a count of calls taken for a count of traces, or a graph that was never captured
fails with a sentence saying which.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from coursekit.checks.core import Exercise, Ops, TensorFlowOps, TorchOps, Wrong, close, describe, letter_then, one_line

LENGTHS = (3, 5, 7, 7)  # 02.1: three distinct lengths, the last one twice
COUNT_LENGTHS = (4, 4, 8, 16, 16)  # 02.2: five calls, three distinct lengths
REPEAT_LENGTHS = (5, 5, 10, 20, 20)  # 02.2's repeat: the same pattern, other lengths
BATCH, ROWS, FEATURES, CLASSES, EPOCHS, LR = 32, 84, 6, 3, 2, 0.2  # 02.3: batches of 32, 32 and a last one of 20


def squash_reference(x: np.ndarray) -> np.ndarray:
    """02.4: x scaled so that its largest |value| is 1, if it is above 1; else x unchanged."""
    peak = np.abs(x).max()
    return x / peak if peak > 1.0 else x


def classification_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(21)
    return rng.normal(size=(ROWS, FEATURES)), rng.integers(0, CLASSES, size=ROWS)


class Ops02(Ops):
    """What module 02's checks need beyond core.Ops; each framework implements the five checks."""

    def one_graph(self, make_graph: Any) -> None:
        raise NotImplementedError

    def count(self, count_fn: Any) -> None:
        raise NotImplementedError

    def fit_graph(self, fit: Any) -> None:
        raise NotImplementedError

    def port_squash(self, squash: Any) -> None:
        raise NotImplementedError

    def counted(self, answer: Any) -> None:
        """02.5 in both frameworks: the graph updates the counter at every call, not once at capture."""
        counted = letter_then(
            self,
            answer,
            ("why_counts_differ", "counted"),
            "B",
            "both run the same Python once to capture; the difference is what each does with a side effect at "
            "the next call",
        )
        graph_fn, counter, captured = self.counted_graph(counted, lambda x: x * 2.0)
        for _ in range(4):
            with self.learner("calling your graph"):
                y = graph_fn(self.tensor(np.ones(3)))
        close(self.result(y, (3,), "the graph's output"), np.full(3, 2.0), "the output")
        calls = int(self.to_numpy(counter))
        if calls == 1:
            raise Wrong(f"the count is 1 after 4 calls: {self.counted_once}")
        if calls != 4:
            raise Wrong(f"the count is {calls} after 4 calls; expected 4")
        captured()

    def counted_graph(self, counted: Any, fn: Any) -> tuple[Any, Any, Callable[[], None]]:
        """Call the learner's counted(fn); return (graph_fn, counter, a check of how many graphs it captured)."""
        raise NotImplementedError

    def graph_and_counter(self, out: Any, counter_type: Any, counter_kind: str) -> tuple[Any, Any]:
        """The learner's (graph_fn, counter), the counter of the framework's stateful type."""
        if not (isinstance(out, tuple) and len(out) == 2):
            raise Wrong(f"counted should return (graph_fn, counter), got {describe(out)}")
        graph_fn, counter = out
        if not isinstance(counter, counter_type):
            raise Wrong(f"the counter should be {counter_kind} that the graph updates, got {describe(counter)}")
        return graph_fn, counter

    def run_graph(self, graphed: Any, n: int) -> None:
        """Call the learner's graph on a tensor of length n and compare with the target's value."""
        x = np.linspace(-2.0, 2.0, n)
        with self.learner(f"calling your graph with a tensor of length {n}"):
            got = graphed(self.tensor(x))
        close(self.result(got, (n,), f"the graph's output for length {n}"), np.tanh(x) * 3.0 - x, "the output")

    def check_count(self, count_fn: Any, target: Any, settings: list[tuple[Any, int, str]]) -> None:
        """02.2 in both frameworks: each setting's count, then a repeat on other lengths that must agree."""
        first: dict[str, int] = {}
        for option, expected, name in settings:
            lengths = COUNT_LENGTHS if name not in first else REPEAT_LENGTHS
            inputs = [self.tensor(np.linspace(-1.0, 1.0, n)) for n in lengths]
            got = self.call(count_fn, target, inputs, option)
            if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
                raise Wrong(f"expected the number of graphs as an int, got {describe(got)}")
            got = int(got)
            if got == expected:
                first.setdefault(name, got)
                continue
            if name in first:
                raise Wrong(
                    f"the same count ({name}) on other lengths gave {first[name]} and then {got}: {self.stale_count}"
                )
            if got == len(inputs):
                raise Wrong(f"{got} is the number of calls ({name}), not of graphs: {self.counted_calls}")
            if got == len(set(lengths)):
                raise Wrong(
                    f"{got} is the number of distinct lengths; with {name} the graphs are {expected}: "
                    "count what was captured, not the shapes"
                )
            raise Wrong(
                f"with {name}, lengths {', '.join(map(str, lengths))} give {expected} graphs; you counted {got}"
            )

    stale_count = ""
    counted_calls = ""
    counted_once = ""


class Torch02(TorchOps, Ops02):
    stale_count = (
        "the second run found the first run's graphs in dynamo's cache; call torch._dynamo.reset() before compiling"
    )
    counted_calls = (
        "use a CompileCounter as the backend and read its frame_count (a Python counter in a compiled "
        "function counts calls: dynamo replays side effects at every call)"
    )

    counted_once = (
        "the update ran once, at capture (FX traces a tensor it does not receive as a real tensor, not a "
        "Proxy); let dynamo capture it: torch.compile"
    )

    def __init__(self) -> None:
        super().__init__()
        import torch._dynamo
        from torch._dynamo.testing import CompileCounter

        self.dynamo, self.CompileCounter = torch._dynamo, CompileCounter

    def fresh(self) -> Any:
        """An empty dynamo cache and a new counting backend."""
        self.dynamo.reset()
        return self.CompileCounter()

    def target(self, x: Any) -> Any:
        """The function the learner's graphs capture: tanh(x) * 3 - x."""
        return self.torch.tanh(x) * 3.0 - x

    def one_graph(self, make_graph):
        counter = self.fresh()
        target = self.target
        graphed = self.call(make_graph, target, counter)
        if graphed is target or not callable(graphed):
            raise Wrong(f"you returned {describe(graphed)}, not a compiled function: return torch.compile(fn, ...)")
        for n in LENGTHS:
            self.run_graph(graphed, n)
        graphs = counter.frame_count
        if graphs == 0:
            raise Wrong("the check's backend saw no graph: pass backend=backend to torch.compile")
        if graphs == 3:
            raise Wrong(
                "3 graphs for lengths 3, 5, 7, 7: one per length, as dynamic=False captures; ask dynamo "
                "for one graph with a symbolic length (dynamic=True)"
            )
        if graphs == 2:
            raise Wrong(
                "2 graphs for lengths 3, 5, 7, 7: the default dynamic=None specialises the first graph to "
                "length 3 and generalises only at the recompile; dynamic=True captures one graph for all"
            )
        if graphs != 1:
            raise Wrong(f"{graphs} graphs for lengths 3, 5, 7, 7; expected 1")

    def count(self, count_fn):
        self.fresh()  # the learner's first count starts from an empty cache; the repeat tests their reset
        settings = [
            (None, 2, "dynamic=None"),
            (None, 2, "dynamic=None"),
            (False, 3, "dynamic=False"),
            (True, 1, "dynamic=True"),
        ]
        self.check_count(count_fn, self.target, settings)

    def _train(self, model: Any, x: Any, y: Any, zero_grad: bool = True) -> list[float]:
        torch = self.torch
        opt, loss_fn, losses = torch.optim.SGD(model.parameters(), lr=LR), torch.nn.CrossEntropyLoss(), []
        for _ in range(EPOCHS):
            for i in range(0, ROWS, BATCH):
                if zero_grad:
                    opt.zero_grad()
                loss = loss_fn(model(x[i : i + BATCH]), y[i : i + BATCH])
                loss.backward()
                opt.step()
                losses.append(loss.item())
        return losses

    def fit_graph(self, fit):
        torch = self.torch
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(FEATURES, 8), torch.nn.ReLU(), torch.nn.Linear(8, CLASSES))
        reference, no_zero = copy.deepcopy(model), copy.deepcopy(model)
        initial = [p.detach().clone().numpy() for p in model.parameters()]
        xs, ys = classification_data()
        x, y = self.tensor(xs), self.tensor(ys)
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        try:
            out = self.call(fit, model, opt, torch.nn.CrossEntropyLoss(), x, y, BATCH, EPOCHS)
        except Wrong as wrong:
            if "Guard failed" in str(wrong) or "to be equal to" in str(wrong):
                raise Wrong(
                    f"your graph refused the last batch of {ROWS % BATCH} rows: it was exported for batch "
                    f"{BATCH} only; declare the batch dimension dynamic (dynamic_shapes with a Dim)"
                ) from None
            raise
        if not (isinstance(out, tuple) and len(out) == 2):
            raise Wrong(f"expected (graph_model, losses) to be returned, got {describe(out)}")
        graph_model, losses = out
        if not isinstance(graph_model, torch.fx.GraphModule):
            raise Wrong(
                f"the first value is {type(graph_model).__name__}, not a captured graph: export the model "
                "(torch.export.export(...).module() is a GraphModule) and train through it"
            )
        steps = EPOCHS * -(-ROWS // BATCH)
        losses = np.asarray([float(v) for v in losses])
        if len(losses) != steps:
            raise Wrong(
                f"{len(losses)} losses for {EPOCHS} epochs of {ROWS} rows in batches of {BATCH}: expected "
                f"{steps}, one per batch, the last short batch of each epoch included"
            )
        expected = self._train(reference, x, y)
        if np.allclose(losses, self._train(no_zero, x, y, zero_grad=False), rtol=1e-5) and not np.allclose(
            losses, expected, rtol=1e-5
        ):
            raise Wrong("the gradients accumulated from step to step: call optimizer.zero_grad() before each backward")
        if all(np.array_equal(p.detach().numpy(), q) for p, q in zip(graph_model.parameters(), initial, strict=False)):
            raise Wrong("the weights never changed: take the optimizer step after each backward")
        close(losses, expected, "the loss history (compared with eager training of the same model)", rtol=1e-5)
        for got, want in zip(graph_model.parameters(), reference.parameters(), strict=False):
            close(got.detach().numpy(), want.detach().numpy(), "a trained weight", rtol=1e-5)

    def port_squash(self, squash):
        for x in ([3.0, -1.0, 0.5], [-4.0, 1.0, 0.5, 2.0], [0.5, -0.2]):
            xs = np.asarray(x)
            got = self.result(self.call(squash, self.tensor(xs)), xs.shape, f"squash({x})")
            close(got, squash_reference(xs), f"squash({x})")
        with self.learner("torch._dynamo.explain on your function"):
            self.dynamo.reset()
            explained = self.dynamo.explain(squash)(self.tensor(np.array([3.0, -1.0])))
        if explained.graph_break_count:
            reason = explained.break_reasons[0].reason if explained.break_reasons else "unknown"
            raise Wrong(
                f"dynamo broke your function into {explained.graph_count} graphs ({reason.splitlines()[0][:90]}): "
                "an `if` on a tensor's value (or .item()) cannot be captured; choose with torch.where or torch.cond"
            )

    def counted_graph(self, counted, fn):
        backend = self.fresh()
        graph_fn, counter = self.graph_and_counter(self.call(counted, fn, backend), self.torch.Tensor, "a tensor")

        def captured() -> None:
            if backend.frame_count == 0:
                raise Wrong(
                    "the check's backend saw no graph: compile the function with torch.compile(..., backend=backend)"
                )
            if backend.frame_count > 1:
                raise Wrong(
                    f"right count, but dynamo captured {backend.frame_count} graphs for 4 identical calls: it "
                    "guards on the Python number your counter reads, so each new value recompiled; count in a "
                    "tensor (counter.add_(1))"
                )

        return graph_fn, counter, captured


class TensorFlow02(TensorFlowOps, Ops02):
    stale_count = "the second count included the first one's traces; make a fresh tf.function for each count"
    counted_calls = (
        "read the tf.function's experimental_get_tracing_count() (or count in the Python body, which "
        "runs once per trace)"
    )

    counted_once = (
        "Python in a tf.function runs at trace time only; update the tf.Variable with assign_add inside the "
        "function, so that the graph does it"
    )

    def target(self, x: Any) -> Any:
        """The function the learner's graphs capture: tanh(x) * 3 - x."""
        return self.tf.tanh(x) * 3.0 - x

    def _tf_function(self, graphed: Any, what: str) -> None:
        if not hasattr(graphed, "experimental_get_tracing_count"):
            raise Wrong(f"{what} is {describe(graphed)}, not a tf.function: wrap it with tf.function(...)")

    def one_graph(self, make_graph):
        target = self.target
        graphed = self.call(make_graph, target)
        self._tf_function(graphed, "what you returned")
        for n in LENGTHS:
            try:
                self.run_graph(graphed, n)
            except Wrong as wrong:
                if "raised" in str(wrong):
                    raise Wrong(
                        f"your tf.function refused a tensor of length {n} ({str(wrong)[:120]}...): its "
                        "input_signature fixes the length; write None for the dimension that varies"
                    ) from None
                raise
        traces = graphed.experimental_get_tracing_count()
        if traces == 3:
            raise Wrong(
                "3 traces for lengths 3, 5, 7, 7: one per length, as a plain tf.function traces; give it an "
                "input_signature with a None length"
            )
        if traces == 2:
            raise Wrong(
                "2 traces for lengths 3, 5, 7, 7: reduce_retracing=True traces length 3 first and generalises "
                "only at the retrace; an input_signature traces once"
            )
        if traces != 1:
            raise Wrong(f"{traces} traces for lengths 3, 5, 7, 7; expected 1")

    def count(self, count_fn):
        settings = [
            (False, 3, "reduce_retracing=False"),
            (False, 3, "reduce_retracing=False"),
            (True, 2, "reduce_retracing=True"),
        ]
        logger = self.tf.get_logger()
        level = logger.level
        logger.setLevel("ERROR")  # the counts retrace on purpose: no "triggered tf.function retracing" warning
        try:
            self.check_count(count_fn, self.target, settings)
        finally:
            logger.setLevel(level)

    def _model(self) -> Any:
        import keras

        keras.utils.set_random_seed(0)
        return keras.Sequential(
            [keras.Input((FEATURES,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(CLASSES)]
        )

    def _train(self, model: Any, x: Any, y: Any) -> list[float]:
        import keras

        tf, opt = self.tf, keras.optimizers.SGD(learning_rate=LR)
        loss_fn, losses = keras.losses.SparseCategoricalCrossentropy(from_logits=True), []
        for _ in range(EPOCHS):
            for i in range(0, ROWS, BATCH):
                with tf.GradientTape() as tape:
                    loss = loss_fn(y[i : i + BATCH], model(x[i : i + BATCH], training=True))
                grads = tape.gradient(loss, model.trainable_variables)
                opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
                losses.append(float(loss))
        return losses

    def fit_graph(self, fit):
        import keras

        model, reference = self._model(), self._model()
        reference.set_weights(model.get_weights())
        initial = model.get_weights()
        xs, ys = classification_data()
        x, y = self.tensor(xs), self.tensor(ys)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        out = self.call(fit, model, keras.optimizers.SGD(learning_rate=LR), loss_fn, x, y, BATCH, EPOCHS)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise Wrong(f"expected (step, losses) to be returned, got {describe(out)}")
        step, losses = out
        self._tf_function(step, "the step")
        steps = EPOCHS * -(-ROWS // BATCH)
        losses = np.asarray([float(v) for v in losses])
        if len(losses) != steps:
            raise Wrong(
                f"{len(losses)} losses for {EPOCHS} epochs of {ROWS} rows in batches of {BATCH}: expected "
                f"{steps}, one per batch, the last short batch of each epoch included"
            )
        traces = step.experimental_get_tracing_count()
        if traces > 1:
            raise Wrong(
                f"the step traced {traces} times: the last batch of each epoch has {ROWS % BATCH} rows, a new "
                "shape; give the tf.function an input_signature whose batch dimension is None"
            )
        if all(np.array_equal(w, w0) for w, w0 in zip(model.get_weights(), initial, strict=True)):
            raise Wrong("the weights never changed: apply the gradients with optimizer.apply_gradients")
        close(losses, self._train(reference, x, y), "the loss history (compared with eager training)", rtol=1e-4)
        for got, want in zip(model.get_weights(), reference.get_weights(), strict=True):
            close(got, want, "a trained weight", rtol=1e-4, atol=1e-5)

    def port_squash(self, squash):
        tf = self.tf
        graphed = tf.function(squash, input_signature=[tf.TensorSpec([None], tf.float32)])
        for x in ([3.0, -1.0, 0.5], [-4.0, 1.0, 0.5, 2.0], [0.5, -0.2]):
            xs = np.asarray(x)
            close(
                self.result(self.call(squash, self.tensor(xs)), xs.shape, f"squash({x})"),
                squash_reference(xs),
                f"squash({x})",
            )
            try:
                got = graphed(self.tensor(xs))
            except Exception as err:
                raise Wrong(
                    f"your function runs eagerly but fails inside tf.function ({one_line(err)[:120]}): in a "
                    "graph a tensor has no value yet, so .numpy(), float() and bool() fail; compare with "
                    "TensorFlow ops and let AutoGraph turn the `if` into tf.cond"
                ) from None
            close(
                self.result(got, xs.shape, f"squash({x}) in a graph"), squash_reference(xs), f"squash({x}) in a graph"
            )
        if graphed.experimental_get_tracing_count() != 1:
            raise Wrong(
                "your function retraced for a new value: compute the condition from tensors, not Python numbers"
            )

    def counted_graph(self, counted, fn):
        graph_fn, counter = self.graph_and_counter(self.call(counted, fn), self.tf.Variable, "a tf.Variable")
        self._tf_function(graph_fn, "graph_fn")

        def captured() -> None:
            if graph_fn.experimental_get_tracing_count() != 1:
                raise Wrong("your graph traced more than once for 4 identical calls")

        return graph_fn, counter, captured


OPS = {"torch": Torch02, "tensorflow": TensorFlow02}


EXERCISES = [
    Exercise(
        "02.1",
        "one graph for every length",
        "capture with a length that is symbolic from the start: torch.compile(..., dynamic=True); "
        "tf.function(..., input_signature=[tf.TensorSpec([None], tf.float32)])",
        lambda ops, answer: ops.one_graph(answer),
    ),
    Exercise(
        "02.2",
        "count the graphs",
        "count what the framework captured, from a fresh start: a CompileCounter backend after "
        "torch._dynamo.reset(); a fresh tf.function's experimental_get_tracing_count()",
        lambda ops, answer: ops.count(answer),
    ),
    Exercise(
        "02.3",
        "a training loop through a graph that never retraces",
        "capture once with a batch dimension of any size (torch.export with a Dim; an input_signature "
        "with None), then loop over the batches, the short last one included",
        lambda ops, answer: ops.fit_graph(answer),
    ),
    Exercise(
        "02.4",
        "port a data-dependent `if` into one graph",
        "the choice must be an operation of the graph: torch.where / torch.cond; in TensorFlow a tensor "
        "`if` is fine (AutoGraph), a .numpy() is not",
        lambda ops, answer: ops.port_squash(answer),
    ),
    Exercise(
        "02.5",
        "why the twins count a side effect differently",
        "a counter the graph updates at every call: a tensor updated in place (torch, under dynamo) or a "
        "tf.Variable with assign_add",
        lambda ops, answer: ops.counted(answer),
    ),
]
