"""Each exercise check passes a right answer, reports a stub as unsolved, and names what a wrong answer gets wrong."""

import json

import pytest

from coursekit.checks import CheckFailed, checker


def stub(*args):
    raise NotImplementedError("replace this line with your code")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def right_answers_torch(torch):
    class Clip(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, limit):
            ctx.limit = limit
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g.clamp(-ctx.limit, ctx.limit), None

    def sigmoid_grad(x):
        x = x.detach().clone().requires_grad_(True)
        torch.sigmoid(x).sum().backward()
        return x.grad

    def second(f, x):
        x = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
        return torch.autograd.grad(g.sum(), x)[0]

    return {
        "01.1": lambda x: (x - x.mean(0)) / x.std(0, correction=0),
        "01.2": lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1),
        "01.3": sigmoid_grad,
        "01.4": second,
        "01.5": lambda x: x + (torch.round(x) - x).detach(),
        "01.6": lambda x, limit: Clip.apply(x, limit),
    }


def wrong_answers_torch(torch):
    def first_only(f, x):
        x = x.detach().clone().requires_grad_(True)
        return torch.autograd.grad(f(x).sum(), x)[0]

    def in_place(x):
        x -= x.mean(0)
        return x / x.std(0, correction=0)

    return [
        ("01.1", lambda x: (x - x.mean(0)) / x.std(0), "sample standard deviation (n − 1, torch.std's default)"),
        ("01.1", lambda x: (x - x.mean(1, keepdim=True)) / x.std(1, correction=0, keepdim=True), "standardized each row"),
        ("01.1", in_place, "changed its input in place"),
        ("01.1", lambda x: None, "the result is None: did you forget to `return` it?"),
        ("01.2", lambda a, b: ((b[:, None] - a[None]) ** 2).sum(-1), "got (6, 4): the result is transposed"),
        ("01.2", lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1).sqrt(), "these are distances"),
        ("01.2", lambda a, b: a @ b, "raised RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
        ("01.2", lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1).numpy(), "should be a pytorch tensor, got ndarray"),
        ("01.3", lambda x: 2 * torch.sigmoid(x) * (1 - torch.sigmoid(x)), "off by a factor of 2 at every x"),
        ("01.3", torch.sigmoid, "the sigmoid's values, not its derivative"),
        ("01.3", lambda x: torch.sigmoid(x)[:3], "expected the result of shape (7,), got (3,)"),
        ("01.4", first_only, "you returned the first derivative f'(x)"),
        ("01.5", torch.round, "the gradient is zero everywhere"),
        ("01.5", lambda x: torch.round(x).detach(), "no gradient can flow back to x"),
        ("01.5", lambda x: x * 1.0, "the forward value (it should be round(x)) is off at x = -1.7"),
        ("01.6", lambda x, limit: x * 1.0, "the gradient is not clipped"),
        ("01.6", lambda x, limit: x.clamp(-limit, limit), "should return x unchanged"),
    ]


def test_right_answers_pass_and_stubs_are_unsolved_in_pytorch(torch, tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("COURSEKIT_CHECK_LOG", str(log))
    check = checker("pytorch")
    for exercise, answer in right_answers_torch(torch).items():
        assert check(exercise, answer).status == "passed", exercise
        assert check(exercise, stub).status == "unsolved", exercise
    statuses = [json.loads(line)["status"] for line in log.read_text().splitlines()]
    assert statuses == ["passed", "unsolved"] * 6
    assert "0 of 6 solved" in str(check.summary())


@pytest.mark.parametrize("case", range(17))
def test_wrong_pytorch_answers_get_a_sentence_saying_what_is_wrong(torch, case):
    exercise, answer, message = wrong_answers_torch(torch)[case]
    with pytest.raises(CheckFailed) as failed:
        checker("pytorch")(exercise, answer)
    assert message in str(failed.value), str(failed.value)
    assert "Hint:" in str(failed.value)


def answers_tf(tf):
    def sigmoid_grad(x, scale=1.0):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.sigmoid(x)
        return scale * tape.gradient(y, x)

    def derivatives(f, x, order):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = f(x)
            first = inner.gradient(y, x)
        return first if order == 1 else outer.gradient(first, x)

    def clip(x, limit, clip_grad=True):
        @tf.custom_gradient
        def ident(x):
            return tf.identity(x), (lambda g: tf.clip_by_value(g, -limit, limit) if clip_grad else g)
        return ident(x)

    right = {
        "01.1": lambda x: (x - tf.reduce_mean(x, 0)) / tf.math.reduce_std(x, 0),
        "01.2": lambda a, b: tf.reduce_sum((a[:, None] - b[None]) ** 2, -1),
        "01.3": sigmoid_grad,
        "01.4": lambda f, x: derivatives(f, x, 2),
        "01.5": lambda x: x + tf.stop_gradient(tf.round(x) - x),
        "01.6": clip,
    }
    wrong = [
        ("01.1", lambda x: x - tf.reduce_mean(x, 0), "did not divide by their standard deviation"),
        ("01.2", lambda a, b: tf.transpose(right["01.2"](a, b)), "the result is transposed"),
        ("01.3", lambda x: sigmoid_grad(x, 0.5), "off by a factor of 0.5 at every x"),
        ("01.4", lambda f, x: derivatives(f, x, 1), "you returned the first derivative"),
        ("01.5", tf.round, "the gradient is zero everywhere"),
        ("01.6", lambda x, limit: clip(x, limit, clip_grad=False), "the gradient is not clipped"),
        ("01.6", lambda x, limit: clip(x, 1.0), "the gradient with limit = 0.3 is off"),
    ]
    return right, wrong


def test_tensorflow_checks_pass_right_answers_fail_wrong_ones_and_see_stubs(tf):
    right, wrong = answers_tf(tf)
    check = checker("tf")
    for exercise, answer in right.items():
        assert check(exercise, answer).status == "passed", exercise
        assert check(exercise, stub).status == "unsolved", exercise
    for exercise, answer, message in wrong:
        with pytest.raises(CheckFailed, match=message):
            check(exercise, answer)


def test_failures_render_without_a_traceback_and_unknown_ids_are_named():
    failed = CheckFailed("✗ 01.2 pairwise squared distances: transposed\n  Hint: ...")
    assert failed._render_traceback_() == ["\x1b[31m✗ 01.2 pairwise squared distances: transposed\x1b[0m",
                                           "\x1b[31m  Hint: ...\x1b[0m"]
    with pytest.raises(ValueError, match=r"unknown exercise '1.2': expected one of 01.1, 01.2"):
        checker("pytorch")("1.2", stub)
    with pytest.raises(ValueError, match="unknown framework 'jax'"):
        checker("jax")
