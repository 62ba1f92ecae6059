"""Module 09's MLP on the digits under tf.distribute.MirroredStrategy: one process, several replicas.

    python tf_mirrored.py --out runs/mirrored

Without GPUs the one CPU is split into two logical devices (before any TensorFlow op runs), so two replicas
exist on a laptop; with GPUs the replicas are the GPUs. It trains the same global batches four ways (a custom
loop on 1 and on 2 replicas, Keras fit on 1 and on 2), runs the replica-context collectives, and writes
result.json in --out. tf_multiworker.py imports build_model, batches and make_train_step from here.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from coursekit import Timer
from coursekit.distributed import epoch_order, mlp_init, train_data


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64, help="the GLOBAL batch, split over the replicas")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--examples", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="", help="an .npz with x and y")
    return p.parse_args()


def configure_threads() -> int:
    """Threads per op from OMP_NUM_THREADS, as torchrun gives its workers (0: one per core); before any op runs.

    Only the intra-op pool: MirroredStrategy's replicas need inter-op threads to meet in their collectives."""
    threads = int(os.environ.get("OMP_NUM_THREADS", "0"))
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    return threads


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """The training digits: from --data if given, else from coursekit."""
    if args.data:
        with np.load(args.data) as f:
            return f["x"][: args.examples], f["y"][: args.examples]
    return train_data(args.examples, args.seed)


def build_model(seed: int):
    """The MLP 64-32(tanh)-10 in float64, with the course's NumPy starting weights (the DDP script's too)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((64,), dtype="float64"),
            keras.layers.Dense(32, "tanh", dtype="float64"),
            keras.layers.Dense(10, dtype="float64"),
        ]
    )
    model.set_weights(mlp_init(seed))
    return model


def batches(x: np.ndarray, y: np.ndarray, epochs: int, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every step's global batch, in order: epoch e visits the examples in epoch_order(n, e, seed)."""
    order = np.concatenate([epoch_order(len(x), e, seed) for e in range(epochs)])
    return x[order], y[order]


def make_train_step(strategy, model, optimizer, global_batch: int, local_mean: bool = False):
    """A tf.function that runs one step on every replica and returns the global batch's mean loss.

    local_mean: the classic bug, each replica's loss as the mean over its OWN examples."""
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)

    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            per_example = loss_fn(yb, model(xb, training=True))
            # Divide by the GLOBAL batch, not this replica's: the replicas' gradients are then SUMMED, which
            # gives the gradient of the global batch's mean loss.
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            if local_mean:
                loss = tf.reduce_mean(per_example)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(
            zip(grads, model.trainable_variables, strict=True)
        )  # sums gradients over the replicas
        return loss

    @tf.function
    def train_step(batch):
        per_replica = strategy.run(replica_step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return train_step


def custom_loop(strategy, args: argparse.Namespace, data, lr: float = 0.0, local_mean: bool = False) -> dict:
    import keras

    with strategy.scope():
        model = build_model(args.seed)
        optimizer = keras.optimizers.SGD(lr or args.lr)
    xs, ys = data
    dataset = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(args.batch, drop_remainder=True)
    dist = strategy.experimental_distribute_dataset(dataset)  # each global batch split over the replicas
    step = make_train_step(strategy, model, optimizer, args.batch, local_mean)
    it = iter(dist)
    losses = [float(step(next(it)))]  # the first step traces the function: not timed
    with Timer("tensorflow") as timer:
        for batch in it:
            losses.append(step(batch))
        losses = [float(v) for v in losses]
    return {
        "replicas": strategy.num_replicas_in_sync,
        "losses": losses,
        "steps_per_s": (len(losses) - 1) / timer.elapsed,
        "weights": [w.tolist() for w in model.get_weights()],
    }


def keras_fit(strategy, args: argparse.Namespace, data) -> dict:
    import keras

    with strategy.scope():
        model = build_model(args.seed)
        model.compile(keras.optimizers.SGD(args.lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    xs, ys = data
    history = model.fit(xs, ys, batch_size=args.batch, epochs=1, shuffle=False, verbose=0)
    return {"loss": history.history["loss"][-1], "weights": [w.tolist() for w in model.get_weights()]}


def collectives(strategy) -> dict:
    """all_reduce and all_gather in the replica context, gather across replicas, and the 'broadcast' of a
    variable created in the strategy's scope (one value, copied to every replica)."""

    @tf.function
    def on_replica():
        ctx = tf.distribute.get_replica_context()
        rank = tf.cast(
            ctx.replica_id_in_sync_group, tf.float64
        )  # float64 like the training: one process, one key space
        value = tf.stack([rank + 1.0, 10.0 * (rank + 1.0)])
        return (
            ctx.all_reduce(tf.distribute.ReduceOp.SUM, value),
            ctx.all_gather(tf.reshape(rank, [1]), axis=0),
            tf.reshape(rank, [1]),
        )

    summed, gathered, ranks = strategy.run(on_replica)
    with strategy.scope():
        v = tf.Variable([100.0], dtype=tf.float64)  # created once, mirrored to every replica: TensorFlow's broadcast
    return {
        "all_reduce": strategy.experimental_local_results(summed)[-1].numpy().tolist(),
        "all_gather": strategy.experimental_local_results(gathered)[-1].numpy().tolist(),
        "gather": strategy.gather(ranks, axis=0).numpy().tolist(),
        "broadcast": [float(t.numpy()[0]) for t in v.values],
    }


def main() -> None:
    args = parse()
    configure_threads()
    import keras

    keras.config.set_floatx("float64")  # losses and gradients in float64 too, so 1 and 2 replicas compare to 1e-15
    cpus = tf.config.list_physical_devices("CPU")
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:  # two logical CPUs: must happen before any op runs
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    names = [d.name for d in tf.config.list_logical_devices("GPU" if gpus else "CPU")][:2]
    x, y = load_data(args)
    data = batches(x, y, args.epochs, args.batch, args.seed)
    # One strategy object per device set, reused: collectives of two strategies in one process would share
    # instance keys and abort each other.
    one, two = tf.distribute.MirroredStrategy(names[:1]), tf.distribute.MirroredStrategy(names)
    result = {
        "framework": "tensorflow",
        "devices": names,
        "threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "collectives": collectives(two),
        "loop_1": custom_loop(one, args, data),
        "loop_2": custom_loop(two, args, data),
        "loop_2_local_mean": custom_loop(two, args, data, local_mean=True),  # the bug ...
        "loop_1_double_lr": custom_loop(one, args, data, lr=2 * args.lr),  # ... is this learning rate
        "fit_1": keras_fit(one, args, data),
        "fit_2": keras_fit(two, args, data),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
