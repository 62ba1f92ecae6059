"""Move weights between a PyTorch module and a Keras model, and compare two models' outputs.

Weights travel through a framework-neutral *canonical* form: an ordered dict of NumPy arrays named
``"<index>.<kind>.<param>"`` (``"0.conv2d.kernel"``, ``"2.dense.bias"``), one entry per array of each
weight layer, in the order the layers were created. The canonical layouts are channels-last:

- dense (``nn.Linear`` / ``keras.layers.Dense``): ``kernel`` (in, out), ``bias`` (out,); torch stores
  ``weight`` (out, in), so it is transposed;
- conv2d (``nn.Conv2d`` / ``keras.layers.Conv2D``): ``kernel`` (kh, kw, in, out) = HWIO; torch
  stores OIHW;
- batchnorm (``nn.BatchNorm1d/2d`` / ``keras.layers.BatchNormalization``): ``gamma``, ``beta``,
  ``mean``, ``var`` (the running statistics) and ``epsilon`` (a 0-d array, checked on load);
- the first dense layer after a flattened feature map reads its inputs in (H, W, C) order, Keras'
  order. torch flattens (C, H, W), so its rows are permuted. The torch side must know the feature
  map's shape for that: give ``example=`` (a batch of inputs, run once with hooks to find it) or
  ``feature_map=(channels, height, width)``.

So ``to_numpy`` / ``load_numpy`` let one notebook save or load weights that the twin, in the other
framework, can use without importing it; ``copy_weights`` does both at once where both are installed.
``compare`` reports how far two outputs are apart; ``compare_models`` runs two models on one input.
Importing this module imports neither framework (coursekit.frameworks.require does, when needed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coursekit import validate
from coursekit.frameworks import require

KINDS = ("dense", "conv2d", "batchnorm")
# The canonical arrays of each kind, in order; a layer without bias (or an unscaled BatchNorm) omits some.
PARAMS = {
    "dense": ("kernel", "bias"),
    "conv2d": ("kernel", "bias"),
    "batchnorm": ("gamma", "beta", "mean", "var", "epsilon"),
}


class ParityError(ValueError):
    """Two models' weights do not fit each other (or a model holds a layer parity cannot move)."""


@dataclass
class Layer:
    """One weight layer in canonical form: its kind, the framework's own description, its arrays."""

    kind: str
    name: str  # e.g. "torch Linear 'fc1'" or "Keras Dense 'dense_1'": what error messages show
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    feature_map: tuple[int, int, int] | None = None  # (C, H, W) flattened into this dense layer, if any

    def shapes(self) -> str:
        return ", ".join(f"{k} {tuple(v.shape)}" for k, v in self.arrays.items() if k != "epsilon")


# ---- layout conversions: one small function each, so a test can break one on purpose ----------------


def linear_to_canonical(weight: np.ndarray) -> np.ndarray:
    """torch Linear weight (out, in) -> canonical kernel (in, out)."""
    return weight.T


def canonical_to_linear(kernel: np.ndarray) -> np.ndarray:
    """Canonical kernel (in, out) -> torch Linear weight (out, in)."""
    return kernel.T


def conv_to_canonical(weight: np.ndarray) -> np.ndarray:
    """torch Conv2d weight OIHW -> canonical kernel HWIO."""
    return weight.transpose(2, 3, 1, 0)


def canonical_to_conv(kernel: np.ndarray) -> np.ndarray:
    """Canonical kernel HWIO -> torch Conv2d weight OIHW."""
    return kernel.transpose(3, 2, 0, 1)


def chw_rows_to_hwc(kernel: np.ndarray, feature_map: tuple[int, int, int]) -> np.ndarray:
    """Reorder a kernel's input rows from torch's (C, H, W) flatten order to Keras' (H, W, C)."""
    c, h, w = feature_map
    return kernel.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(c * h * w, -1)


def hwc_rows_to_chw(kernel: np.ndarray, feature_map: tuple[int, int, int]) -> np.ndarray:
    """Reorder a kernel's input rows from Keras' (H, W, C) flatten order to torch's (C, H, W)."""
    c, h, w = feature_map
    return kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)


# ---- which framework a model belongs to -----------------------------------------------------------


def framework_of(model: Any) -> str:
    """'torch' for an nn.Module, 'tensorflow' for a Keras model or layer; WrongType for anything else."""
    for cls in type(model).__mro__:
        root = cls.__module__.split(".")[0]
        if root == "torch":
            return "torch"
        if root in ("keras", "tf_keras", "tensorflow"):
            return "tensorflow"
    raise validate.WrongType(
        f"expected a torch nn.Module or a Keras model, got {validate.show(model)} ({validate.a_type(model)})"
    )


def _feature_map(value: Any) -> tuple[int, int, int] | None:
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise validate.WrongType(
            f"feature_map must be (channels, height, width), three positive integers, got {validate.show(value)}"
        )
    c, h, w = (validate.integer("feature_map", v, minimum=1) for v in value)
    return c, h, w


# ---- torch --------------------------------------------------------------------------------------------


def _torch_layers(model: Any) -> list[tuple[str, Any, str]]:
    """(kind, module, description) of every weight layer, in creation order; ParityError for others."""
    nn = require("torch").nn
    found = []
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        label = f"torch {type(module).__name__} {name or '(model)'!r}"
        if isinstance(module, nn.Linear):
            found.append(("dense", module, label))
        elif isinstance(module, nn.Conv2d):
            if module.groups != 1 or module.padding_mode != "zeros":
                raise ParityError(f"{label}: grouped convolutions and non-zero padding modes are not supported")
            found.append(("conv2d", module, label))
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if module.running_mean is None:
                raise ParityError(f"{label} keeps no running statistics (track_running_stats=False)")
            found.append(("batchnorm", module, label))
        elif own:
            raise ParityError(
                f"{label} has weights, but parity moves only Linear, Conv2d and BatchNorm layers; "
                "copy this layer by hand"
            )
    return found


def _torch_feature_maps(model: Any, example: Any, feature_map: tuple[int, int, int] | None) -> dict[int, tuple]:
    """{id(linear): (C, H, W)} for each Linear that reads a flattened 4-D feature map."""
    torch = require("torch")
    linears = [m for kind, m, _ in _torch_layers(model) if kind == "dense"]
    has_conv = any(kind == "conv2d" for kind, _, _ in _torch_layers(model))
    if feature_map is not None:
        c, h, w = feature_map
        first = next((m for m in linears if m.in_features == c * h * w), None)
        if first is None:
            raise ParityError(
                f"feature_map {feature_map} flattens to {c * h * w} values, but no torch Linear has that many "
                f"inputs ({', '.join(str(m.in_features) for m in linears) or 'no Linear at all'})"
            )
        return {id(first): feature_map}
    if example is None:
        if has_conv and linears:
            raise ParityError(
                "the torch model has convolutions followed by Linear layers: parity must know the shape of the "
                "feature map that is flattened, to reorder the first Linear's inputs from (C, H, W) to (H, W, C). "
                "Pass example=<a batch of inputs> or feature_map=(channels, height, width)"
            )
        return {}
    x = example if isinstance(example, torch.Tensor) else torch.as_tensor(np.asarray(example, dtype=np.float32))
    seen: list[tuple[Any, tuple[int, ...]]] = []
    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen.append((mod, tuple(out.shape)))) for m in leaves]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    maps: dict[int, tuple] = {}
    last_map: tuple[int, ...] | None = None
    for module, shape in seen:
        if isinstance(module, torch.nn.Linear):
            if last_map is not None and int(np.prod(last_map)) == module.in_features and np.prod(last_map[1:]) > 1:
                maps.setdefault(id(module), last_map)
            last_map = None
        elif len(shape) == 4:
            last_map = shape[1:]
    return maps


def _torch_to_layers(model: Any, example: Any, feature_map: tuple[int, int, int] | None) -> list[Layer]:
    maps = _torch_feature_maps(model, example, feature_map)
    layers = []
    for kind, m, label in _torch_layers(model):
        get = lambda t: t.detach().cpu().numpy().astype(np.float32)  # noqa: E731
        arrays: dict[str, np.ndarray] = {}
        fmap = maps.get(id(m))
        if kind == "dense":
            arrays["kernel"] = linear_to_canonical(get(m.weight))
            if fmap is not None:
                arrays["kernel"] = chw_rows_to_hwc(arrays["kernel"], fmap)
        elif kind == "conv2d":
            arrays["kernel"] = conv_to_canonical(get(m.weight))
        if kind in ("dense", "conv2d") and m.bias is not None:
            arrays["bias"] = get(m.bias)
        if kind == "batchnorm":
            if m.weight is not None:
                arrays["gamma"], arrays["beta"] = get(m.weight), get(m.bias)
            arrays["mean"], arrays["var"] = get(m.running_mean), get(m.running_var)
            arrays["epsilon"] = np.asarray(m.eps, dtype=np.float64)
        layers.append(Layer(kind, label, arrays, fmap))
    return layers


def _torch_load(model: Any, layers: list[Layer], example: Any, feature_map: tuple[int, int, int] | None) -> None:
    torch = require("torch")
    targets = _torch_layers(model)
    _same_count(layers, [label for _, _, label in targets])
    maps = _torch_feature_maps(model, example, feature_map)
    planned: list[tuple[Any, np.ndarray]] = []
    for src, (kind, m, label) in zip(layers, targets, strict=True):
        mine: dict[str, tuple[Any, Any]] = {}  # canonical name -> (torch tensor, array to copy; None if absent)
        if kind == "dense":
            kernel = src.arrays.get("kernel")
            if kernel is not None and kernel.ndim == 2 and id(m) in maps:
                c, h, w = maps[id(m)]
                if kernel.shape[0] == c * h * w:
                    kernel = hwc_rows_to_chw(kernel, maps[id(m)])
            mine["kernel"] = (m.weight, None if kernel is None else canonical_to_linear(kernel))
        elif kind == "conv2d":
            kernel = src.arrays.get("kernel")
            mine["kernel"] = (m.weight, kernel if kernel is None or kernel.ndim != 4 else canonical_to_conv(kernel))
        if kind in ("dense", "conv2d") and m.bias is not None:
            mine["bias"] = (m.bias, src.arrays.get("bias"))
        if kind == "batchnorm":
            if m.weight is not None:
                mine["gamma"], mine["beta"] = (m.weight, src.arrays.get("gamma")), (m.bias, src.arrays.get("beta"))
            mine["mean"], mine["var"] = (m.running_mean, src.arrays.get("mean")), (m.running_var, src.arrays.get("var"))
            _same_epsilon(src, label, m.eps)
        _fit(src, kind, label, {k: (tuple(t.shape), v) for k, (t, v) in mine.items()})
        planned += [(t, v) for t, v in mine.values()]
    with torch.no_grad():  # only once every layer fits: a failed load changes nothing
        for tensor, value in planned:
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(tensor.dtype))


# ---- Keras --------------------------------------------------------------------------------------------


def _keras_layers(model: Any) -> list[tuple[str, Any, str]]:
    """(kind, layer, description) of every weight layer, in creation order; ParityError for others."""
    require("tensorflow")
    import keras

    found: list[tuple[str, Any, str]] = []

    def walk(layer: Any) -> None:
        label = f"Keras {type(layer).__name__} {layer.name!r}"
        if isinstance(layer, keras.layers.Dense):
            found.append(("dense", layer, label))
        elif isinstance(layer, keras.layers.Conv2D):
            if layer.data_format != "channels_last" or layer.groups != 1:
                raise ParityError(f"{label}: only channels_last, ungrouped convolutions are supported")
            found.append(("conv2d", layer, label))
        elif isinstance(layer, keras.layers.BatchNormalization):
            found.append(("batchnorm", layer, label))
        elif isinstance(layer, keras.Model):  # Sequential, Functional, subclassed: their layers, in order
            for inner in layer.layers:
                walk(inner)
        elif layer.weights:
            raise ParityError(
                f"{label} has weights, but parity moves only Dense, Conv2D and BatchNormalization layers; "
                "copy this layer by hand"
            )

    if not isinstance(model, keras.Model):
        walk(model)
        return found
    if not model.built or not model.weights:
        raise ParityError(
            f"the Keras model {model.name!r} is not built yet, so it has no weights: call it once on a batch "
            "(or give it a keras.Input) first"
        )
    walk(model)
    return found


def _keras_to_layers(model: Any) -> list[Layer]:
    layers = []
    for kind, layer, label in _keras_layers(model):
        get = lambda v: np.asarray(v.numpy(), dtype=np.float32)  # noqa: E731
        arrays: dict[str, np.ndarray] = {}
        if kind in ("dense", "conv2d"):
            arrays["kernel"] = get(layer.kernel)
            if layer.use_bias:
                arrays["bias"] = get(layer.bias)
        else:
            if layer.scale:
                arrays["gamma"] = get(layer.gamma)
            if layer.center:
                arrays["beta"] = get(layer.beta)
            arrays["mean"], arrays["var"] = get(layer.moving_mean), get(layer.moving_variance)
            arrays["epsilon"] = np.asarray(layer.epsilon, dtype=np.float64)
        layers.append(Layer(kind, label, arrays))
    return layers


def _keras_load(model: Any, layers: list[Layer]) -> None:
    targets = _keras_layers(model)
    _same_count(layers, [label for _, _, label in targets])
    planned: list[tuple[Any, np.ndarray]] = []
    for src, (kind, layer, label) in zip(layers, targets, strict=True):
        mine: dict[str, tuple[Any, Any]] = {}
        if kind in ("dense", "conv2d"):
            mine["kernel"] = (layer.kernel, src.arrays.get("kernel"))
            if layer.use_bias:
                mine["bias"] = (layer.bias, src.arrays.get("bias"))
        else:
            if layer.scale:
                mine["gamma"] = (layer.gamma, src.arrays.get("gamma"))
            if layer.center:
                mine["beta"] = (layer.beta, src.arrays.get("beta"))
            mine["mean"] = (layer.moving_mean, src.arrays.get("mean"))
            mine["var"] = (layer.moving_variance, src.arrays.get("var"))
            _same_epsilon(src, label, layer.epsilon)
        _fit(src, kind, label, {k: (tuple(v.shape), a) for k, (v, a) in mine.items()})
        planned += list(mine.values())
    for variable, value in planned:
        variable.assign(np.asarray(value, dtype=np.float32))


# ---- shared checks ------------------------------------------------------------------------------------


def _same_count(layers: list[Layer], targets: list[str]) -> None:
    if len(layers) != len(targets):
        raise ParityError(
            f"the source has {len(layers)} weight layers ({', '.join(lay.name for lay in layers) or 'none'}) "
            f"but the destination has {len(targets)} ({', '.join(targets) or 'none'}): the architectures differ"
        )


def _same_epsilon(src: Layer, label: str, eps: float) -> None:
    theirs = src.arrays.get("epsilon")
    if theirs is not None and not np.isclose(float(theirs), eps, rtol=1e-6, atol=0):
        raise ParityError(
            f"{src.name} normalises with epsilon {float(theirs):g} but {label} with {eps:g}: outputs would differ; "
            "build one with the other's epsilon (torch's default is 1e-5, Keras' 1e-3)"
        )


def _fit(src: Layer, kind: str, label: str, mine: Mapping[str, tuple[tuple[int, ...], Any]]) -> None:
    """ParityError naming both layers and both shapes unless src holds exactly the arrays `mine` needs."""
    if src.kind != kind:
        raise ParityError(f"{src.name} ({src.kind}: {src.shapes()}) cannot go into {label} (a {kind} layer)")
    wanted = {k for k in mine}
    given = {k for k in src.arrays if k != "epsilon"}
    if wanted != given:
        raise ParityError(
            f"{src.name} holds {', '.join(sorted(given))} but {label} needs {', '.join(sorted(wanted))} "
            "(a bias or BatchNorm scale/centre on one side only?)"
        )
    for key, (shape, value) in mine.items():
        if tuple(value.shape) != shape:
            theirs = tuple(src.arrays[key].shape)
            becomes = f", {tuple(value.shape)} in {label}'s layout" if tuple(value.shape) != theirs else ""
            raise ParityError(
                f"{src.name} does not fit {label}: {src.name}'s {key} is {theirs} in canonical layout{becomes}, "
                f"but {label} holds {shape} (source layer: {src.shapes()})"
            )


# ---- public API -----------------------------------------------------------------------------------------


def _layers(model: Any, example: Any, feature_map: Any) -> list[Layer]:
    fw = framework_of(model)
    if fw == "torch":
        return _torch_to_layers(model, example, _feature_map(feature_map))
    return _keras_to_layers(model)


def _load_layers(model: Any, layers: list[Layer], example: Any, feature_map: Any) -> None:
    if framework_of(model) == "torch":
        _torch_load(model, layers, example, _feature_map(feature_map))
    else:
        _keras_load(model, layers)


def to_numpy(model: Any, *, example: Any = None, feature_map: Any = None) -> dict[str, np.ndarray]:
    """The model's weights in canonical layout: {"<index>.<kind>.<param>": array}, in layer order.

    For a torch model whose convolutions feed a Linear, give `example` (a batch of inputs in torch's
    NCHW layout, run once) or `feature_map=(channels, height, width)`: see the module docstring.
    """
    out: dict[str, np.ndarray] = {}
    for i, layer in enumerate(_layers(model, example, feature_map)):
        for key, value in layer.arrays.items():
            out[f"{i}.{layer.kind}.{key}"] = value
    return out


def _from_arrays(arrays: Mapping[str, Any]) -> list[Layer]:
    arrays = validate.mapping("arrays", arrays, example="parity.to_numpy(model)")
    layers: dict[int, Layer] = {}
    for name, value in arrays.items():
        parts = name.split(".") if isinstance(name, str) else []
        if len(parts) != 3 or not parts[0].isdigit() or parts[1] not in KINDS or parts[2] not in PARAMS[parts[1]]:
            raise ValueError(
                f"unknown canonical name {validate.show(name)}: expected '<index>.<kind>.<param>' with kind one of "
                f"{', '.join(KINDS)} (e.g. '0.dense.kernel'), as parity.to_numpy writes them"
            )
        index, kind, key = int(parts[0]), parts[1], parts[2]
        layer = layers.setdefault(index, Layer(kind, f"canonical layer {index} ({kind})"))
        if layer.kind != kind:
            raise ValueError(f"canonical layer {index} is named both {layer.kind} and {kind}")
        layer.arrays[key] = np.asarray(value)
    if sorted(layers) != list(range(len(layers))):
        raise ValueError(f"canonical layer indices must run 0, 1, 2, ... without gaps, got {sorted(layers)}")
    return [layers[i] for i in range(len(layers))]


def load_numpy(model: Any, arrays: Mapping[str, Any], *, example: Any = None, feature_map: Any = None) -> None:
    """Load canonical arrays (from `to_numpy` of either framework, or `np.load` of a saved .npz) into model.

    Nothing changes unless every layer fits; a misfit raises ParityError naming both layers and shapes.
    """
    _load_layers(model, _from_arrays(arrays), example, feature_map)


def copy_weights(source: Any, destination: Any, *, example: Any = None, feature_map: Any = None) -> None:
    """Copy every weight layer of source into destination (torch -> Keras or Keras -> torch, or same-to-same).

    example / feature_map describe the torch side's flattened feature map (see `to_numpy`); `example`
    is a batch in the torch model's NCHW layout.
    """
    layers = _layers(source, example if framework_of(source) == "torch" else None, feature_map)
    _load_layers(destination, layers, example if framework_of(destination) == "torch" else None, feature_map)


def random_weights(template: Mapping[str, Any], seed: int = 0) -> dict[str, np.ndarray]:
    """Canonical arrays shaped like `template`, drawn from a seeded NumPy generator: the same in both twins.

    Kernels ~ U(-sqrt(6 / fan_in), +sqrt(6 / fan_in)) (He uniform); biases and BatchNorm shifts
    ~ U(-0.1, 0.1) (non-zero, so that a dropped bias shows); BatchNorm scales and variances ~ U(0.5, 1.5).
    """
    seed = validate.seed(seed)
    layers = _from_arrays(template)
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for i, layer in enumerate(layers):
        for key, value in layer.arrays.items():
            shape = value.shape
            if key == "epsilon":
                new = np.asarray(value)
            elif key == "kernel":
                limit = np.sqrt(6.0 / int(np.prod(shape[:-1])))
                new = rng.uniform(-limit, limit, shape)
            elif key in ("gamma", "var"):
                new = rng.uniform(0.5, 1.5, shape)
            else:
                new = rng.uniform(-0.1, 0.1, shape)
            out[f"{i}.{layer.kind}.{key}"] = new.astype(np.float32) if key != "epsilon" else new
    return out


@dataclass(frozen=True)
class Comparison:
    """How far two outputs are apart: the largest absolute and relative differences, and where the
    first value lies outside |a - b| <= atol + rtol * |b| (row-major order), if any does."""

    names: tuple[str, str]
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    first_index: tuple[int, ...] | None
    first_values: tuple[float, float] | None
    n_bad: int
    atol: float
    rtol: float

    @property
    def ok(self) -> bool:
        """True when every value is within tolerance."""
        return self.n_bad == 0

    def __str__(self) -> str:
        a, b = self.names
        size = int(np.prod(self.shape)) if self.shape else 1
        head = (
            f"{a} vs {b}, shape {self.shape}: max |diff| {self.max_abs:.3g}, max relative diff {self.max_rel:.3g} "
            f"(tolerance: atol {self.atol:g} + rtol {self.rtol:g} × |{b}|)"
        )
        if self.ok:
            return f"{head}: all {size} values agree"
        va, vb = self.first_values or (float("nan"), float("nan"))
        values = f"{a} {va:.6g}, {b} {vb:.6g}"
        if not self.shape:  # a scalar, such as a loss: no position to name
            return f"{head}: {values}"
        where = ", ".join(str(i) for i in self.first_index or ())
        return f"{head}: {self.n_bad} of {size} values differ; the first at [{where}]: {values}"

    def assert_ok(self) -> None:
        """Raise AssertionError with the report when any value is outside tolerance."""
        if not self.ok:
            raise AssertionError(str(self))


def _as_array(value: Any, what: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy"):
        value = value.numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise validate.WrongType(f"{what} must be an array or tensor of numbers, got {validate.show(value)}") from None
    return array


def compare(a: Any, b: Any, *, atol: float = 1e-5, rtol: float = 1e-4, names: Sequence[str] = ("a", "b")) -> Comparison:
    """Compare two arrays or tensors of the same shape (b is the reference for the relative tolerance)."""
    x, y = _as_array(a, "a"), _as_array(b, "b")
    atol = validate.number("atol", atol, minimum=0.0)
    rtol = validate.number("rtol", rtol, minimum=0.0)
    names = validate.names("names", names)
    if len(names) != 2:
        raise ValueError(f"names must be two labels, e.g. ('PyTorch', 'Keras'), got {names!r}")
    if x.shape != y.shape:
        raise ParityError(
            f"{names[0]} has shape {x.shape} but {names[1]} has shape {y.shape}: compare outputs of the same shape "
            "(a (batch, features) output against a (features, batch) one is a transpose away)"
        )
    diff = np.abs(x - y)
    bad = ~(diff <= atol + rtol * np.abs(y))  # NaN counts as a difference
    scale = np.maximum(np.abs(x), np.abs(y))
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.any() else None
    return Comparison(
        names=(names[0], names[1]),
        shape=tuple(x.shape),
        max_abs=float(diff.max()) if diff.size else 0.0,  # NaN where any value is NaN
        max_rel=float(rel.max()) if rel.size else 0.0,
        first_index=first,
        first_values=(float(x[first]), float(y[first])) if first is not None else None,
        n_bad=int(bad.sum()),
        atol=atol,
        rtol=rtol,
    )


def predict(model: Any, x: Any) -> np.ndarray:
    """The model's outputs on x in inference mode, as NumPy; x is NumPy in channels-last (N, H, W, C)
    layout for images, which a torch model gets transposed to NCHW."""
    array = np.asarray(_as_array(x, "x"), dtype=np.float32)
    if framework_of(model) == "torch":
        torch = require("torch")
        if array.ndim == 4:
            array = array.transpose(0, 3, 1, 2)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                device = next(model.parameters()).device
                return model(torch.from_numpy(np.ascontiguousarray(array)).to(device)).cpu().numpy()
        finally:
            model.train(was_training)
    return np.asarray(model(array, training=False))


def compare_models(a: Any, b: Any, x: Any, *, atol: float = 1e-5, rtol: float = 1e-4) -> Comparison:
    """Run two models (either framework) on the same input x (channels-last for images) and compare."""
    names = [f"{'PyTorch' if framework_of(m) == 'torch' else 'Keras'} {type(m).__name__}" for m in (a, b)]
    if names[0] == names[1]:
        names = [names[0] + " (a)", names[1] + " (b)"]
    return compare(predict(a, x), predict(b, x), atol=atol, rtol=rtol, names=names)


def parameter_count(model: Any) -> int:
    """The number of trainable parameters (torch: requires_grad; Keras: trainable weights)."""
    if framework_of(model) == "torch":
        return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


__all__ = [
    "Comparison",
    "Layer",
    "ParityError",
    "compare",
    "compare_models",
    "copy_weights",
    "framework_of",
    "load_numpy",
    "parameter_count",
    "predict",
    "random_weights",
    "to_numpy",
]
