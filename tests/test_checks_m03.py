"""Module 03's checks pass right answers, report stubs as unsolved, and name what each wrong answer
gets wrong (in both frameworks): a missing transpose, a wrong flatten order, a count without biases."""

import numpy as np

from helpers import checks_tests


def count(c1, c2, hidden, classes, size, biases=True, spatial=None):
    spatial = ((size - 4) // 2) ** 2 if spatial is None else spatial(size)
    weights = 9 * c1 + 9 * c1 * c2 + spatial * c2 * hidden + hidden * classes
    return weights + (c1 + c2 + hidden + classes if biases else 0)


def reorder(kernel, order_from, order_to, c, h, w):
    axes = {"chw": (c, h, w), "hwc": (h, w, c), "whc": (w, h, c)}
    cube = kernel.reshape(*axes[order_from], -1)
    perm = [order_from.index(a) for a in order_to] + [3]
    return cube.transpose(perm).reshape(c * h * w, -1)


COMMON_WRONG = [
    ("03.1", lambda *a: count(*a, biases=False), "forgets the biases"),
    ("03.1", lambda *a: count(*a, spatial=lambda s: (s - 4) ** 2), "ignores the 2x2 max pooling"),
    ("03.1", lambda *a: count(*a, spatial=lambda s: (s // 2) ** 2), "'same' padding"),
    ("03.1", lambda *a: float(count(*a)), "expected an int"),
]


def answers_torch(torch):
    nn = torch.nn

    def linear(kernel, bias, transpose=True, with_bias=True):
        layer = nn.Linear(*kernel.shape)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(kernel.T.copy() if transpose else kernel.copy()))
            layer.bias.copy_(torch.from_numpy(bias) if with_bias else torch.zeros(len(bias)))
        return layer

    class CNN(nn.Module):
        def __init__(self, pool=True, softmax=False, relu2=True):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
            self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
            self.fc1, self.fc2 = nn.Linear(256 if pool else 1024, 128), nn.Linear(128, 10)
            self.softmax, self.relu2 = softmax, relu2

        def forward(self, x):
            x = torch.relu(self.conv1(x))
            x = self.conv2(x)
            x = self.pool(torch.relu(x) if self.relu2 else x)
            x = self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))
            return torch.softmax(x, 1) if self.softmax else x

    def keras_like(model, zero_bias=True, init=None):
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                (init or nn.init.xavier_uniform_)(m.weight)
                if zero_bias:
                    nn.init.zeros_(m.bias)

    def copy_then_init(model):
        import copy

        keras_like(copy.deepcopy(model))

    right = {
        "03.1": count,
        "03.2": linear,
        "03.3": lambda k, c, h, w: reorder(k, "hwc", "chw", c, h, w).T,
        "03.4": CNN,
        "03.5": keras_like,
    }
    wrong = [
        *COMMON_WRONG,
        ("03.2", lambda k, b: linear(k, b, transpose=False), "a transpose is missing"),
        ("03.2", lambda k, b: linear(k, b, with_bias=False), "lack the bias"),
        ("03.2", lambda k, b: torch.from_numpy(k), "expected an nn.Linear"),
        ("03.2", lambda k, b: None, "did you forget to `return` the layer"),
        ("03.3", lambda k, c, h, w: k.T, "left the rows in the other framework's flatten order"),
        ("03.3", lambda k, c, h, w: reorder(k, "hwc", "chw", c, h, w), "a missing transpose?"),
        ("03.3", lambda k, c, h, w: reorder(k, "whc", "chw", c, h, w).T, "order"),
        ("03.4", lambda: CNN(pool=False), "165,002"),
        ("03.4", lambda: CNN(softmax=True), "the outputs are probabilities"),
        ("03.4", lambda: CNN(relu2=False), "the outputs differ from the reference"),
        ("03.5", lambda m: keras_like(m, zero_bias=False), "Keras starts biases at zero"),
        ("03.5", lambda m: keras_like(m, init=nn.init.kaiming_uniform_), "(fan_out counts too"),
        ("03.5", lambda m: keras_like(m, init=nn.init.xavier_normal_), "a normal distribution?"),
        ("03.5", copy_then_init, "still holds its old kernel"),
    ]
    return right, wrong


def answers_tf(keras):
    layers = keras.layers

    def dense(weight, bias, transpose=True):
        layer = layers.Dense(weight.shape[0])
        layer.build((None, weight.shape[1]))
        layer.set_weights([weight.T if transpose else weight, bias])
        return layer

    def cnn(pool=True, softmax=False, padding="valid"):
        return keras.Sequential([
            keras.Input((8, 8, 1)), layers.Conv2D(32, 3, activation="relu", padding=padding),
            layers.Conv2D(64, 3, activation="relu", padding=padding), *([layers.MaxPooling2D(2)] if pool else []),
            layers.Flatten(), layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax" if softmax else None),
        ])  # fmt: skip

    def torch_like(model, glorot=False, biases=True):
        for layer in model.layers:
            if layer.weights:
                shape = layer.kernel.shape
                fan_in, fan_out = int(np.prod(shape[:-1])), int(np.prod(shape[:-2])) * shape[-1]
                bound = np.sqrt(6 / (fan_in + fan_out)) if glorot else 1 / np.sqrt(fan_in)
                rng = np.random.default_rng(0)
                layer.kernel.assign(rng.uniform(-bound, bound, shape))
                layer.bias.assign(
                    rng.uniform(-bound, bound, layer.bias.shape) if biases else np.zeros(layer.bias.shape)
                )

    right = {
        "03.1": count,
        "03.2": dense,
        "03.3": lambda wt, c, h, w: reorder(wt.T, "chw", "hwc", c, h, w),
        "03.4": cnn,
        "03.5": torch_like,
    }
    wrong = [
        *COMMON_WRONG,
        ("03.2", lambda wt, b: dense(wt, b, transpose=False), "a transpose is missing"),
        ("03.2", lambda wt, b: np.zeros(3), "expected a keras.layers.Dense"),
        ("03.3", lambda wt, c, h, w: wt.T, "left the rows in the other framework's flatten order"),
        ("03.3", lambda wt, c, h, w: reorder(wt.T, "chw", "whc", c, h, w), "order"),
        ("03.4", lambda: cnn(pool=False), "165,002"),
        ("03.4", lambda: cnn(padding="same"), "559,626"),
        ("03.4", lambda: cnn(softmax=True), "the outputs are probabilities"),
        ("03.5", lambda m: torch_like(m, biases=False), "PyTorch draws biases"),
        ("03.5", lambda m: torch_like(m, glorot=True), "largest |weight|"),
        ("03.5", lambda m: None, "still holds its old kernel"),
    ]
    return right, wrong


test_right_answers_pass_and_stubs_are_unsolved, test_wrong_answers_get_a_sentence_naming_the_mistake = checks_tests(
    {"torch": answers_torch, "keras": answers_tf}, {}, count=5
)
