"""Checks of module 03 (networks): parameter counts, weight layouts across the twins, the digits CNN.

The count is checked against a model the framework itself builds for configurations of the check's
choosing; the layout ports against outputs computed here in NumPy, on a square layer too (where a
missing transpose raises no shape error); the CNN against a float64 NumPy reference after loading
the same canonical weights through coursekit.parity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coursekit import parity
from coursekit.checks.core import Exercise, Ops, TensorFlowOps, TorchOps, Wrong, describe

# (conv1 channels, conv2 channels, hidden units, classes, image size): the configurations 03.1 counts.
CONFIGS = [(32, 64, 128, 10, 8), (4, 6, 5, 3, 10), (8, 3, 7, 2, 12)]


def numpy_cnn(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The digits CNN in float64 NumPy from canonical weights; x is (n, H, W, 1), channels last."""

    def conv_relu(h: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
        # 3x3 windows over height and width: (n, H-2, W-2, c, 3, 3). A window over every axis, then the size-1
        # ones dropped, because the type stubs of NumPy 2.1 (Colab's) reject a tuple `axis`, which works at run time.
        windows = np.lib.stride_tricks.sliding_window_view(h, (1, 3, 3, 1))[..., 0, :, :, 0]
        return np.maximum(np.einsum("nhwcij,ijco->nhwo", windows, kernel) + bias, 0)

    h = conv_relu(x.astype(np.float64), w["0.conv2d.kernel"], w["0.conv2d.bias"])
    h = conv_relu(h, w["1.conv2d.kernel"], w["1.conv2d.bias"])
    n, height, width, c = h.shape
    h = h.reshape(n, height // 2, 2, width // 2, 2, c).max(axis=(2, 4)).reshape(n, -1)
    h = np.maximum(h @ w["2.dense.kernel"] + w["2.dense.bias"], 0)
    return h @ w["3.dense.kernel"] + w["3.dense.bias"]


def rows_in_order(kernel_rows: np.ndarray, shape: tuple[int, int, int], order: str) -> np.ndarray:
    """Rows indexed by (c, h, w) re-laid in the flatten order named by `order` ('hwc', 'chw', 'whc')."""
    c, h, w = shape
    cube = kernel_rows.reshape(c, h, w, -1)
    axes = {"chw": (0, 1, 2, 3), "hwc": (1, 2, 0, 3), "whc": (2, 1, 0, 3)}[order]
    return cube.transpose(axes).reshape(c * h * w, -1)


class Ops03(Ops):
    """What module 03's checks need beyond core.Ops."""

    def reference_cnn(self, c1: int, c2: int, hidden: int, classes: int, size: int) -> Any:
        """The framework's own CNN of that configuration (built), whose count 03.1 must match."""
        raise NotImplementedError

    def dense_output(self, layer: Any, x: np.ndarray) -> np.ndarray:
        """The learner's dense layer applied to x, as NumPy; Wrong if it is not a dense layer."""
        raise NotImplementedError

    def cnn_logits(self, model: Any, x: np.ndarray) -> np.ndarray:
        """The learner's CNN on x (n, 8, 8, 1), in inference mode, as NumPy."""
        raise NotImplementedError

    def load(self, model: Any, weights: dict[str, np.ndarray], x: np.ndarray) -> None:
        raise NotImplementedError

    def small_model(self) -> Any:
        """A small built CNN for 03.5: conv 1->8, conv 8->16, dense 64->32, dense 32->4."""
        raise NotImplementedError

    def layer_arrays(self, model: Any) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(name, kernel in canonical layout, bias) of each weight layer."""
        raise NotImplementedError


class Torch03(TorchOps, Ops03):
    layer_name = "nn.Linear"

    def reference_cnn(self, c1, c2, hidden, classes, size):
        nn = self.torch.nn
        flat = c2 * ((size - 4) // 2) ** 2
        return nn.Sequential(
            nn.Conv2d(1, c1, 3), nn.ReLU(), nn.Conv2d(c1, c2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, classes),
        )  # fmt: skip

    def dense_output(self, layer, x):
        if not isinstance(layer, self.torch.nn.Linear):
            raise Wrong(f"expected an nn.Linear, got {describe(layer)}")
        with self.learner("calling your layer"), self.torch.no_grad():
            return layer(self.tensor(x)).numpy().astype(np.float64)

    def cnn_logits(self, model, x):
        with self.learner("calling your model on a (32, 1, 8, 8) batch"), self.torch.no_grad():
            model.eval()
            out = model(self.tensor(x.transpose(0, 3, 1, 2)))
        return self.result(out, (len(x), 10), "the model's output")

    def load(self, model, weights, x):
        parity.load_numpy(model, weights, example=self.tensor(x.transpose(0, 3, 1, 2)))

    def small_model(self):
        nn = self.torch.nn
        return nn.Sequential(
            nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Flatten(),
            nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4),
        )  # fmt: skip

    def layer_arrays(self, model):
        out = []
        for name, m in model.named_modules():
            if isinstance(m, (self.torch.nn.Linear, self.torch.nn.Conv2d)):
                w = m.weight.detach().numpy()
                kernel = w.T if w.ndim == 2 else w.transpose(2, 3, 1, 0)
                out.append((name, kernel, m.bias.detach().numpy()))
        return out


class TensorFlow03(TensorFlowOps, Ops03):
    layer_name = "keras.layers.Dense"

    def reference_cnn(self, c1, c2, hidden, classes, size):
        import keras

        layers = keras.layers
        return keras.Sequential([
            keras.Input((size, size, 1)), layers.Conv2D(c1, 3, activation="relu"),
            layers.Conv2D(c2, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
            layers.Dense(hidden, activation="relu"), layers.Dense(classes),
        ])  # fmt: skip

    def dense_output(self, layer, x):
        import keras

        if not isinstance(layer, keras.layers.Dense):
            raise Wrong(f"expected a keras.layers.Dense, got {describe(layer)}")
        with self.learner("calling your layer"):
            return np.asarray(layer(self.tensor(x))).astype(np.float64)

    def cnn_logits(self, model, x):
        with self.learner("calling your model on a (32, 8, 8, 1) batch"):
            out = model(self.tensor(x), training=False)
        return self.result(out, (len(x), 10), "the model's output")

    def load(self, model, weights, x):
        parity.load_numpy(model, weights)

    def small_model(self):
        import keras

        layers = keras.layers
        return keras.Sequential([
            keras.Input((6, 6, 1)), layers.Conv2D(8, 3), layers.Conv2D(16, 3), layers.Flatten(),
            layers.Dense(32), layers.Dense(4),
        ])  # fmt: skip

    def layer_arrays(self, model):
        return [(layer.name, layer.kernel.numpy(), layer.bias.numpy()) for layer in model.layers if layer.weights]


OPS = {"torch": Torch03, "tensorflow": TensorFlow03}


def _count(c1: int, c2: int, hidden: int, classes: int, spatial: int, biases: bool = True) -> int:
    """The CNN's count with a given flattened spatial size, with or without the biases."""
    weights = 9 * c1 + 9 * c1 * c2 + spatial * c2 * hidden + hidden * classes
    return weights + (c1 + c2 + hidden + classes if biases else 0)


def param_formula(ops: Ops03, fn: Any) -> None:
    for c1, c2, hidden, classes, size in CONFIGS:
        got = ops.call(fn, c1, c2, hidden, classes, size)
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            raise Wrong(f"expected an int, got {describe(got)}")
        expected = parity.parameter_count(ops.reference_cnn(c1, c2, hidden, classes, size))
        config = f"for conv {c1}-{c2}, dense {hidden}-{classes}, {size}x{size} images"
        if got == expected:
            continue
        pooled, unpooled, same = ((size - 4) // 2) ** 2, (size - 4) ** 2, (size // 2) ** 2

        if got == _count(c1, c2, hidden, classes, pooled, biases=False):
            raise Wrong(f"{got} {config} counts the weights but forgets the biases (one per output unit or channel)")
        if got == _count(c1, c2, hidden, classes, unpooled):
            also = " (or assumes 'same' padding: here both give this count)" if unpooled == same else ""
            raise Wrong(
                f"{got} {config}: the flattened size ignores the 2x2 max pooling, which halves height and width{also}"
            )
        if got == _count(c1, c2, hidden, classes, same):
            raise Wrong(f"{got} {config}: that is the count with 'same' padding; 'valid' 3x3 convolutions shrink by 2")
        raise Wrong(f"{config} the model has {expected:,} parameters, your formula gives {got:,}")


def _dense_port(ops: Ops03, fn: Any, torch_side: bool) -> None:
    """torch_side: the learner builds an nn.Linear from a Keras kernel (in, out); else a Dense from a torch weight."""
    rng = np.random.default_rng(31)
    for n_in, n_out in ((4, 4), (3, 5)):
        kernel = rng.normal(size=(n_in, n_out)).astype(np.float32)  # canonical / Keras layout
        bias = rng.normal(size=n_out).astype(np.float32)
        x = rng.normal(size=(6, n_in)).astype(np.float32)
        given = kernel if torch_side else kernel.T.copy()
        layer = ops.call(fn, given, bias)
        if layer is None:
            raise Wrong("your function returned None: did you forget to `return` the layer?")
        got = ops.dense_output(layer, x)
        expected = x.astype(np.float64) @ kernel + bias
        if got.shape != expected.shape:
            raise Wrong(f"the layer maps {n_in} inputs to {got.shape[-1]} outputs; expected {n_out}")
        if np.allclose(got, expected, atol=1e-4):
            continue
        if n_in == n_out and np.allclose(got, x @ kernel.T + bias, atol=1e-4):
            raise Wrong(
                f"on a square {n_in}x{n_out} layer the outputs are those of the transposed matrix: a transpose "
                f"is missing (torch stores (out, in), Keras (in, out))"
            )
        if np.allclose(got, x @ kernel, atol=1e-4):
            raise Wrong("the outputs lack the bias: copy it too")
        raise Wrong(f"the {n_in}->{n_out} layer's outputs differ from x @ kernel + bias (first row {got[0].round(3)})")


def port_dense(ops: Ops03, fn: Any) -> None:
    _dense_port(ops, fn, torch_side=ops.name == "pytorch")


def flatten_order(ops: Ops03, fn: Any) -> None:
    """torch: (Keras kernel (H·W·C, out), c, h, w) -> Linear weight (out, C·H·W); TF: the way back."""
    rng = np.random.default_rng(32)
    c, h, w, out = 3, 2, 4, 5
    chw_rows = rng.normal(size=(c * h * w, out)).astype(np.float32)  # rows indexed (c, h, w)
    keras_kernel = rows_in_order(chw_rows, (c, h, w), "hwc")
    torch_weight = chw_rows.T.copy()
    torch_side = ops.name == "pytorch"
    given, expected = (keras_kernel, torch_weight) if torch_side else (torch_weight, keras_kernel)
    got = ops.call(fn, given.copy(), c, h, w)
    if got is None:
        raise Wrong("your function returned None: did you forget to `return` the array?")
    got = np.asarray(got.detach() if hasattr(got, "detach") else got, dtype=np.float64)
    if got.shape != expected.shape:
        hint = " (a missing transpose?)" if got.shape == expected.shape[::-1] else ""
        raise Wrong(f"expected shape {expected.shape}, got {got.shape}{hint}")
    if np.allclose(got, expected):
        return
    if np.allclose(got, given.T):
        raise Wrong(
            "you transposed but left the rows in the other framework's flatten order: permute them too "
            "(torch flattens (C, H, W), Keras (H, W, C))"
        )
    for order in ("whc", "hwc", "chw"):
        wrong = rows_in_order(chw_rows, (c, h, w), order)
        if np.allclose(got, wrong.T if torch_side else wrong):
            raise Wrong(
                f"the rows come out in ({', '.join(order.upper())}) order; read the feature map as "
                "(C, H, W) in torch and (H, W, C) in Keras"
            )
    raise Wrong("the values are not a reordering of the given kernel's rows that matches the other framework")


def digits_cnn(ops: Ops03, fn: Any) -> None:
    model = ops.call(fn)
    if model is None:
        raise Wrong("your function returned None: return the model")
    with ops.learner("counting your model's parameters"):
        count = parity.parameter_count(model)
    if count != 53_002:
        raise Wrong(
            f"the model has {count:,} parameters, the digits CNN 53,002 (conv 3x3 'valid' 32 and 64, 2x2 max "
            "pooling, dense 128 and 10): a missing pooling gives 165,002, 'same' padding 559,626"
        )
    x = np.random.default_rng(33).random((32, 8, 8, 1)).astype(np.float32)
    with ops.learner("parity.to_numpy on your model"):
        template = parity.to_numpy(model, **({"feature_map": (64, 2, 2)} if ops.name == "pytorch" else {}))
    weights = parity.random_weights(template, seed=33)
    try:
        ops.load(model, weights, x)
    except parity.ParityError as err:
        raise Wrong(f"the weights of the digits CNN do not fit your model: {err}") from None
    got = ops.cnn_logits(model, x)
    expected = numpy_cnn(weights, x)
    report = parity.compare(got, expected, atol=1e-4, rtol=1e-3, names=("your model", "reference"))
    if report.ok:
        return
    if np.allclose(got.sum(axis=1), 1.0, atol=1e-4) and (got >= 0).all():
        raise Wrong("the outputs are probabilities (they sum to 1): return logits, with no softmax at the end")
    raise Wrong(
        f"with the same weights, the outputs differ from the reference ({report.n_bad} of "
        f"{int(np.prod(report.shape))} values, "
        f"max |diff| {report.max_abs:.3g}): check the ReLUs after both convolutions and fc1, and the layer order"
    )


def twin_init(ops: Ops03, fn: Any) -> None:
    """torch: re-initialise like Keras (Glorot uniform, zero biases); TF: like PyTorch (U(±1/sqrt(fan_in)))."""
    keras_rule = ops.name == "pytorch"
    model = ops.small_model()
    before = [k.copy() for _, k, _ in ops.layer_arrays(model)]
    ops.call(fn, model)
    for (name, kernel, bias), old in zip(ops.layer_arrays(model), before, strict=True):
        if np.array_equal(kernel, old):
            raise Wrong(f"layer {name!r} still holds its old kernel: change the model's weights in place")
        fan_in = int(np.prod(kernel.shape[:-1]))
        fan_out = int(np.prod(kernel.shape[:-2])) * kernel.shape[-1]
        bound = np.sqrt(6 / (fan_in + fan_out)) if keras_rule else 1 / np.sqrt(fan_in)
        rule = "sqrt(6 / (fan_in + fan_out))" if keras_rule else "1 / sqrt(fan_in)"
        top, spread = float(np.abs(kernel).max()), float(kernel.std())
        if top > bound * 1.0001 and abs(spread - bound / np.sqrt(3)) < 0.25 * bound / np.sqrt(3):
            raise Wrong(
                f"layer {name!r}: the spread is right (std {spread:.4f}) but values reach {top:.4f}, beyond the "
                f"uniform range ±{bound:.4f}: a normal distribution? draw from a uniform one"
            )
        if top > bound * 1.0001 or top < 0.8 * bound:
            raise Wrong(
                f"layer {name!r} (fan_in {fan_in}, fan_out {fan_out}): its largest |weight| is {top:.4f}, but "
                f"U(±{rule}) reaches up to {bound:.4f}"
                + (" (fan_out counts too, kh·kw·out for a conv)" if keras_rule else "")
            )
        if abs(spread - bound / np.sqrt(3)) > 0.2 * bound / np.sqrt(3):
            raise Wrong(f"layer {name!r}: std {spread:.4f}, but a uniform U(±{bound:.4f}) has {bound / np.sqrt(3):.4f}")
        if keras_rule and bias.any():
            raise Wrong(f"layer {name!r}: Keras starts biases at zero; yours are not")
        if not keras_rule and (not bias.any() or np.abs(bias).max() > bound * 1.0001):
            raise Wrong(f"layer {name!r}: PyTorch draws biases from U(±1/sqrt(fan_in)) = U(±{bound:.4f}) too")


EXERCISES = [
    Exercise(
        "03.1",
        "count the CNN's parameters by formula",
        "per layer: weights (k·k·in·out for a conv, in·out for a dense) plus one bias per output; the "
        "flattened size is channels × ((size − 4) // 2)²",
        param_formula,
    ),
    Exercise(
        "03.2",
        "port a dense layer from the twin",
        "torch's Linear.weight is (out, in), Keras' Dense.kernel (in, out): transpose, and copy the bias",
        port_dense,
    ),
    Exercise(
        "03.3",
        "the flatten order across the twins",
        "reshape the rows into the feature map's axes, transpose the axes into the other order, flatten back; "
        "then transpose the matrix",
        flatten_order,
    ),
    Exercise(
        "03.4",
        "build the digits CNN",
        "conv 3x3 32 -> ReLU -> conv 3x3 64 -> ReLU -> maxpool 2 -> flatten -> dense 128 -> ReLU -> dense 10, "
        "no softmax",
        digits_cnn,
    ),
    Exercise(
        "03.5",
        "initialise like the twin",
        "per weight layer: fan_in = kh·kw·in (in for a dense), fan_out = kh·kw·out; draw the kernel uniform in "
        "the twin's bound; the bias: zeros (Keras) or the same bound (PyTorch)",
        twin_init,
    ),
]
