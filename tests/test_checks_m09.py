"""Module 09's checks pass right answers, report stubs as unsolved, and name what each wrong answer gets wrong
(in both frameworks): contiguous or uneven shards, shards that ignore the rank, summed or un-reduced gradients,
stale gradients, a missing or late set_epoch, a per-replica loss over the local batch, and the effective
learning rate of averaged against summed gradients, and starting weights synchronised only in part."""

from helpers import checks_tests, stub

STUBS = {"09.4": (stub, stub)}


def _effective(reduction_sum_factor=True, mean_scales=False):
    def fn(lr, workers, reduction):
        if reduction == "sum":
            return lr * workers if reduction_sum_factor else lr
        return lr * workers if mean_scales else lr

    return fn


def _shards():
    def contiguous(indices, rank, world_size):
        per = len(indices) // world_size
        return indices[rank * per : (rank + 1) * per]

    return [
        ("09.1", contiguous, "contiguous blocks"),
        ("09.1", lambda indices, rank, world_size: indices[rank::world_size], "every rank must get the same number"),
        ("09.1", lambda indices, rank, world_size: indices[: len(indices) // world_size], "every rank got the same"),
        ("09.1", lambda *a: None, "is None"),
    ]


def _lr_wrong():
    return [
        ("09.4", (lambda: "A", _effective(mean_scales=True)), "with 'mean' (DDP) the gradients are averaged"),
        ("09.4", (lambda: "A", _effective(reduction_sum_factor=False)), "with 'sum' the 2 local-mean gradients"),
        ("09.4", (lambda: "A", lambda lr, w, r: lr / w if r == "mean" else lr * w), "with 'mean' nothing shrinks"),
        ("09.4", (lambda: "B", _effective()), "'B' is not why"),
        ("09.4", (lambda: "C", _effective()), "both losses here are means"),
        ("09.4", _effective(), "expected the pair"),
    ]


def answers_torch(torch):
    def positions(indices, rank, world_size):
        usable = len(indices) // world_size * world_size
        return torch.arange(len(indices))[rank:usable:world_size]

    def step(model, optimizer, loss_fn, xb, yb, all_reduce, world, zero=True, reduce=True, divide=1):
        if zero:
            optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        for p in model.parameters():
            if reduce:
                all_reduce(p.grad)
            p.grad /= world**divide if reduce else 1
        optimizer.step()
        return loss.item()

    def sync_torch(model, broadcast, biases=True, src=0):
        with torch.no_grad():
            for p in model.parameters():
                if biases or p.ndim == 2:
                    broadcast(p.data, src=src)

    def epochs(loader, sampler, n, visit, mode="right"):
        for epoch in range(n):
            if mode == "right":
                sampler.set_epoch(epoch)
            for batch in loader:
                visit(epoch, batch)
            if mode == "late":
                sampler.set_epoch(epoch)

    right = {
        "09.1": lambda indices, rank, world_size: indices[rank : len(indices) // world_size * world_size : world_size],
        "09.2": step,
        "09.3": epochs,
        "09.4": (lambda: "A", _effective()),
        "09.5": sync_torch,
    }
    wrong = [
        *_shards(),
        ("09.1", positions, "you returned positions"),
        ("09.2", lambda *a: step(*a, divide=0), "you summed the gradients"),
        ("09.2", lambda *a: step(*a, reduce=False), "this worker's own gradient"),
        ("09.2", lambda *a: step(*a, zero=False), "optimizer.zero_grad() first"),
        ("09.2", lambda *a: step(*a, divide=2), "divided by world_size twice"),
        ("09.2", lambda m, o, lf, x, y, ar, w: None, "the weights did not change"),
        ("09.2", lambda m, o, lf, x, y, ar, w: ar(x), "give it each parameter's .grad"),
        ("09.3", lambda *a: epochs(*a, mode="none"), "every epoch replayed epoch 0's order"),
        ("09.3", lambda *a: epochs(*a, mode="late"), "one epoch late"),
        ("09.3", lambda *a: None, "visit(epoch, batch) was never called"),
        ("09.5", lambda m, b: sync_torch(m, b, biases=False), "the first bias and the second bias still differ"),
        ("09.5", lambda m, b: sync_torch(m, b, src=1), "so src=0"),
        ("09.5", lambda m, b: None, "the weights still differ from rank 0's"),
        *_lr_wrong(),
    ]
    return right, wrong


def answers_tf(tf):
    def positions(indices, rank, world_size):
        n = int(tf.shape(indices)[0])
        return tf.range(n, dtype=tf.int64)[rank : n // world_size * world_size : world_size]

    def step(model, optimizer, loss_fn, xb, yb, all_reduce, world, reduce=True, divide=1):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        if reduce:
            grads = [g / world**divide for g in all_reduce(grads)]
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return float(loss)

    def sync_tf(model, broadcast, biases=True):
        for v in model.weights:
            if biases or len(v.shape) == 2:
                v.assign(broadcast(v))

    def per_example(labels, logits):
        return tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)

    def replica_loss(labels, logits, global_batch_size):
        return tf.nn.compute_average_loss(per_example(labels, logits), global_batch_size=global_batch_size)

    right = {
        "09.1": lambda indices, rank, world_size: indices[
            rank : int(tf.shape(indices)[0]) // world_size * world_size : world_size
        ],
        "09.2": step,
        "09.3": replica_loss,
        "09.4": (lambda: "a", _effective()),
        "09.5": sync_tf,
    }
    wrong = [
        *_shards(),
        ("09.1", positions, "you returned positions"),
        ("09.2", lambda *a: step(*a, divide=0), "you summed the gradients"),
        ("09.2", lambda *a: step(*a, reduce=False), "this worker's own gradient"),
        ("09.2", lambda *a: step(*a, divide=2), "divided by world_size twice"),
        ("09.2", lambda m, o, lf, x, y, ar, w: None, "the weights did not change"),
        ("09.3", lambda labels, logits, g: tf.reduce_mean(per_example(labels, logits)), "this replica's 4 examples"),
        ("09.3", lambda labels, logits, g: tf.reduce_sum(per_example(labels, logits)), "the sum of the per-example"),
        ("09.3", lambda labels, logits, g: replica_loss(labels, logits, g) / 2, "the number of replicas too"),
        ("09.3", lambda labels, logits, g: per_example(labels, logits) / g, "return one number"),
        ("09.3", lambda labels, logits, g: None, "returned None"),
        ("09.5", lambda m, b: sync_tf(m, b, biases=False), "biases too"),
        ("09.5", lambda m, b: None, "the weights still differ from rank 0's"),
        *_lr_wrong(),
    ]
    return right, wrong


test_right_answers_pass_and_stubs_are_unsolved, test_wrong_answers_get_a_sentence_naming_the_mistake = checks_tests(
    {"torch": answers_torch, "tf": answers_tf}, STUBS, count=5
)
