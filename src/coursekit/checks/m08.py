"""Checks of module 08 (performance).

They judge by what ran, never by the source: the dtypes each layer produced and whether autocast was on
during backward and the optimizer step (hooks), the global Keras policy after the call, the weights and
the loss scale after a normal and an overflowing step, the top operator of a profile against each wrong
way of reading it, and, for gradient checkpointing, the gradients, the forward passes counted per block
and the allocator's peak memory (coursekit.profiling.peak_memory).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from coursekit.checks.core import Exercise, Ops, TensorFlowOps, TorchOps, Wrong, describe, letter_then
from coursekit.profiling import peak_memory

# 08.1 and 08.2: a small regression net (IN -> HIDDEN -> OUT) on fixed data.
IN, HIDDEN, OUT, ROWS, LR = 6, 16, 3, 32, 0.1
# 08.2: the starting loss scale of the normal step, and one so large that the scaled gradients overflow.
SCALE, HUGE = 1024.0, 2.0**125
# 08.4: the deep network whose activations dominate its memory.
WIDTH, DEPTH, SEGMENTS, BATCH = 16, 8, 2, 64


def data(seed: int = 3, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (scale * rng.normal(size=(ROWS, IN))).astype(np.float32), rng.normal(size=(ROWS, OUT)).astype(np.float32)


def net_weights(seed: int = 4) -> list[np.ndarray]:
    """Weights of the 08.1/08.2 net, Keras layout: kernel (in, out), bias, kernel, bias."""
    rng = np.random.default_rng(seed)
    return [
        rng.normal(0, 0.4, (IN, HIDDEN)).astype(np.float32),
        rng.normal(0, 0.1, HIDDEN).astype(np.float32),
        rng.normal(0, 0.4, (HIDDEN, OUT)).astype(np.float32),
        rng.normal(0, 0.1, OUT).astype(np.float32),
    ]


def same(a: list[np.ndarray], b: list[np.ndarray], rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and np.allclose(x, y, rtol=rtol, atol=atol) for x, y in zip(a, b, strict=True)
    )


def moved(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    """The size of the update: the largest |change| of any weight."""
    return max(float(np.max(np.abs(a - b))) for a, b in zip(before, after, strict=True))


class Ops08(Ops):
    """What module 08's checks need beyond core.Ops (bound to each framework below)."""

    def weights(self, model: Any) -> list[np.ndarray]:
        """A model's weights as NumPy, Keras layout."""
        raise NotImplementedError

    def deep_blocks(self) -> tuple[Any, list[int]]:
        """08.4: the blocks (fixed weights) and a list that counts the second block's forward passes."""
        raise NotImplementedError

    def deep_run(self, blocks: Any, forward: Any, x: np.ndarray, y: np.ndarray) -> tuple[Any, list[Any]]:
        """08.4: the output of forward(blocks, x) and the gradients of its loss for every weight (None if none)."""
        raise NotImplementedError


class Torch08(TorchOps, Ops08):
    def __init__(self) -> None:
        super().__init__()
        self.nn = self.torch.nn

    def net(self) -> Any:
        nn, torch = self.nn, self.torch
        model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, OUT))
        w = net_weights()
        with torch.no_grad():
            for param, value in zip(model.parameters(), (w[0].T, w[1], w[2].T, w[3]), strict=True):
                param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
        return model

    def weights(self, model):
        p = [q.detach().float().cpu().numpy().copy() for q in model.parameters()]  # a copy: numpy() shares memory
        return [p[0].T, p[1], p[2].T, p[3]]

    def recording_sgd(self, model: Any, log: dict[str, Any]) -> Any:
        torch = self.torch

        class RecordingSGD(torch.optim.SGD):  # type: ignore[name-defined]
            def step(self, closure: Any = None) -> Any:
                log["step autocast"] = torch.is_autocast_enabled("cpu")
                log["steps"] = log.get("steps", 0) + 1
                return super().step(closure)

        return RecordingSGD(model.parameters(), lr=LR)

    def deep_blocks(self):
        nn, torch = self.nn, self.torch
        torch.manual_seed(0)
        blocks = nn.Sequential(
            nn.Sequential(nn.Conv2d(1, WIDTH, 3, padding=1), nn.ReLU()),
            *[nn.Sequential(nn.Conv2d(WIDTH, WIDTH, 3, padding=1), nn.ReLU()) for _ in range(DEPTH - 1)],
        )
        calls: list[int] = []
        blocks[1].register_forward_hook(lambda *args: calls.append(1))
        return blocks, calls

    def deep_run(self, blocks, forward, x, y):
        torch = self.torch
        blocks.zero_grad(set_to_none=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the reentrant variant warns when no input requires grad
            out = forward(blocks, torch.from_numpy(x), SEGMENTS)
            if isinstance(out, torch.Tensor) and out.requires_grad:
                ((out.mean(dim=(1, 2, 3)) - torch.from_numpy(y)) ** 2).mean().backward()
        return out, [None if p.grad is None else p.grad.detach().numpy().copy() for p in blocks.parameters()]


class TensorFlow08(TensorFlowOps, Ops08):
    def __init__(self) -> None:
        super().__init__()
        import keras

        self.keras = keras

    def build(self) -> Any:
        keras = self.keras
        model = keras.Sequential(
            [keras.Input((IN,)), keras.layers.Dense(HIDDEN, activation="relu"), keras.layers.Dense(OUT)]
        )
        model.set_weights(net_weights())
        return model

    def weights(self, model):
        return [np.array(v.numpy(), dtype=np.float32) for v in model.trainable_variables]

    def deep_blocks(self):
        keras = self.keras
        calls: list[int] = []

        class Counted(keras.layers.Layer):  # type: ignore[name-defined]
            """A conv + ReLU block that counts its forward passes (the check runs eagerly)."""

            def __init__(self, conv: Any, count: bool) -> None:
                super().__init__()
                self.conv, self.count = conv, count

            def call(self, h: Any) -> Any:
                if self.count:
                    calls.append(1)
                return keras.ops.relu(self.conv(h))

        keras.utils.set_random_seed(0)
        blocks = [Counted(keras.layers.Conv2D(WIDTH, 3, padding="same"), i == 1) for i in range(DEPTH)]
        h = self.tf.zeros((1, 8, 8, 1))
        for block in blocks:
            h = block(h)
        calls.clear()
        return blocks, calls

    def deep_run(self, blocks, forward, x, y):
        tf = self.tf
        variables = [v for b in blocks for v in b.trainable_variables]
        with tf.GradientTape() as tape:
            out = forward(blocks, tf.constant(x.transpose(0, 2, 3, 1)), SEGMENTS)
            if not isinstance(out, (tf.Tensor, tf.Variable)):
                return out, [None] * len(variables)
            loss = tf.reduce_mean((tf.reduce_mean(out, axis=(1, 2, 3)) - y) ** 2)
        grads = tape.gradient(loss, variables)
        # Keras orders a conv's variables (kernel HWIO, bias); torch's (OIHW, bias): compare in torch's layout.
        return out, [
            None if g is None else (g.numpy().transpose(3, 2, 0, 1) if g.shape.rank == 4 else g.numpy()) for g in grads
        ]


OPS = {"torch": Torch08, "tensorflow": TensorFlow08}


# 08.1 ---------------------------------------------------------------------------------------------------


def _torch_reference_step(ops: Torch08, x: Any, y: Any, grads_left: bool = False) -> list[np.ndarray]:
    torch = ops.torch
    model = ops.net()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    if grads_left:
        for p in model.parameters():
            p.grad = torch.ones_like(p)
    else:
        optimizer.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    return ops.weights(model)


def mixed_step_torch(ops: Torch08, fn: Any) -> None:
    torch = ops.torch
    xs, ys = data()
    x, y = torch.from_numpy(xs), torch.from_numpy(ys)
    model, log = ops.net(), dict[str, Any]()
    optimizer = ops.recording_sgd(model, log)
    for p in model.parameters():
        p.grad = torch.ones_like(p)  # left over from an earlier step: the step must clear them
    start = ops.weights(model)
    seen: dict[int, Any] = {}

    def record_dtype(layer: Any, inputs: Any, out: Any) -> None:  # the dtype each linear layer produced
        seen.setdefault(list(model).index(layer), out.dtype)

    def record_backward(grad: Any) -> None:  # whether autocast was on while backward() ran
        log.setdefault("backward autocast", torch.is_autocast_enabled("cpu"))

    for i in (0, 2):
        model[i].register_forward_hook(record_dtype)
    model[0].weight.register_hook(record_backward)
    loss = ops.call(fn, model, optimizer, torch.nn.functional.mse_loss, x, y)
    if any(p.dtype != torch.float32 for p in model.parameters()):
        raise Wrong(
            "the weights are no longer float32: you cast the model (model.to(torch.bfloat16) or .bfloat16()); mixed "
            "precision keeps float32 weights and lets autocast cast each operation inside the `with` block"
        )
    if not seen:
        raise Wrong("the model was never called: run its forward pass on x inside torch.autocast")
    if seen.get(0) != torch.bfloat16:
        raise Wrong(
            f"the layers ran in {str(seen.get(0)).removeprefix('torch.')}: wrap the forward pass and the loss in "
            "`with torch.autocast(x.device.type, dtype=torch.bfloat16):`"
        )
    if log.get("backward autocast"):
        raise Wrong(
            "backward() ran inside autocast: autocast belongs around the forward pass and the loss only; leave the "
            "`with` block before loss.backward() (the backward pass uses the forward's dtypes by itself)"
        )
    if "steps" not in log:
        raise Wrong("the optimizer took no step: call optimizer.step() after loss.backward()")
    if log.get("step autocast"):
        raise Wrong("optimizer.step() ran inside autocast: the update must be float32; call it after the `with` block")
    if not isinstance(loss, torch.Tensor):
        raise Wrong(f"return the loss tensor, got {describe(loss)}")
    if loss.dtype != torch.float32:
        raise Wrong(
            f"the loss is {str(loss.dtype).removeprefix('torch.')}: do not cast it; under autocast the loss is "
            "computed in float32, and a bfloat16 loss loses precision in the gradient"
        )
    got = ops.weights(model)
    if same(got, _torch_reference_step(ops, x, y)):
        return
    if same(got, _torch_reference_step(ops, x, y, grads_left=True)):
        raise Wrong("the gradients of an earlier step were added to this one's: call optimizer.zero_grad() first")
    if same(got, start):
        raise Wrong("the weights did not change")
    raise Wrong("the weights after your step differ from one SGD step on the loss computed under autocast")


def mixed_model_tf(ops: TensorFlow08, fn: Any) -> None:
    keras, tf = ops.keras, ops.tf
    keras.mixed_precision.set_global_policy("float32")
    try:
        model = ops.call(fn, ops.build)
        policy = keras.mixed_precision.global_policy().name
    finally:
        keras.mixed_precision.set_global_policy("float32")  # whatever the answer did, later code gets float32
    if not isinstance(model, keras.Model):
        raise Wrong(f"return the model that build() made, got {describe(model)}")
    hidden = model.layers[0]
    variable_dtype = str(hidden.kernel.dtype)
    x, _ = data()
    out = keras.Model(model.inputs, hidden.output)(tf.constant(x))
    if variable_dtype != "float32":
        raise Wrong(
            f"the variables are {variable_dtype}: the '{variable_dtype}' policy computes *and stores* in low "
            "precision; use 'mixed_bfloat16' (bfloat16 compute, float32 variables)"
        )
    if out.dtype != tf.bfloat16:
        raise Wrong(
            f"the layers compute in {out.dtype.name}: set the policy to 'mixed_bfloat16' *before* calling build() "
            "(a policy applies to the layers built while it is set)"
        )
    if policy != "float32":
        raise Wrong(
            f"the global policy was left at '{policy}': every model built later would be mixed too; set it back to "
            "'float32' after building (in a `finally:` block)"
        )


# 08.2 ---------------------------------------------------------------------------------------------------


def _torch_scaled(
    ops: Torch08, fn: Any, scale: float, x_scale: float
) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    torch = ops.torch
    xs, ys = data(scale=x_scale)
    model = ops.net()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    scaler = torch.amp.GradScaler("cpu", init_scale=scale, growth_interval=10_000)
    start = ops.weights(model)
    try:
        ops.call(fn, model, optimizer, scaler, torch.nn.functional.mse_loss, torch.from_numpy(xs), torch.from_numpy(ys))
    except Wrong as wrong:  # GradScaler's own assertions, said in terms of the exercise
        if "_scale is None" in str(wrong):
            raise Wrong("scaler.step found no scaled loss: backpropagate scaler.scale(loss), not the loss") from None
        if "No inf checks were recorded" in str(wrong):
            raise Wrong(
                "scaler.update() found no step of the scaler: the gradients were applied still scaled; "
                "let scaler.step(optimizer) unscale and apply them (not optimizer.step())"
            ) from None
        raise
    return start, ops.weights(model), float(scaler.get_scale())


def _torch_plain_step(ops: Torch08) -> list[np.ndarray]:
    torch = ops.torch
    xs, ys = data()
    model = ops.net()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    torch.nn.functional.mse_loss(model(torch.from_numpy(xs)), torch.from_numpy(ys)).backward()
    optimizer.step()
    return ops.weights(model)


def _tf_scaled(
    ops: TensorFlow08, fn: Any, scale: float, x_scale: float
) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    keras, tf = ops.keras, ops.tf
    xs, ys = data(scale=x_scale)
    model = ops.build()
    optimizer = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(learning_rate=LR), initial_scale=scale, dynamic_growth_steps=10_000
    )
    loss_fn = keras.losses.MeanSquaredError()
    start = ops.weights(model)
    ops.call(fn, model, optimizer, loss_fn, tf.constant(xs), tf.constant(ys))
    scale_now = getattr(optimizer, "dynamic_scale", None)  # created by the optimizer's own first apply
    return start, ops.weights(model), scale if scale_now is None else float(scale_now.numpy())


def _tf_plain_step(ops: TensorFlow08) -> list[np.ndarray]:
    keras, tf = ops.keras, ops.tf
    xs, ys = data()
    model = ops.build()
    optimizer = keras.optimizers.SGD(learning_rate=LR)
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(ys, model(xs, training=True))
    optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
    return ops.weights(model)


def scaled_step(ops: Ops08, fn: Any) -> None:
    torch_side = isinstance(ops, Torch08)
    run = _torch_scaled if torch_side else _tf_scaled
    right = _torch_plain_step(ops) if isinstance(ops, Torch08) else _tf_plain_step(ops)  # type: ignore[arg-type]
    start, got, _ = run(ops, fn, SCALE, 1.0)  # type: ignore[arg-type]
    if not all(np.isfinite(w).all() for w in got) or (moved(start, got) > 10 * moved(start, right)):
        raise Wrong(
            f"the update was about {SCALE:.0f}× too large: the gradients were applied still scaled; "
            + (
                "let scaler.step(optimizer) unscale them (not optimizer.step())"
                if torch_side
                else "apply them with the LossScaleOptimizer itself (optimizer.apply), not its inner optimizer"
            )
        )
    if 0 < moved(start, got) < 0.01 * moved(start, right):
        raise Wrong(
            f"the update was about {SCALE:.0f}× too small: the gradients were unscaled without having been scaled; "
            + (
                "backpropagate scaler.scale(loss), not the loss"
                if torch_side
                else "take the gradient of optimizer.scale_loss(loss), not of the loss"
            )
        )
    if not same(got, right, rtol=1e-3, atol=1e-6):
        raise Wrong("one scaled step should give the weights of one plain SGD step, and it does not")
    start, got, scale = run(ops, fn, HUGE, 1e4)  # type: ignore[arg-type]
    if not all(np.isfinite(w).all() for w in got):
        raise Wrong(
            "an overflowing step wrote inf/NaN into the weights: the scaled gradients were infinite and were applied; "
            + (
                "scaler.step(optimizer) would have skipped the step"
                if torch_side
                else "the LossScaleOptimizer's apply would have skipped it"
            )
        )
    if not same(got, start, rtol=0, atol=0):
        raise Wrong("with infinite scaled gradients the step must be skipped, but the weights changed")
    if math.isclose(scale, HUGE):
        raise Wrong(
            "after an overflow the loss scale must fall, and it stayed the same: "
            + (
                "call scaler.update() after scaler.step(optimizer)"
                if torch_side
                else "use the LossScaleOptimizer's apply"
            )
        )


# 08.3 ---------------------------------------------------------------------------------------------------

# Rows as coursekit.profiling.op_stats returns them: IDLE first, then in an order that is neither by self time
# nor by total time; the largest total time belongs to a wrapper whose self time is small.
ROWS_08 = [
    {"type": "IDLE", "operation": "IDLE", "total_time": 9000.0, "total_self_time": 9000.0, "occurrences": 0},
    {
        "type": "StatefulPartitionedCall",
        "operation": "train_step",
        "total_time": 6000.0,
        "total_self_time": 150.0,
        "occurrences": 5,
    },
    {
        "type": "_MklMatMul",
        "operation": "dense/MatMul",
        "total_time": 900.0,
        "total_self_time": 900.0,
        "occurrences": 10,
    },
    {
        "type": "_MklNativeConv2DBackpropInput",
        "operation": "gradient_tape/conv/Conv2DBackpropInput",
        "total_time": 2500.0,
        "total_self_time": 2500.0,
        "occurrences": 5,
    },
    {
        "type": "_MklNativeFusedConv2D",
        "operation": "conv/Relu",
        "total_time": 1200.0,
        "total_self_time": 1200.0,
        "occurrences": 5,
    },
]


def top_operator(ops: Ops08, fn: Any) -> None:
    if isinstance(ops, Torch08):
        _top_torch(ops, fn)
        return
    import copy

    rows = copy.deepcopy(ROWS_08)
    got = ops.call(fn, rows)
    answers = {
        "IDLE": "the IDLE row is time in which no operation ran, not an operator: leave it out",
        "StatefulPartitionedCall": "you took the largest *total* time, which a wrapper (the whole step) holds: "
        "take the largest total_self_time",
        "gradient_tape/conv/Conv2DBackpropInput": "you returned the operation's name; return its type "
        "(the 'type' column)",
        "_MklMatMul": "you took the first operator after IDLE: the rows are not sorted by self time; take the max",
    }
    if isinstance(got, dict):
        raise Wrong("return the operator's type (a string), not its whole row")
    if got in answers:
        raise Wrong(answers[str(got)])
    if got != "_MklNativeConv2DBackpropInput":
        raise Wrong(f"expected the type of the row with the largest total_self_time, got {got!r}")


def _top_torch(ops: Torch08, fn: Any) -> None:
    torch = ops.torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from coursekit.profiling import quiet_torch_profiler

    a = torch.randn(300, 300)
    small = torch.randn(10)
    with quiet_torch_profiler(), profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            with record_function("train_step"):
                a @ a
                for _ in range(20):
                    small + 1
    got = ops.call(fn, prof)
    events = prof.key_averages()
    by_self = max(events, key=lambda e: e.self_cpu_time_total).key
    by_total = max(events, key=lambda e: e.cpu_time_total).key
    if not isinstance(got, str):
        raise Wrong(f"return the operator's name (a string, the event's .key), got {describe(got)}")
    if got == by_self:
        return
    if got == by_total:
        raise Wrong(
            f"you took the largest *total* time ({by_total!r}), which a wrapper holds: it contains the work; "
            "sort by self_cpu_time_total"
        )
    if got == events[0].key:
        raise Wrong("you took the first row of key_averages(), which is not sorted: sort by self_cpu_time_total")
    raise Wrong(f"expected the operator with the largest self CPU time ({by_self!r}), got {got!r}")


# 08.4 ---------------------------------------------------------------------------------------------------


def checkpointing(ops: Ops08, fn: Any) -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(BATCH, 1, 8, 8)).astype(np.float32)
    y = rng.normal(size=BATCH).astype(np.float32)
    blocks, calls = ops.deep_blocks()

    def plain(blocks: Any, h: Any, segments: int) -> Any:
        for block in blocks:
            h = block(h)
        return h

    ref_out, ref_grads = ops.deep_run(blocks, plain, x, y)
    calls.clear()
    with ops.learner("checkpointed_forward"):
        out, grads = ops.deep_run(blocks, fn, x, y)
    if out is None:
        raise Wrong("checkpointed_forward returned None: return the output of the last block")
    got_shape, want_shape = tuple(out.shape), tuple(ref_out.shape)
    if got_shape != want_shape:
        raise Wrong(f"expected an output of shape {want_shape} (all {DEPTH} blocks), got {got_shape}")
    if not np.allclose(ops.to_numpy(out), ops.to_numpy(ref_out), rtol=1e-4, atol=1e-5):
        raise Wrong(f"the output differs from running all {DEPTH} blocks one after another, each exactly once")
    if all(g is None for g in grads):
        raise Wrong(
            "the weights got no gradient: with torch's use_reentrant=True (or under no_grad) nothing reaches them "
            "when the input needs no gradient; use checkpoint(..., use_reentrant=False), or tf.recompute_grad"
        )
    if any(g is None for g in grads) or any(np.abs(g).max() == 0 for g in grads):
        raise Wrong("the gradients do not reach the first blocks: do not detach or stop the gradient between segments")
    for got, want in zip(grads, ref_grads, strict=True):
        if not np.allclose(got, want, rtol=1e-4, atol=1e-6):
            raise Wrong("the gradients differ from the plain network's: checkpointing must not change them")
    if len(calls) < 2:
        raise Wrong(
            "each block ran its forward pass once: nothing was recomputed, so nothing was checkpointed; wrap each "
            "segment of several blocks in checkpoint(..., use_reentrant=False) / tf.recompute_grad"
        )
    framework = "torch" if isinstance(ops, Torch08) else "tensorflow"
    ops.deep_run(blocks, fn, x, y)  # warm up, as before any peak measurement
    plain_peak = peak_memory(framework, ops.deep_run, blocks, plain, x, y)
    with ops.learner("checkpointed_forward"):
        got_peak = peak_memory(framework, ops.deep_run, blocks, fn, x, y)
    if got_peak > 0.95 * plain_peak:
        raise Wrong(
            f"the peak memory did not fall ({got_peak / 2**20:.2f} MB against {plain_peak / 2**20:.2f} MB plain): "
            f"checkpoint {SEGMENTS} segments of several blocks each, not every block on its own"
        )


# 08.5 ---------------------------------------------------------------------------------------------------

# Peak memory (MB) of a step at these batch sizes: a fixed part plus a part per example, and a little noise
# so that the two end points alone give another slope than the least-squares line through all of them.
MEMORY_BATCHES = [32, 64, 128, 256]
MEMORY_PEAKS = [1.50, 2.20, 4.05, 7.10]


def memory_slope(ops: Ops08, fn: Any) -> None:
    per_example = letter_then(
        ops,
        fn,
        ("why_they_differ", "memory_per_example"),
        "B",
        {
            "A": "both twins train in float32 (section 2 printed the dtypes); the difference is in what is counted",
            "C": "neither framework compresses activations; the difference is in what each allocator counts",
        },
    )
    got = ops.call(per_example, list(MEMORY_BATCHES), list(MEMORY_PEAKS))
    try:
        value = float(got)
    except (TypeError, ValueError):
        raise Wrong(f"memory_per_example should return one number (MB per example), got {describe(got)}") from None
    slope = float(np.polyfit(MEMORY_BATCHES, MEMORY_PEAKS, 1)[0])
    if math.isclose(value, MEMORY_PEAKS[-1] / MEMORY_BATCHES[-1], rel_tol=1e-6):
        raise Wrong(
            "you divided the peak by the batch size: that spreads the fixed part (weights, gradients, optimizer "
            "state) over the examples; take the slope of the peak against the batch size"
        )
    two_ends = (MEMORY_PEAKS[-1] - MEMORY_PEAKS[0]) / (MEMORY_BATCHES[-1] - MEMORY_BATCHES[0])
    if math.isclose(value, two_ends, rel_tol=1e-6):
        raise Wrong("you took the slope between the two end points; fit a line through all the points (np.polyfit)")
    if not math.isclose(value, slope, rel_tol=1e-4):
        raise Wrong(f"expected the slope of a least-squares line through all the points, {slope:.5f} MB per example")


EXERCISES = [
    Exercise(
        "08.1",
        "mixed precision, the right way round",
        "the low precision covers the forward pass and the loss only; weights stay float32, and the float32 "
        "state (backward in torch, the global policy in Keras) must be as it was afterwards",
        lambda ops, fn: mixed_step_torch(ops, fn) if isinstance(ops, Torch08) else mixed_model_tf(ops, fn),
    ),
    Exercise(
        "08.2",
        "loss scaling, ported from the twin",
        "scale the loss before the gradients, unscale them before the update, skip the update (and lower the "
        "scale) when they overflow: GradScaler's scale/step/update, or LossScaleOptimizer's scale_loss/apply",
        scaled_step,
    ),
    Exercise(
        "08.3",
        "the top operator of a profile",
        "the top operator has the largest *self* time; totals include what an operator calls, and IDLE is no operator",
        top_operator,
    ),
    Exercise(
        "08.4",
        "gradient checkpointing",
        "split the blocks into `segments` runs of consecutive blocks, and run each run under "
        "checkpoint(..., use_reentrant=False) or tf.recompute_grad; the output of one is the input of the next",
        checkpointing,
    ),
    Exercise(
        "08.5",
        "why the twins' memory figures differ",
        "compare what each framework's figure counts; then the per-example cost is the slope of a line fitted "
        "through (batch size, peak) for all the batch sizes",
        memory_slope,
    ),
]

__all__ = ["EXERCISES", "OPS"]
