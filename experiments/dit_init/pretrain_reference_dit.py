"""Pretrain the reference DiT (facebookresearch/DiT key names) class-conditionally on all MNIST train+val images.

    python experiments/dit_init/pretrain_reference_dit.py --steps 800 --out experiments/dit_init/work/dit_tiny_mnist.pt

Size = hddm's `tiny` (hidden 128, depth 4, 4 heads, patch 4), 28x28x1 input, learn_sigma=True (2 output channels),
num_classes=10 with class dropout 0.1 (so the null-class row exists). Objective: DDPM epsilon prediction on hddm's
continuous cosine schedule x_t = cos(pi t/2) x0 + sin(pi t/2) eps, t ~ U(0, 1), fed to the network as DiT's timestep
t_model = 999 t (exactly hddm's objective=ddpm). The loss is the MSE on the first C (epsilon) output channels only;
the learned-variance channels get no gradient (DiT trains them with the VLB term; hddm drops them at conversion).

--exclude-digits 3 (an ablation) also removes every image of digit 3, so the DiT never sees the expert's cluster.
By default the validation slice of the target expert (cluster --holdout-cluster of the label-mod-K partition, chosen
exactly as hddm.lit.data.ExpertDataModule does) is removed from the pretraining pool, so the expert's validation
loss is measured on images neither model has seen. --holdout-cluster -1 pretrains on literally every image.
Writes a plain state_dict (torch.save) and a small JSON log next to it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from hddm.data.embedded import mnist_pool
from hddm.models.dit import get_dit_size
from hddm.models.reference_dit import ReferenceDiT

TIME_SCALE = 999.0


def cache_dir() -> str:
    return os.environ.get("HDDM_CACHE", str(Path.home() / ".cache" / "hddm"))


def expert_val_members(
    labels: np.ndarray, cluster: int, num_clusters: int, seed: int, val_fraction: float, val_max_items: int
) -> np.ndarray:
    """Pool indices of the expert's validation items: ExpertDataModule.setup's rule on a label_mod_k partition."""
    members = np.nonzero(labels % num_clusters == cluster)[0]
    order = np.random.default_rng(seed).permutation(len(members))
    n_val = min(val_max_items, max(1, int(len(members) * val_fraction)))
    return members[order[:n_val]]


def cosine_noisy(x0, eps, t):
    tb = t.view(-1, 1, 1, 1)
    return torch.cos(0.5 * math.pi * tb) * x0 + torch.sin(0.5 * math.pi * tb) * eps


@torch.no_grad()
def eval_loss(model, images, labels, seed, batch=128, null_class=False):
    """Epsilon MSE with fixed (seeded) t and noise: comparable across calls."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total, n = 0.0, 0
    for start in range(0, len(images), batch):
        x0 = images[start : start + batch]
        y = labels[start : start + batch]
        if null_class:
            y = torch.full_like(y, model.num_classes)
        t = torch.rand(len(x0), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        out = model(cosine_noisy(x0, eps, t), TIME_SCALE * t, y)
        total += (out[:, : model.in_channels] - eps).pow(2).flatten(1).mean(1).sum().item()
        n += len(x0)
    model.train()
    return total / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="experiments/dit_init/work/dit_tiny_mnist.pt")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup-steps", type=int, default=100, help="linear warm-up, as the hddm experts (0: none)")
    parser.add_argument("--grad-clip", type=float, default=1.0, help="as the hddm experts' trainer (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--class-dropout", type=float, default=0.1)
    parser.add_argument("--holdout-cluster", type=int, default=3, help="-1: hold nothing out")
    parser.add_argument("--num-clusters", type=int, default=10)
    parser.add_argument("--expert-seed", type=int, default=0, help="the expert run's seed (it picks its val slice)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="the expert run's data.val_fraction")
    parser.add_argument("--val-max-items", type=int, default=512, help="the expert run's data.val_max_items")
    parser.add_argument(
        "--exclude-digits",
        type=int,
        nargs="*",
        default=[],
        help="ablation: also drop every image of these digits from the pretraining pool",
    )
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    images, labels = mnist_pool(cache_dir(), "trainval")  # uint8 [60000, 28, 28], int64 [60000]
    x_all = torch.from_numpy(images)[:, None].float() / 127.5 - 1.0  # hddm's pixel scaling, [-1, 1]
    y_all = torch.from_numpy(labels)
    keep = np.ones(len(images), dtype=bool)
    held_out = np.array([], dtype=np.int64)
    if args.holdout_cluster >= 0:
        held_out = expert_val_members(
            labels, args.holdout_cluster, args.num_clusters, args.expert_seed, args.val_fraction, args.val_max_items
        )
        keep[held_out] = False
    for digit in args.exclude_digits:
        keep[labels == digit] = False
    train_idx = torch.from_numpy(np.nonzero(keep)[0])
    print(
        f"pretrain pool: {len(train_idx)} images (60000 MNIST train+val minus {len(held_out)} held-out validation "
        f"images of cluster {args.holdout_cluster}, minus digits {args.exclude_digits}); "
        f"digits {sorted(set(labels[keep].tolist()))}",
        flush=True,
    )

    size = get_dit_size(args.model)
    model = ReferenceDiT(size, 28, 1, num_classes=10, class_dropout_prob=args.class_dropout, learn_sigma=True)
    optimizer = torch.optim.AdamW((p for p in model.parameters() if p.requires_grad), lr=args.lr, weight_decay=0.0)
    warmup = max(1, args.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup))
    g = torch.Generator().manual_seed(args.seed)
    perm, cursor = torch.randperm(len(train_idx), generator=g), 0
    log, running, started = [], [], time.time()
    model.train()
    for step in range(1, args.steps + 1):
        if cursor + args.batch_size > len(perm):
            perm, cursor = torch.randperm(len(train_idx), generator=g), 0
        idx = train_idx[perm[cursor : cursor + args.batch_size]]
        cursor += args.batch_size
        x0, y = x_all[idx], y_all[idx]
        t = torch.rand(len(x0), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        out = model(cosine_noisy(x0, eps, t), TIME_SCALE * t, y, train=True, generator=g)
        loss = (out[:, : model.in_channels] - eps).pow(2).mean()  # epsilon channels only: variance gets no gradient
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        scheduler.step()
        running.append(loss.item())
        if step % args.log_every == 0 or step == args.steps:
            entry = {"step": step, "train_loss": float(np.mean(running)), "seconds": round(time.time() - started, 1)}
            running = []
            log.append(entry)
            print(json.dumps(entry), flush=True)

    seconds = time.time() - started
    summary = {
        "steps": args.steps,
        "seconds": round(seconds, 1),
        "args": vars(args),
        "pool_size": int(len(train_idx)),
        "held_out": int(len(held_out)),
        "log": log,
    }
    if len(held_out):
        hx, hy = x_all[torch.from_numpy(held_out)], y_all[torch.from_numpy(held_out)]
        summary["held_out_eps_mse_class_conditional"] = eval_loss(model, hx, hy, seed=1)
        summary["held_out_eps_mse_null_class"] = eval_loss(model, hx, hy, seed=1, null_class=True)
        print(
            f"held-out epsilon MSE: class-conditional {summary['held_out_eps_mse_class_conditional']:.4f}, "
            f"null class {summary['held_out_eps_mse_null_class']:.4f}",
            flush=True,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)  # a plain state_dict in DiT's format (pos_embed included, as DiT saves it)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"saved {out} ({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
