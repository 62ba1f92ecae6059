"""Module 01's checks pass right answers, report stubs as unsolved, and name what each wrong answer
gets wrong (in both frameworks), including answers that get the values right by the wrong technique."""

from helpers import check_without_tensorflow, checks_tests, needs, stub

STUBS = {"01.8": (stub, stub)}


def answers_torch(torch):
    class Clip(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, limit):
            ctx.limit = limit
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g.clamp(-ctx.limit, ctx.limit), None

    class OneGradient(torch.autograd.Function):  # backward forgets the None for `limit`
        @staticmethod
        def forward(ctx, x, limit):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g

    def hooked(x, limit):
        y = x.clone()
        y.register_hook(lambda g: g.clamp(-limit, limit))
        return y

    def derivative(f, x, order=1):
        x = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
        return g if order == 1 else torch.autograd.grad(g.sum(), x)[0]

    def log_probs(logits):
        return logits - torch.logsumexp(logits, dim=1, keepdim=True)

    def safe_norm(x):
        s = (x**2).sum(1)
        return torch.where(s > 0, torch.where(s > 0, s, torch.ones_like(s)).sqrt(), torch.zeros_like(s))

    def minimize(loss_fn, x0, lr, steps, momentum, sign=1.0, fd=False):
        x, velocity, history = x0.clone().requires_grad_(True), torch.zeros_like(x0), []
        for _ in range(steps):
            loss = loss_fn(x)
            (grad,) = torch.autograd.grad(loss, x)
            if fd:
                grad = torch.stack([(loss_fn(x + 1e-3 * e) - loss) / 1e-3 for e in torch.eye(3)])
            with torch.no_grad():
                velocity = momentum * velocity + grad
                x -= sign * lr * velocity
            history.append(loss.item())
        return x.detach(), history

    def loop(a, b):
        return torch.stack([torch.stack([((p - q) ** 2).sum() for q in b]) for p in a])

    def off_at_1_2(a, b):
        out = ((a[:, None] - b[None]) ** 2).sum(-1)
        out[1, 2] += 1.0
        return out

    def in_place(x):
        x -= x.mean(0)
        return x / x.std(0, correction=0)

    h = 1e-2
    right = {
        "01.1": lambda x: (x - x.mean(0)) / x.std(0, correction=0),
        "01.2": lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1),
        "01.3": derivative,
        "01.4": lambda f, x: derivative(f, x, 2),
        "01.5": lambda x: x + (torch.round(x) - x).detach(),
        "01.6": lambda x, limit: Clip.apply(x, limit),
        "01.7": lambda logits, labels: -log_probs(logits).gather(1, labels[:, None]).squeeze(1).mean(),
        "01.8": (lambda: "B", safe_norm),
        "01.9": minimize,
    }
    wrong = [
        ("01.1", lambda x: (x - x.mean(0)) / x.std(0), "sample standard deviation (n − 1, torch.std's default)"),
        (
            "01.1",
            lambda x: (x - x.mean(1, keepdim=True)) / x.std(1, correction=0, keepdim=True),
            "standardized each row",
        ),
        ("01.1", in_place, "changed its input in place"),
        ("01.1", lambda x: None, "the result is None: did you forget to `return` it?"),
        ("01.2", lambda a, b: ((b[:, None] - a[None]) ** 2).sum(-1), "got (6, 4): the result is transposed"),
        ("01.2", lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1).sqrt(), "these are distances"),
        ("01.2", lambda a, b: a @ b, "raised RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
        ("01.2", lambda a, b: ((a[:, None] - b[None]) ** 2).sum(-1).numpy(), "should be a pytorch tensor, got ndarray"),
        ("01.2", off_at_1_2, "is off at index (1, 2): expected"),
        ("01.2", loop, "a Python loop over the points"),
        ("01.3", lambda f, x: torch.sigmoid(x) * (1 - torch.sigmoid(x)), "your function never called f"),
        ("01.3", lambda f, x: (f(x + 1e-3) - f(x - 1e-3)) / 2e-3, "that is finite differences"),
        ("01.3", lambda f, x: torch.autograd.grad(f(x).sum(), x)[0], "x does not require gradients"),
        ("01.3", lambda f, x: f(x), "these are the values f(x), not the derivative"),
        ("01.3", lambda f, x: 2 * derivative(f, x), "off by a factor of 2 at every x"),
        ("01.3", lambda f, x: derivative(f, x)[:3], "expected f'(x) of shape (9,), got (3,)"),
        ("01.4", derivative, "you returned the first derivative f'(x)"),
        ("01.4", lambda f, x: (f(x + h) - 2 * f(x) + f(x - h)) / h**2, "that is finite differences"),
        ("01.5", torch.round, "the gradient is zero everywhere"),
        ("01.5", lambda x: torch.round(x).detach(), "no gradient can flow back to x"),
        ("01.5", lambda x: x * 1.0, "the forward value (it should be round(x)) is off at x = -1.7"),
        ("01.6", lambda x, limit: Clip.apply(x, limit).clamp(-limit, limit), "should return x unchanged"),
        ("01.6", lambda x, limit: Clip.apply(x, 1.0), "the gradient with limit = 0.3 is off"),
        ("01.6", hooked, "not from a torch.autograd.Function: a hook (register_hook)"),
        (
            "01.6",
            lambda x, limit: OneGradient.apply(x, limit),
            "the backward pass raised RuntimeError: function OneGradientBackward returned an incorrect number "
            "of gradients",
        ),
        ("01.7", lambda logits, labels: -log_probs(logits)[:, labels].mean(), "torch.gather is not tf.gather"),
        ("01.7", lambda logits, labels: log_probs(logits).gather(1, labels[:, None]).mean(), "the sign is flipped"),
        ("01.8", (lambda: "A", safe_norm), "'A' is not why"),
        ("01.8", (lambda: "B", lambda x: (x**2).sum(1).sqrt()), "the gradient at the zero vector is NaN"),
        ("01.9", lambda *args: minimize(*args[:4], momentum=0.0), "this is plain gradient descent"),
        ("01.9", lambda *args: minimize(*args, sign=-1.0), "the loss grew"),
        ("01.9", lambda *args: minimize(*args, fd=True), "the loss was evaluated 80 times in 20 steps"),
        ("01.9", lambda *args: (minimize(*args)[0], []), "the history holds 0 losses for 20 steps"),
    ]
    return right, wrong


def answers_tf(tf):
    def derivative(f, x, order=1):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = f(x)
            first = inner.gradient(y, x)
        return first if order == 1 else outer.gradient(first, x)

    def unwatched(f, x):
        with tf.GradientTape() as tape:
            y = f(x)
        return tape.gradient(y, x)

    def clip(x, limit, clip_grad=True):
        @tf.custom_gradient
        def ident(x):
            return tf.identity(x), (lambda g: tf.clip_by_value(g, -limit, limit) if clip_grad else g)

        return ident(x)

    def bad_gradient(x, limit):
        @tf.custom_gradient
        def ident(x):
            return tf.identity(x), (lambda g: tf.clip_by_value(g, -limit))  # a missing argument

        return ident(x)

    def log_probs(logits):
        return logits - tf.reduce_logsumexp(logits, axis=1, keepdims=True)

    def safe_norm(x):
        s = tf.reduce_sum(x**2, axis=1)
        return tf.where(s > 0, tf.sqrt(tf.where(s > 0, s, tf.ones_like(s))), tf.zeros_like(s))

    def minimize(loss_fn, x0, lr, steps, momentum):
        x, velocity, history = tf.Variable(x0), tf.zeros_like(x0), []
        for _ in range(steps):
            with tf.GradientTape() as tape:
                loss = loss_fn(x)
            velocity = momentum * velocity + tape.gradient(loss, x)
            x.assign_sub(lr * velocity)
            history.append(float(loss))
        return tf.convert_to_tensor(x), history

    def loop(a, b):
        return tf.stack([tf.stack([tf.reduce_sum((p - q) ** 2) for q in b]) for p in a])

    pairwise = lambda a, b: tf.reduce_sum((a[:, None] - b[None]) ** 2, -1)
    h = 1e-2
    right = {
        "01.1": lambda x: (x - tf.reduce_mean(x, 0)) / tf.math.reduce_std(x, 0),
        "01.2": pairwise,
        "01.3": derivative,
        "01.4": lambda f, x: derivative(f, x, 2),
        "01.5": lambda x: x + tf.stop_gradient(tf.round(x) - x),
        "01.6": clip,
        "01.7": lambda logits, labels: -tf.reduce_mean(tf.gather(log_probs(logits), labels, axis=1, batch_dims=1)),
        "01.8": (lambda: "B", safe_norm),
        "01.9": minimize,
    }
    wrong = [
        ("01.1", lambda x: x - tf.reduce_mean(x, 0), "did not divide by their standard deviation"),
        ("01.2", lambda a, b: tf.transpose(pairwise(a, b)), "the result is transposed"),
        ("01.2", loop, "a Python loop over the points"),
        ("01.3", lambda f, x: tf.sigmoid(x) * (1 - tf.sigmoid(x)), "your function never called f"),
        ("01.3", lambda f, x: (f(x + 1e-3) - f(x - 1e-3)) / 2e-3, "that is finite differences"),
        ("01.3", unwatched, "the tape did not watch x"),
        ("01.3", lambda f, x: 0.5 * derivative(f, x), "off by a factor of 0.5 at every x"),
        ("01.4", derivative, "you returned the first derivative"),
        ("01.4", lambda f, x: (f(x + h) - 2 * f(x) + f(x - h)) / h**2, "that is finite differences"),
        ("01.5", tf.round, "the gradient is zero everywhere"),
        ("01.6", lambda x, limit: clip(x, limit, clip_grad=False), "the gradient is not clipped"),
        ("01.6", lambda x, limit: clip(x, 1.0), "the gradient with limit = 0.3 is off"),
        ("01.6", bad_gradient, "the gradient function raised TypeError"),
        (
            "01.7",
            lambda logits, labels: -tf.reduce_mean(tf.gather(log_probs(logits), labels, axis=1)),
            "a (6, 6) table",
        ),
        ("01.8", (lambda: "B", lambda x: tf.norm(x, axis=1)), "the gradient at the zero vector is NaN"),
        ("01.9", lambda *args: minimize(*args[:4], momentum=0.0), "this is plain gradient descent"),
    ]
    return right, wrong


test_right_answers_pass_and_stubs_are_unsolved, test_wrong_answers_get_a_sentence_naming_the_mistake = checks_tests(
    {"torch": answers_torch, "tf": answers_tf}, STUBS, count=9
)


@needs("torch")
def test_the_port_is_checked_against_the_numpy_reference_when_the_twin_is_missing():
    out = check_without_tensorflow(
        "from coursekit.checks.m01 import nll_from_logits_torch",
        "01.7",
        "lambda logits, labels: nll_from_logits_torch(torch, logits, labels)",
        "lambda logits, labels: -nll_from_logits_torch(torch, logits, labels)",
    )
    assert "✓ 01.7 port a loss from the twin: passed." in out
    assert "the sign is flipped: the reference returns" in out
