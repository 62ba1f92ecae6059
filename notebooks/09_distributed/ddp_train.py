"""Data-parallel training of module 09's MLP on the digits with DistributedDataParallel.

Run it under torchrun, on one machine or many, with no edit:

    torchrun --standalone --nproc-per-node=2 ddp_train.py --out runs/ddp
    torchrun --nnodes=2 --nproc-per-node=1 --rdzv-backend=c10d --rdzv-endpoint=HEAD:29400 ddp_train.py --out ...

torchrun starts the processes and gives each RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT;
the backend (gloo on CPU, nccl with CUDA) comes from coursekit.distributed.backend(). Rank 0 writes
result.json in --out: the final weights, the loss per step, steps per second, the collectives' results
and the check that every rank ends with the same weights. With --checkpoint it saves every
--checkpoint-every steps and resumes from the last one after a restart (torchrun --max-restarts).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from coursekit import Timer
from coursekit.distributed import backend, mlp_init, train_data


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for result.json (rank 0 writes it)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64, help="the GLOBAL batch: each worker takes batch / world_size")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--examples", type=int, default=1024, help="training examples used (a multiple of --batch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="", help="an .npz with x and y (saves each worker loading the split itself)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--no-set-epoch", action="store_true", help="the bug: every epoch sees epoch 0's order")
    p.add_argument("--checkpoint", default="", help="checkpoint file: resume from it if present, save to it")
    p.add_argument("--checkpoint-every", type=int, default=8, help="steps between checkpoints")
    p.add_argument("--fail-at-step", type=int, default=-1, help="rank 1 kills itself at this step, first attempt only")
    return p.parse_args()


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """The training digits: from --data if given (written once by the notebook), else from coursekit."""
    if args.data:
        with np.load(args.data) as f:
            return f["x"][: args.examples], f["y"][: args.examples]
    return train_data(args.examples, args.seed)


def main() -> None:
    args = parse()
    dist.init_process_group(backend())  # reads RANK, WORLD_SIZE, MASTER_ADDR/PORT that torchrun set
    rank, world = dist.get_rank(), dist.get_world_size()
    cuda = dist.get_backend() == "nccl"
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    dtype = getattr(torch, args.dtype)
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if args.batch % world:
        raise SystemExit(f"the global batch {args.batch} does not split over {world} workers")

    # Collectives on tensors small enough to check by hand (section 2 of the lesson).
    t = torch.tensor([rank + 1.0, 10.0 * (rank + 1)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)  # every rank: the sum over ranks
    b = torch.tensor([100.0 + rank], device=device)
    dist.broadcast(b, src=0)  # every rank: rank 0's value
    gathered = [torch.zeros(1, device=device) for _ in range(world)]
    dist.all_gather(gathered, torch.tensor([float(rank)], device=device))
    collectives = {"all_reduce": t.tolist(), "broadcast": b.tolist(), "all_gather": [g.item() for g in gathered]}

    # Every rank builds the same model from the same NumPy weights; DDP also broadcasts rank 0's at wrap time.
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)).to(device, dtype)
    with torch.no_grad():
        for param, w in zip(model.parameters(), mlp_init(args.seed), strict=True):
            param.copy_(torch.from_numpy(np.ascontiguousarray(w.T if w.ndim == 2 else w)))
    local_copy = copy.deepcopy(model)  # no DDP hooks: for a gradient of this rank's data alone
    ddp = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()

    x, y = load_data(args)
    data = TensorDataset(torch.from_numpy(x).to(dtype), torch.from_numpy(y))
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=args.seed, drop_last=True)
    loader = DataLoader(data, batch_size=args.batch // world, sampler=sampler, drop_last=True)
    steps_per_epoch = len(loader)

    step = 0
    if args.checkpoint and Path(args.checkpoint).exists():  # a restart: every rank loads the same file
        state = torch.load(args.checkpoint, map_location=device, weights_only=True)
        ddp.module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
    resumed_from = step

    # All-reduce during backward: this rank's own gradient vs the one DDP leaves after backward.
    xb, yb = next(iter(loader))
    loss_fn(local_copy(xb.to(device)), yb.to(device)).backward()
    local_grad = local_copy[0].weight.grad.detach().clone()
    local_loss = loss_fn(local_copy(xb.to(device)), yb.to(device)).item()
    loss_fn(ddp(xb.to(device)), yb.to(device)).backward()
    synced_grad = ddp.module[0].weight.grad.detach().clone()
    optimizer.zero_grad()
    locals_ = [torch.zeros_like(local_grad) for _ in range(world)]
    dist.all_gather(locals_, local_grad)
    grad_mean_diff = (torch.stack(locals_).mean(0) - synced_grad).abs().max().item()
    losses_ = [torch.zeros(1, device=device, dtype=torch.float64) for _ in range(world)]
    dist.all_gather(losses_, torch.tensor([local_loss], device=device, dtype=torch.float64))

    losses, timed_steps = [], 0
    timer = Timer("torch", str(device))
    total = args.epochs * steps_per_epoch
    with timer:
        while step < total:
            epoch, skip = divmod(step, steps_per_epoch)
            if not args.no_set_epoch:
                sampler.set_epoch(epoch)  # without it, every epoch replays epoch 0's order
            for i, (xb, yb) in enumerate(loader):
                if i < skip:
                    continue  # the steps of this epoch done before the checkpoint
                if step == args.fail_at_step and rank == 1 and restart == 0:
                    os.kill(os.getpid(), signal.SIGKILL)  # a worker dies, as a lost machine would
                optimizer.zero_grad()
                loss = loss_fn(ddp(xb.to(device)), yb.to(device))
                loss.backward()  # DDP all-reduces (averages) the gradients bucket by bucket, during backward
                optimizer.step()
                step += 1
                timed_steps += 1
                losses.append(loss.detach())
                if args.checkpoint and step % args.checkpoint_every == 0:
                    if rank == 0:  # one writer; the others wait at the barrier, so nobody reads a half file
                        tmp = args.checkpoint + ".tmp"
                        torch.save(
                            {"model": ddp.module.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, tmp
                        )
                        os.replace(tmp, args.checkpoint)
                    dist.barrier()

    weights = [p.detach().cpu().double() for p in ddp.module.parameters()]
    flat = torch.cat([w.flatten() for w in weights]).to(device)
    every = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(every, flat)
    rank_diff = max((e - flat).abs().max().item() for e in every)
    # Each rank's own mean loss per step, averaged over the ranks: the global batch's mean loss.
    step_losses = torch.stack(losses).double().to(device) if losses else torch.zeros(0, device=device)
    dist.all_reduce(step_losses, op=dist.ReduceOp.SUM)
    if rank == 0:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        result = {
            "framework": "torch",
            "world_size": world,
            "backend": dist.get_backend(),
            "device": str(device),
            "threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""),
            "restart": restart,
            "resumed_from_step": resumed_from,
            "steps": step,
            "steps_per_epoch": steps_per_epoch,
            "steps_per_s": timed_steps / timer.elapsed if timed_steps else 0.0,
            "losses": (step_losses / world).tolist(),
            "weights": [w.numpy().T.tolist() if w.ndim == 2 else w.numpy().tolist() for w in weights],
            "rank_weight_max_diff": rank_diff,
            "collectives": collectives,
            "local_losses_step0": [v.item() for v in losses_],
            "grad_mean_vs_ddp_max_diff": grad_mean_diff,
        }
        (out / "result.json").write_text(json.dumps(result))
    # Every rank leaves together: a rank that tears down gloo while another is still busy (rank 0 writing
    # its file) can abort at exit ("terminate called without an active exception"), seen here 1 run in 5.
    # Leave together: release DDP (its reducer holds the process group), wait for every rank, then destroy.
    del ddp, optimizer
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
    # Everything is written and the process group destroyed. Leaving without the interpreter's teardown of
    # C++ objects is deliberate: with torch 2.13 and gloo, a rank sometimes aborted in that teardown
    # ("terminate called without an active exception", SIGABRT) after a complete run, in about 1 run in 8
    # here, which torchrun reports as a failed job.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
