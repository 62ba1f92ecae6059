"""coursekit.parity: weights move between torch and Keras in both directions, the two frameworks then
agree after one optimiser step, and the agreement breaks, visibly, when one layout fix is removed.

The one-step test's tolerance: every quantity is float32 (machine epsilon 1.2e-7). The two frameworks
sum the same products in a different order (oneDNN's convolutions against torch's), so each value
carries a rounding error of a few epsilon times the size of its terms. Measured here (the digits CNN
with BatchNorm, batch 32, SGD lr 0.1): losses 1e-7 apart relative, weights at most 4e-8 apart and
BatchNorm's running variance 1e-6 (after the unbiased/biased correction below). The test asks for
1e-5 absolute + 1e-4 relative: ten times the largest measured error, and still about 2,500 times
smaller than what one missing transpose or flatten fix does to the loss (0.025 to 0.037 of 2.33,
printed by test_a_removed_fix_is_caught).
"""

from __future__ import annotations

import numpy as np
import pytest

from coursekit import parity
from coursekit.validate import WrongType
from helpers import needs, run_python

ATOL, RTOL = 1e-5, 1e-4
BATCH = 32


# ---- no framework needed ------------------------------------------------------------------------------


def test_importing_parity_imports_no_framework():
    result = run_python(
        "import sys, coursekit, coursekit.parity\n"
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_compare_reports_the_largest_differences_and_where_it_first_differs():
    a = np.zeros((2, 3))
    b = a.copy()
    b[1, 2], b[0, 1] = 0.5, 1e-7
    report = parity.compare(a, b, names=("torch", "keras"))
    assert not report.ok and report.n_bad == 1 and report.first_index == (1, 2)
    assert report.max_abs == pytest.approx(0.5) and report.max_rel == pytest.approx(1.0)
    text = str(report)
    assert "1 of 6 values differ" in text and "[1, 2]" in text and "torch 0, keras 0.5" in text
    with pytest.raises(AssertionError, match="1 of 6 values differ"):
        report.assert_ok()
    same = parity.compare(a, a + 1e-7)
    assert same.ok and "all 6 values agree" in str(same)
    same.assert_ok()
    loss = str(parity.compare(2.33254, 2.35774, names=("torch loss", "Keras loss")))
    assert loss.endswith("× |Keras loss|): torch loss 2.33254, Keras loss 2.35774"), loss


def test_compare_counts_nan_as_a_difference_and_refuses_bad_input():
    assert not parity.compare([1.0, np.nan], [1.0, 1.0]).ok
    with pytest.raises(parity.ParityError, match=r"shape \(2, 3\) but b has shape \(3, 2\)"):
        parity.compare(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="atol must be a number ≥ 0"):
        parity.compare([1.0], [1.0], atol=-1)
    with pytest.raises(WrongType, match="must be an array or tensor of numbers"):
        parity.compare(["x"], [1.0])
    with pytest.raises(ValueError, match="names must be two labels"):
        parity.compare([1.0], [1.0], names=("one",))


def test_layout_conversions_invert_each_other():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(5, 12))
    assert np.array_equal(parity.canonical_to_linear(parity.linear_to_canonical(w)), w)
    k = rng.normal(size=(6, 2, 3, 3))  # OIHW
    assert parity.conv_to_canonical(k).shape == (3, 3, 2, 6)
    assert np.array_equal(parity.canonical_to_conv(parity.conv_to_canonical(k)), k)
    kernel = rng.normal(size=(2 * 3 * 4, 7))
    assert np.array_equal(parity.hwc_rows_to_chw(parity.chw_rows_to_hwc(kernel, (2, 3, 4)), (2, 3, 4)), kernel)
    # Row (c, h, w) of torch's order lands at row (h, w, c) of Keras' order.
    moved = parity.chw_rows_to_hwc(kernel, (2, 3, 4))
    assert np.array_equal(moved[(1 * 4 + 3) * 2 + 1], kernel[(1 * 3 + 1) * 4 + 3])


def test_random_weights_are_seeded_shaped_like_the_template_and_refuse_unknown_names():
    template = {"0.dense.kernel": np.zeros((4, 3)), "0.dense.bias": np.zeros(3), "1.batchnorm.epsilon": np.array(1e-5)}
    a, b = parity.random_weights(template, seed=3), parity.random_weights(template, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a) and list(a) == list(template)
    assert a["0.dense.kernel"].dtype == np.float32 and np.abs(a["0.dense.kernel"]).max() <= np.sqrt(6 / 4)
    assert not np.array_equal(a["0.dense.kernel"], parity.random_weights(template, seed=4)["0.dense.kernel"])
    with pytest.raises(ValueError, match=r"unknown canonical name 'dense.kernel'"):
        parity.random_weights({"dense.kernel": np.zeros(2)})
    with pytest.raises(ValueError, match="without gaps"):
        parity.random_weights({"1.dense.kernel": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="seed must be"):
        parity.random_weights(template, seed=-1)
    with pytest.raises(WrongType, match="arrays must be a dict"):
        parity.random_weights([np.zeros(2)])


def test_a_model_of_neither_framework_is_refused():
    with pytest.raises(WrongType, match=r"expected a torch nn.Module or a Keras model, got 'model'"):
        parity.to_numpy("model")


# ---- models, built identically in both frameworks -------------------------------------------------------


def torch_cnn(torch, batchnorm=True):
    nn = torch.nn
    norm = [nn.BatchNorm2d(64)] if batchnorm else []
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), *norm, nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip


def keras_cnn(keras, batchnorm=True):
    layers = keras.layers
    # torch's BatchNorm defaults: epsilon 1e-5, and momentum 0.1 of the new value = Keras' 0.9 of the old.
    norm = [layers.BatchNormalization(epsilon=1e-5, momentum=0.9)] if batchnorm else []
    return keras.Sequential([
        keras.Input((8, 8, 1)), layers.Conv2D(32, 3), layers.ReLU(), layers.Conv2D(64, 3), *norm, layers.ReLU(),
        layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10),
    ])  # fmt: skip


def batch(n=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 10, n)


@needs("torch")
def test_torch_round_trip_through_numpy_infers_the_feature_map_from_an_example(torch):
    torch.manual_seed(0)
    x, _ = batch(4)
    a, b = torch_cnn(torch), torch_cnn(torch)
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2))
    arrays = parity.to_numpy(a, example=nchw)
    explicit = parity.to_numpy(a, feature_map=(64, 2, 2))
    assert np.array_equal(arrays["3.dense.kernel"], explicit["3.dense.kernel"])
    parity.load_numpy(b, arrays, example=nchw)
    parity.compare_models(a, b, x, atol=0, rtol=0).assert_ok()
    # Without the flatten fix on one side only, the outputs part.
    parity.load_numpy(b, arrays, feature_map=(1, 1, 256))
    assert not parity.compare_models(a, b, x).ok
    assert (
        parity.parameter_count(a) == 53_002 + 2 * 64
    )  # the digits CNN, BatchNorm's gamma and beta (not its statistics)


@needs("torch")
def test_torch_errors_name_both_layers_and_both_shapes(torch):
    nn = torch.nn
    small = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    wide = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))
    with pytest.raises(parity.ParityError) as err:
        parity.copy_weights(small, wide)
    text = str(err.value)
    assert "torch Linear '0'" in text and "(2, 16)" in text and "(32, 2)" in text
    with pytest.raises(parity.ParityError, match=r"source has 2 weight layers .* destination has 1"):
        parity.copy_weights(small, nn.Sequential(nn.Linear(2, 1)))
    with pytest.raises(parity.ParityError, match="needs bias, kernel"):
        parity.copy_weights(nn.Sequential(nn.Linear(2, 1, bias=False)), nn.Sequential(nn.Linear(2, 1)))
    with pytest.raises(parity.ParityError, match="Pass example=<a batch of inputs> or feature_map"):
        parity.to_numpy(torch_cnn(torch))
    with pytest.raises(parity.ParityError, match="flattens to 12 values, but no torch Linear"):
        parity.to_numpy(torch_cnn(torch), feature_map=(3, 2, 2))
    with pytest.raises(WrongType, match="feature_map must be"):
        parity.to_numpy(torch_cnn(torch), feature_map=(64, 4))
    with pytest.raises(parity.ParityError, match="torch Embedding '0' has weights, but parity moves only"):
        parity.to_numpy(nn.Sequential(nn.Embedding(3, 2)))
    with pytest.raises(parity.ParityError, match="cannot go into"):
        parity.copy_weights(nn.Sequential(nn.BatchNorm1d(4)), nn.Sequential(nn.Linear(2, 2)))
    unchanged = wide[0].weight.detach().clone()
    with pytest.raises(parity.ParityError):
        parity.copy_weights(small, wide)
    assert torch.equal(wide[0].weight, unchanged), "a failed load must change nothing"


@needs("torch", "tensorflow")
@pytest.mark.parametrize("direction", ["torch->keras", "keras->torch"])
def test_the_digits_cnn_with_batchnorm_copies_in_both_directions(torch, keras, direction):
    torch.manual_seed(1)
    tm, km = torch_cnn(torch), keras_cnn(keras)
    x, _ = batch()
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2))
    with torch.no_grad():  # running statistics that are not the defaults, so that copying them matters
        tm[3].running_mean.uniform_(-0.5, 0.5)
        tm[3].running_var.uniform_(0.5, 2.0)
    before = parity.compare_models(tm, km, x)
    assert not before.ok
    if direction == "torch->keras":
        parity.copy_weights(tm, km, example=nchw)
    else:
        parity.load_numpy(km, parity.random_weights(parity.to_numpy(km), seed=5))
        parity.copy_weights(km, tm, example=nchw)
    report = parity.compare_models(tm, km, x, atol=ATOL, rtol=RTOL)
    report.assert_ok()
    assert parity.parameter_count(tm) == parity.parameter_count(km)


@needs("torch", "tensorflow")
def test_keras_errors_name_both_layers_and_both_shapes(torch, keras):
    nn = torch.nn
    tm = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    km = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    with pytest.raises(parity.ParityError) as err:
        parity.copy_weights(tm, km)
    text = str(err.value)
    assert "torch Linear '0'" in text and "Keras Dense" in text and "(2, 16)" in text and "(2, 8)" in text
    with pytest.raises(parity.ParityError, match="not built yet"):
        parity.to_numpy(keras.Sequential([keras.layers.Dense(1)]))
    with pytest.raises(parity.ParityError, match="epsilon 1e-05 but Keras BatchNormalization"):
        km_bn = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()])
        parity.copy_weights(nn.Sequential(nn.BatchNorm1d(4)), km_bn)


@needs("torch", "tensorflow")
def test_subclassed_and_functional_keras_models_are_walked_in_creation_order(torch, keras):
    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(16, activation="relu")
            self.out = keras.layers.Dense(1)

        def call(self, x):
            return self.out(self.hidden(x))

    inputs = keras.Input((2,))
    functional = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(16, activation="relu")(inputs)))
    sub = Classifier()
    sub(np.zeros((1, 2), np.float32))
    tm = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    x = np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32)
    for km in (functional, sub):
        parity.copy_weights(tm, km)
        parity.compare_models(tm, km, x).assert_ok()


# ---- one optimiser step in each framework ------------------------------------------------------------------


def one_step(torch, keras, lr=0.1):
    """Copy torch -> Keras, take one SGD step on the same batch in each; return the losses and weights."""
    tf = __import__("tensorflow")
    torch.manual_seed(2)
    tm, km = torch_cnn(torch), keras_cnn(keras)
    x, y = batch()
    nchw = torch.from_numpy(x.transpose(0, 3, 1, 2))
    parity.copy_weights(tm, km, example=nchw)

    tm.train()
    opt = torch.optim.SGD(tm.parameters(), lr=lr)
    loss_t = torch.nn.functional.cross_entropy(tm(nchw), torch.from_numpy(y))
    opt.zero_grad()
    loss_t.backward()
    opt.step()

    keras_opt = keras.optimizers.SGD(learning_rate=lr)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        loss_k = loss_fn(y, km(x, training=True))
    keras_opt.apply_gradients(zip(tape.gradient(loss_k, km.trainable_variables), km.trainable_variables, strict=True))
    return loss_t.item(), float(loss_k), parity.to_numpy(tm, feature_map=(64, 2, 2)), parity.to_numpy(km)


@needs("torch", "tensorflow")
def test_one_sgd_step_gives_the_same_loss_and_weights_in_both_frameworks(torch, keras):
    loss_t, loss_k, after_t, after_k = one_step(torch, keras)
    parity.compare(loss_t, loss_k, atol=ATOL, rtol=RTOL, names=("torch loss", "Keras loss")).assert_ok()
    assert after_t.keys() == after_k.keys()
    n = BATCH * 4 * 4  # values per channel that BatchNorm averaged over
    for key in after_t:
        if key.endswith(".var"):
            # A real difference, not a bug: torch updates running_var with the unbiased batch variance
            # (divided by n - 1), Keras with the biased one (divided by n). Undo it, then compare (here
            # the batch variance is small, so the difference, 0.1 * var / (n - 1), is below 1e-7).
            momentum, before = 0.1, np.ones_like(after_k[key])
            biased = (after_k[key] - (1 - momentum) * before) / momentum
            after_k[key] = (1 - momentum) * before + momentum * biased * n / (n - 1)
        parity.compare(
            after_t[key], after_k[key], atol=ATOL, rtol=RTOL, names=(f"torch {key}", f"Keras {key}")
        ).assert_ok()
    moved = np.abs(after_t["4.dense.kernel"] - one_step_start(torch)["4.dense.kernel"]).max()
    assert moved > 100 * ATOL, "the step must move the weights by far more than the tolerance"


def one_step_start(torch):
    torch.manual_seed(2)
    return parity.to_numpy(torch_cnn(torch), feature_map=(64, 2, 2))


BREAKS = {
    "Linear transpose": ("linear_to_canonical", lambda w: w.reshape(w.shape[::-1])),
    "Conv2d OIHW -> HWIO": ("conv_to_canonical", lambda w: w.reshape(w.shape[2], w.shape[3], w.shape[1], w.shape[0])),
    "flatten order": ("chw_rows_to_hwc", lambda kernel, feature_map: kernel),
}


@needs("torch", "tensorflow")
@pytest.mark.parametrize("broken", list(BREAKS))
def test_a_removed_fix_is_caught(torch, keras, broken, monkeypatch, capsys):
    name, replacement = BREAKS[broken]
    monkeypatch.setattr(parity, name, replacement)
    loss_t, loss_k, _, _ = one_step(torch, keras)
    report = parity.compare(loss_t, loss_k, atol=ATOL, rtol=RTOL, names=("torch loss", "Keras loss"))
    with capsys.disabled():
        print(f"\nwithout the {broken} fix: {report}")
    assert not report.ok
    assert report.max_abs > 1000 * ATOL
