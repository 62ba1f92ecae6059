"""Module 08's checks pass right answers, report stubs as unsolved, and name what each wrong answer gets
wrong (in both frameworks): autocast around backward or the optimizer step, a model cast to bfloat16, a
bfloat16 loss, a policy set too late or left behind, gradients applied still scaled or never scaled, no
scaler.update(), the total time or the IDLE row read as the top operator, and checkpointing that recomputes
nothing, blocks the gradient, or saves no memory."""

import numpy as np

from helpers import checks_tests, stub


def slope(batches, peaks):
    return float(np.polyfit(batches, peaks, 1)[0])


WRONG_08_5 = [
    ("08.5", (lambda: "A", slope), "'A' is not why"),
    ("08.5", (lambda: "C", slope), "'C' is not why"),
    ("08.5", (lambda: "B", lambda b, p: p[-1] / b[-1]), "divided the peak by the batch size"),
    ("08.5", (lambda: "B", lambda b, p: (p[-1] - p[0]) / (b[-1] - b[0])), "between the two end points"),
    ("08.5", (lambda: "B", lambda b, p: [slope(b, p)]), "one number"),
    ("08.5", slope, "expected the pair"),
]


def answers_torch(torch):
    from torch.utils.checkpoint import checkpoint

    def mixed(model, optimizer, loss_fn, x, y, around="forward", cast_model=False, cast_loss=False, zero=True):
        if cast_model:
            model.to(torch.bfloat16)
        if zero:
            optimizer.zero_grad()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=around != "none"):
            loss = loss_fn(model(x.to(torch.bfloat16) if cast_model else x), y.to(torch.bfloat16) if cast_model else y)
            if cast_loss:
                loss = loss.to(torch.bfloat16)
            if around in ("backward", "step"):
                loss.backward()
            if around == "step":
                optimizer.step()
        if around not in ("backward", "step"):
            loss.backward()
        if around != "step":
            optimizer.step()
        return loss

    def scaled(model, optimizer, scaler, loss_fn, x, y, scale=True, unscale=True, update=True):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        (scaler.scale(loss) if scale else loss).backward()
        if unscale:
            scaler.step(optimizer)
        else:
            optimizer.step()
        if update:
            scaler.update()
        return loss

    def top_by(key):
        return lambda prof: max(prof.key_averages(), key=lambda e: getattr(e, key)).key

    def ckpt(blocks, x, segments, mode="right"):
        per = len(blocks) // segments
        h = x
        if mode == "per block":
            for block in blocks:
                h = checkpoint(block, h, use_reentrant=False)
            return h
        for s in range(segments):
            segment = blocks[s * per : (s + 1) * per]
            if mode == "none":
                h = segment(h)
            elif mode == "reentrant":
                h = checkpoint(segment, h, use_reentrant=True)
            else:
                h = checkpoint(segment, h.detach() if mode == "detach" and s else h, use_reentrant=False)
        return h

    right = {
        "08.1": mixed,
        "08.2": scaled,
        "08.3": top_by("self_cpu_time_total"),
        "08.4": ckpt,
        "08.5": (lambda: "B", slope),
    }
    wrong = [
        *WRONG_08_5,
        ("08.1", lambda *a: mixed(*a, around="none"), "wrap the forward pass and the loss"),
        ("08.1", lambda *a: mixed(*a, around="backward"), "backward() ran inside autocast"),
        ("08.1", lambda *a: mixed(*a, around="step"), "backward() ran inside autocast"),
        ("08.1", lambda *a: mixed(*a, cast_model=True), "you cast the model"),
        ("08.1", lambda *a: mixed(*a, cast_loss=True), "the loss is bfloat16"),
        ("08.1", lambda *a: mixed(*a, zero=False), "call optimizer.zero_grad() first"),
        ("08.2", lambda *a: scaled(*a, scale=False), "backpropagate scaler.scale(loss)"),
        ("08.2", lambda *a: scaled(*a, unscale=False), "applied still scaled"),
        ("08.2", lambda *a: scaled(*a, unscale=False, update=False), "applied still scaled"),
        ("08.2", lambda *a: scaled(*a, update=False), "call scaler.update()"),
        ("08.3", top_by("cpu_time_total"), "the largest *total* time"),
        (
            "08.3",
            lambda prof: max(prof.key_averages(), key=lambda e: e.self_cpu_time_total),
            "return the operator's name",
        ),
        ("08.4", lambda b, x, s: ckpt(b, x, s, "none"), "nothing was recomputed"),
        ("08.4", lambda b, x, s: ckpt(b, x, s, "reentrant"), "use_reentrant=False"),
        ("08.4", lambda b, x, s: ckpt(b, x, s, "detach"), "do not detach"),
        ("08.4", lambda b, x, s: ckpt(b, x, s, "per block"), "nothing was recomputed"),
        ("08.4", lambda b, x, s: ckpt(b[:4], x, s), "running all 8 blocks one after another"),
    ]
    return right, wrong


def answers_tf(tf):
    import keras

    def mixed(build, policy="mixed_bfloat16", restore=True, late=False):
        if late:
            model = build()
            keras.mixed_precision.set_global_policy(policy)
        else:
            keras.mixed_precision.set_global_policy(policy)
            model = build()
        if restore:
            keras.mixed_precision.set_global_policy("float32")
        return model

    def scaled(model, optimizer, loss_fn, x, y, scale=True, inner=False):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
            target = optimizer.scale_loss(loss) if scale else loss
        grads = tape.gradient(target, model.trainable_variables)
        (optimizer.inner_optimizer if inner else optimizer).apply(grads, model.trainable_variables)
        return loss

    def top(rows, key="total_self_time", skip_idle=True, column="type"):
        candidates = [r for r in rows if r["type"] != "IDLE" or not skip_idle]
        return max(candidates, key=lambda r: r[key])[column]

    def ckpt(blocks, x, segments, mode="right"):
        per = len(blocks) // segments

        def run(part):
            def segment(h):
                for block in part:
                    h = block(h)
                return h

            return segment

        h = x
        for s in range(segments):
            segment = run(blocks[s * per : (s + 1) * per])
            if mode == "none":
                h = segment(h)
            else:
                h = tf.recompute_grad(segment)(tf.stop_gradient(h) if mode == "stop" and s else h)
        return h

    right = {"08.1": mixed, "08.2": scaled, "08.3": top, "08.4": ckpt, "08.5": (lambda: "b", slope)}
    wrong = [
        *WRONG_08_5,
        ("08.1", lambda build: mixed(build, restore=False), "the global policy was left at 'mixed_bfloat16'"),
        ("08.1", lambda build: mixed(build, late=True), "*before* calling build()"),
        ("08.1", lambda build: mixed(build, policy="bfloat16"), "use 'mixed_bfloat16'"),
        ("08.1", lambda build: None, "return the model"),
        ("08.2", lambda *a: scaled(*a, scale=False), "take the gradient of optimizer.scale_loss(loss)"),
        ("08.2", lambda *a: scaled(*a, inner=True), "not its inner optimizer"),
        ("08.3", lambda rows: rows[0]["type"], "the IDLE row"),
        ("08.3", lambda rows: top(rows, key="total_time"), "the largest *total* time"),
        ("08.3", lambda rows: top(rows, column="operation"), "return its type"),
        ("08.3", lambda rows: rows[2]["type"], "not sorted by self time"),
        ("08.4", lambda b, x, s: ckpt(b, x, s, "none"), "nothing was recomputed"),
        ("08.4", lambda b, x, s: ckpt(b, x, s, "stop"), "do not detach or stop the gradient"),
    ]
    return right, wrong


test_right_answers_pass_and_stubs_are_unsolved, test_wrong_answers_get_a_sentence_naming_the_mistake = checks_tests(
    {"torch": answers_torch, "tf": answers_tf}, {"08.5": (stub, stub)}, count=5
)
