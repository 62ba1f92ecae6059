"""Module 05's checks pass right answers, report stubs as unsolved, and name what each wrong answer
gets wrong (in both frameworks): a forgotten zero_grad, the model left in inference mode, a mean of
batch means, the argmax over the wrong axis, the last weights kept instead of the best, and a resume
that restores the weights without the optimizer's state."""

import copy

from helpers import checks_tests, stub

STUBS = {"05.4": (stub, stub), "05.5": (stub, stub)}


def answers_torch(torch):
    def epoch(model, optimizer, loss_fn, x, y, order, batch_size, zero=True, train=True, weighted=True, use_order=True):
        model.train(train)
        visit = order if use_order else torch.arange(len(x))
        total, means = 0.0, []
        for start in range(0, len(visit), batch_size):
            idx = visit[start : start + batch_size]
            if zero:
                optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            means.append(loss.item())
        return total / len(visit) if weighted else sum(means) / len(means)

    def early(model, train_one_epoch, val_loss, max_epochs, patience, deep=True, run_all=False):
        best, best_epoch, best_state = float("inf"), -1, None
        for epoch in range(max_epochs):
            train_one_epoch(model)
            loss = val_loss(model)
            if loss < best:
                state = model.state_dict()
                best, best_epoch, best_state = loss, epoch, copy.deepcopy(state) if deep else state
            elif epoch - best_epoch >= patience and not run_all:
                break
        model.load_state_dict(best_state)
        return epoch + 1

    def save(path, model, optimizer, epoch, with_optimizer=True):
        state = {"model": model.state_dict(), "epoch": epoch}
        if with_optimizer:
            state["optimizer"] = optimizer.state_dict()
        torch.save(state, path)

    def load(path, model, optimizer):
        state = torch.load(path, weights_only=True)
        model.load_state_dict(state["model"])
        if "optimizer" in state:
            optimizer.load_state_dict(state["optimizer"])
        return state["epoch"]

    def acc(logits, labels, dim=1):
        return (logits.argmax(dim=dim) == labels).float().mean().item()

    right = {
        "05.1": acc,
        "05.2": epoch,
        "05.3": early,
        "05.4": (save, load),
        "05.5": (lambda: "B", lambda params: torch.optim.Adam(params, lr=1e-3, eps=1e-7)),
    }
    wrong = [
        ("05.1", lambda logits, labels: acc(logits, labels, dim=0), "argmax over the batch axis (0)"),
        ("05.1", lambda logits, labels: (logits.argmax(1) == labels).sum(), "the number of right rows"),
        ("05.1", lambda logits, labels: (logits.argmax(1)[:, None] == labels).float().mean(), "into (n, n)"),
        ("05.1", lambda logits, labels: logits.argmax(1) == labels, "should be one number"),
        ("05.2", lambda *a: epoch(*a, zero=False), "optimizer.zero_grad() before each backward"),
        ("05.2", lambda *a: epoch(*a, train=False), "trained in inference mode"),
        ("05.2", lambda *a: epoch(*a, weighted=False), "the mean of the batch means"),
        ("05.2", lambda *a: epoch(*a, use_order=False), "did not follow `order`"),
        ("05.2", lambda *a: None, "the weights did not change"),
        ("05.3", lambda *a: early(*a, deep=False), "the last epoch's weights, not the best"),
        ("05.3", lambda *a: early(*a, run_all=True), "training ran all 10 epochs"),
        ("05.3", lambda m, t, v, e, p: early(m, t, v, e, p + 1), "training ran 7 epochs"),
        ("05.4", (lambda *a: save(*a, with_optimizer=False), load), "the optimizer's state was not"),
        ("05.4", (save, lambda path, m, o: (load(path, m, o), None)[1]), "should return the epoch saved"),
        ("05.4", (save, lambda path, m, o: 3), "the weights were not restored"),
        ("05.4", save, "expected the two functions"),
        ("05.5", (lambda: "A", lambda params: torch.optim.Adam(params)), "'A' is not why"),
        ("05.5", (lambda: "B", lambda params: torch.optim.Adam(params)), "its epsilon is 1e-08"),
        ("05.5", (lambda: "B", lambda params: torch.optim.SGD(params, lr=1e-3)), "this framework's Adam"),
        ("05.5", (lambda: "B", lambda params: torch.optim.Adam(params, lr=1e-2, eps=1e-7)), "keep the other"),
    ]
    return right, wrong


def answers_tf(tf):
    def epoch(model, optimizer, loss_fn, x, y, order, batch_size, train=True, weighted=True, use_order=True):
        visit = order if use_order else tf.range(len(x), dtype=tf.int64)
        total, means, n = 0.0, [], int(tf.size(visit))
        for start in range(0, n, batch_size):
            idx = visit[start : start + batch_size]
            with tf.GradientTape() as tape:
                loss = loss_fn(tf.gather(y, idx), model(tf.gather(x, idx), training=train))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            total += float(loss) * int(tf.size(idx))
            means.append(float(loss))
        return total / n if weighted else sum(means) / len(means)

    def early(model, train_one_epoch, val_loss, max_epochs, patience, copy_weights=True):
        best, best_epoch, best_weights = float("inf"), -1, None
        for epoch in range(max_epochs):
            train_one_epoch(model)
            loss = val_loss(model)
            if loss < best:
                best, best_epoch = loss, epoch
                best_weights = model.get_weights() if copy_weights else model.weights
            elif epoch - best_epoch >= patience:
                break
        model.set_weights([w if copy_weights else w.numpy() for w in best_weights])
        return epoch + 1

    def save(path, model, optimizer, epoch, with_optimizer=True):
        parts = {"model": model, "epoch": tf.Variable(epoch)}
        if with_optimizer:
            parts["optimizer"] = optimizer
        tf.train.Checkpoint(**parts).write(path)

    def load(path, model, optimizer):
        epoch = tf.Variable(0)
        tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch).read(path).expect_partial()
        return int(epoch.numpy())

    def acc(logits, labels, axis=-1):
        return float(tf.reduce_mean(tf.cast(tf.argmax(logits, axis=axis) == labels, tf.float32)))

    import keras

    right = {
        "05.1": acc,
        "05.2": epoch,
        "05.3": early,
        "05.4": (save, load),
        "05.5": (lambda: "b", lambda: keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-8)),
    }
    wrong = [
        ("05.1", lambda logits, labels: acc(logits, labels, axis=0), "argmax over the batch axis (0)"),
        (
            "05.1",
            lambda logits, labels: tf.reduce_sum(tf.cast(tf.argmax(logits, 1) == labels, tf.float32)),
            "the number of right rows",
        ),
        ("05.2", lambda *a: epoch(*a, train=False), "pass training=True in TensorFlow"),
        ("05.2", lambda *a: epoch(*a, weighted=False), "the mean of the batch means"),
        ("05.2", lambda *a: epoch(*a, use_order=False), "did not follow `order`"),
        ("05.3", lambda *a: early(*a, copy_weights=False), "the last epoch's weights, not the best"),
        ("05.4", (lambda *a: save(*a, with_optimizer=False), load), "the optimizer's state was not"),
        ("05.4", (save, lambda path, m, o: 0), "should return the epoch saved"),
        ("05.5", (lambda: "C", lambda: keras.optimizers.Adam()), "'C' is not why"),
        ("05.5", (lambda: "B", lambda: keras.optimizers.Adam()), "its epsilon is 1e-07"),
    ]
    return right, wrong


test_right_answers_pass_and_stubs_are_unsolved, test_wrong_answers_get_a_sentence_naming_the_mistake = checks_tests(
    {"torch": answers_torch, "tf": answers_tf}, STUBS, count=5
)
