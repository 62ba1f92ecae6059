"""Module 06's checks: each passes the solution, reports the stub as unsolved, and names the plausible wrong
fixes of the broken code it hands out (nan_to_num, clipped probabilities, the wrong axis squeezed, zero_grad
misplaced or missing, eval() without train(), a log appended at trace time or holding autograd graphs)."""

from helpers import checks_tests, stub

STUBS = {"06.4": (stub, stub)}


def post_mortem(which="deepest", catch=True):
    """06.5's answer: the tensor locals of the deepest frame of fn's file, or of a wrong frame."""

    def answer(fn, *args):
        if not catch:
            fn(*args)
        try:
            fn(*args)
        except Exception as err:
            frames, tb = [], err.__traceback__
            while tb is not None:
                frames.append(tb.tb_frame)
                tb = tb.tb_next
            mine = [f for f in frames if f.f_code.co_filename == fn.__code__.co_filename]
            frame = {"deepest": mine[-1], "first": mine[0], "last": frames[-1]}[which]
            return {k: tuple(v.shape) for k, v in frame.f_locals.items() if hasattr(v, "shape")}
        return None

    return answer


WRONG_POST_MORTEM = [
    ("06.5", post_mortem("first"), "the first frame (script)"),
    ("06.5", post_mortem("last"), "a frame of the framework's own code"),
    ("06.5", post_mortem(catch=False), "let the script's error through"),
]


def answers_torch(torch):
    import torch.nn.functional as F

    def loss(logits, labels, how="right"):
        if how == "nan":
            return -torch.log(torch.softmax(logits, 1)).gather(1, labels[:, None]).mean()
        if how == "nan_to_num":
            return -torch.nan_to_num(torch.log(torch.softmax(logits, 1))).gather(1, labels[:, None]).mean()
        if how == "clamp":
            return -torch.log(torch.softmax(logits, 1).clamp(1e-7, 1 - 1e-7)).gather(1, labels[:, None]).mean()
        if how == "probs":
            return F.cross_entropy(torch.softmax(logits, 1), labels)
        return -torch.log_softmax(logits, 1).gather(1, labels[:, None]).mean()

    def mse(pred, target, axis=-1, reduce="mean"):
        d = (pred.squeeze(axis) - target) ** 2
        return d.mean() if reduce == "mean" else d.sum()

    def epoch(model, optimizer, loss_fn, x, y, xv, yv, batch_size, mistake=""):
        if mistake != "no train at start":
            model.train(mistake != "eval")
        for start in range(0, len(x), batch_size):
            if mistake != "no zero_grad":
                optimizer.zero_grad()
            loss_fn(model(x[start : start + batch_size]), y[start : start + batch_size]).backward()
            if mistake == "late":
                optimizer.zero_grad()
            optimizer.step()
        model.train(mistake == "val train")
        with torch.no_grad():
            val = loss_fn(model(xv), yv).item()
        if mistake not in ("no train back", "no train at start"):
            model.train()
        return val

    def make(model, optimizer, loss_fn, item=True):
        log = []

        def step(x, y):
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            log.append(loss.item() if item else loss)

        return step, log

    right = {
        "06.1": loss,
        "06.2": mse,
        "06.3": epoch,
        "06.4": (lambda: "A", make),
        "06.5": post_mortem(),
    }
    wrong = [
        ("06.1", lambda z, y: loss(z, y, "nan"), "log(0) = -inf"),
        ("06.1", lambda z, y: loss(z, y, "nan_to_num"), "nan_to_num"),
        ("06.1", lambda z, y: loss(z, y, "clamp"), "you clipped the probabilities"),
        ("06.1", lambda z, y: loss(z, y, "probs"), "passed probabilities where the loss expects logits"),
        ("06.2", lambda p, t: ((p - t) ** 2).mean(), "broadcast (5, 1) against (5,)"),
        ("06.2", lambda p, t: mse(p, t, axis=0), "squeezing axis 0"),
        ("06.2", lambda p, t: mse(p, t, reduce="sum"), "the sum of the squared errors"),
        ("06.3", lambda *a: epoch(*a, mistake="no zero_grad"), "the gradients accumulated"),
        ("06.3", lambda *a: epoch(*a, mistake="late"), "ran between backward() and step()"),
        ("06.3", lambda *a: epoch(*a, mistake="eval"), "trained in inference mode"),
        ("06.3", lambda *a: epoch(*a, mistake="no train at start"), "the second call trained in inference mode"),
        ("06.3", lambda *a: epoch(*a, mistake="no train back"), "left in eval mode"),
        ("06.3", lambda *a: epoch(*a, mistake="val train"), "computed in training mode"),
        ("06.4", (lambda: "B", make), "'B' is not why"),
        ("06.4", (lambda: "A", lambda *a: make(*a, item=False)), "autograd graph (grad_fn)"),
        *WRONG_POST_MORTEM,
    ]
    return right, wrong


def answers_tf(tf):
    import keras

    def loss(logits, labels, how="right"):
        if how == "nan":
            return -tf.reduce_mean(tf.gather(tf.math.log(tf.nn.softmax(logits)), labels, batch_dims=1))
        if how == "nan_to_num":
            logp = tf.math.log(tf.nn.softmax(logits))
            logp = tf.where(tf.math.is_finite(logp), logp, tf.float32.min)
            return -tf.reduce_mean(tf.gather(logp, labels, batch_dims=1))
        if how == "clip":
            return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, tf.nn.softmax(logits)))
        if how == "from_logits":
            return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits))
        return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))

    def mse(pred, target, axis=-1):
        return tf.reduce_mean((tf.squeeze(pred, axis) - target) ** 2)

    def epoch(model, optimizer, loss_fn, x, y, xv, yv, batch_size, mistake=""):
        acc = [tf.Variable(tf.zeros_like(v)) for v in model.trainable_variables]
        for start in range(0, int(x.shape[0]), batch_size):
            with tf.GradientTape() as tape:
                loss = loss_fn(
                    y[start : start + batch_size], model(x[start : start + batch_size], training=mistake != "eval")
                )
            grads = tape.gradient(loss, model.trainable_variables)
            if mistake == "accumulate":
                for a, g in zip(acc, grads, strict=True):
                    a.assign_add(g)
                grads = [a.read_value() for a in acc]
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return float(loss_fn(yv, model(xv, training=mistake == "val train")))

    def make(model, optimizer, loss_fn, inside=False):
        log = []

        @tf.function
        def train(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            if inside:
                log.append(loss)
            return loss

        def step(x, y):
            loss = train(x, y)
            if not inside:
                log.append(float(loss))

        return (train if inside else step), log

    def make_eager(model, optimizer, loss_fn):
        tf.config.run_functions_eagerly(True)
        return make(model, optimizer, loss_fn, inside=True)

    right = {"06.1": loss, "06.2": mse, "06.3": epoch, "06.4": (lambda: "a", make), "06.5": post_mortem()}
    wrong = [
        ("06.1", lambda z, y: loss(z, y, "nan"), "log(0) = -inf"),
        ("06.1", lambda z, y: loss(z, y, "nan_to_num"), "nan_to_num"),
        ("06.1", lambda z, y: loss(z, y, "clip"), "you clipped the probabilities"),
        ("06.1", lambda z, y: loss(z, y, "from_logits"), "from_logits=True"),
        ("06.2", lambda p, t: tf.reduce_mean((p - t) ** 2), "broadcast (5, 1) against (5,)"),
        ("06.2", lambda p, t: mse(p, t, axis=0), "Can not squeeze dim[0]"),
        ("06.3", lambda *a: epoch(*a, mistake="accumulate"), "no running sum"),
        ("06.3", lambda *a: epoch(*a, mistake="eval"), "trained in inference mode"),
        ("06.3", lambda *a: epoch(*a, mistake="val train"), "computed in training mode"),
        ("06.4", (lambda: "C", make), "'C' is not why"),
        ("06.4", (lambda: "A", lambda *a: make(*a, inside=True)), "only while tf.function traced"),
        ("06.4", (lambda: "A", make_eager), "run_functions_eagerly(True) hides the bug"),
        *WRONG_POST_MORTEM,
    ]
    return right, wrong


test_right_answers_pass_and_stubs_are_unsolved, test_wrong_answers_get_a_sentence_naming_the_mistake = checks_tests(
    {"torch": answers_torch, "tf": answers_tf}, STUBS, count=5
)
