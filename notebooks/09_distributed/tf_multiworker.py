"""Module 09's MLP on the digits under tf.distribute.MultiWorkerMirroredStrategy: one process per worker.

Start one process per worker, each with its own TF_CONFIG (the cluster's addresses and this worker's index):

    export TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:20001", "127.0.0.1:20002"]},
                       "task": {"type": "worker", "index": 0}}'
    python tf_multiworker.py --out runs/mwms      # and index 1 in a second process

Each worker reads its own share of every global batch (a custom loop: Keras 3's fit does not run under this
strategy, keras-team/keras#20585; --try-fit shows the error). With --checkpoint it saves every
--checkpoint-every steps (the chief to the real folder, the others to their own scratch folders) and resumes
from the last checkpoint when relaunched. Worker 0 (the chief) writes result.json; every worker writes
worker<index>.json with its final weights.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from tf_mirrored import batches, build_model, configure_threads, load_data, make_train_step

from coursekit import Timer
from coursekit.distributed import shard


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64, help="the GLOBAL batch; each worker reads batch / workers")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--examples", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="")
    p.add_argument("--checkpoint", default="", help="checkpoint folder: resume from it if it holds one")
    p.add_argument("--checkpoint-every", type=int, default=8)
    p.add_argument("--fail-at-step", type=int, default=-1, help="worker 1 kills itself at this step, once")
    p.add_argument("--try-fit", action="store_true", help="first try Keras fit, and record how it fails")
    return p.parse_args()


def main() -> None:
    args = parse()
    configure_threads()
    import keras

    keras.config.set_floatx("float64")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG, starts this worker's server
    resolver = strategy.cluster_resolver
    index, workers = resolver.task_id, strategy.num_replicas_in_sync
    chief = index == 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with strategy.scope():
        model = build_model(args.seed)
        optimizer = keras.optimizers.SGD(args.lr)
    x, y = load_data(args)
    xs, ys = batches(x, y, args.epochs, args.batch, args.seed)
    steps = len(xs) // args.batch

    fit_error = ""
    if args.try_fit:
        with strategy.scope():
            probe = build_model(args.seed)
            probe.compile(keras.optimizers.SGD(args.lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        try:
            probe.fit(xs[: args.batch], ys[: args.batch], batch_size=args.batch, epochs=1, verbose=0)
        except Exception as err:  # recorded for the lesson, then training goes on with the custom loop
            text = " ".join(str(err).split())
            cut = text.find("with an unsupported type")  # the message quotes whole tensors before this
            fit_error = f"{type(err).__name__}: " + (
                f"Attempt to convert a value (PerReplica:{{...}}) {text[cut:]}" if cut > 0 else text[:300]
            )

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        # This worker's share of every global batch: a contiguous slice of batch / workers examples.
        local = np.concatenate(
            [
                shard(
                    np.arange(s * args.batch, (s + 1) * args.batch),
                    context.input_pipeline_id,
                    context.num_input_pipelines,
                )
                for s in range(steps)
            ]
        )
        per_worker = context.get_per_replica_batch_size(args.batch)
        return tf.data.Dataset.from_tensor_slices((xs[local], ys[local])).batch(per_worker, drop_remainder=True)

    dist = strategy.distribute_datasets_from_function(dataset_fn)
    step_var = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_var)
    manager = None
    if args.checkpoint:
        # Every worker saves (saving is collective), but only the chief into the real folder.
        folder = args.checkpoint if chief else tempfile.mkdtemp(prefix=f"worker{index}-")
        manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=2)
        latest = tf.train.latest_checkpoint(args.checkpoint)  # every worker restores the chief's
        if latest:
            checkpoint.restore(latest)
    start = int(step_var.numpy())

    train_step = make_train_step(strategy, model, optimizer, args.batch)
    it = iter(dist)
    for _ in range(start):
        next(it)  # the steps done before the checkpoint: the same batches, skipped
    killed = out / "killed-once"
    losses, timer = [], Timer()  # no device sync call: float() below waits for the results

    def run(s: int) -> None:
        if s == args.fail_at_step and index == 1 and not killed.exists():
            killed.write_text(f"worker 1 killed itself at step {s}\n")
            os.kill(os.getpid(), signal.SIGKILL)  # a worker dies, as a lost machine would
        losses.append(train_step(next(it)))
        step_var.assign_add(1)
        if manager and (s + 1) % args.checkpoint_every == 0:
            manager.save(checkpoint_number=s + 1)

    if start < steps:
        run(start)  # the first step traces the tf.function: not timed
        losses[0] = float(losses[0])
    with timer:
        for s in range(start + 1, steps):
            run(s)
        losses = [float(v) for v in losses]
    weights = [w.tolist() for w in model.get_weights()]
    (out / f"worker{index}.json").write_text(json.dumps({"weights": weights}))
    if chief:
        result = {
            "framework": "tensorflow",
            "world_size": workers,
            "cluster": resolver.cluster_spec().as_dict(),
            "threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "resumed_from_step": start,
            "steps": steps,
            "steps_per_s": (len(losses) - 1) / timer.elapsed if len(losses) > 1 else 0.0,
            "losses": losses,
            "weights": weights,
            "fit_error": fit_error,
        }
        (out / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
