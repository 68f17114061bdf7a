#!/usr/bin/env python3
"""Trains one of the study's CIFAR-10 networks with the PyTorch reference (reference.py's models) on an image folder,
with the study's recipe as the trainer applies it (docs/design.md §3), for the fidelity comparison: ours and this
on the same GPU and the same images should end within about a point of test accuracy.

Recipe, as the trainer's: inputs /255, normalised per channel with the training set's mean and std; augmentation
zero-pads the *normalised* image by 4 and crops back at a random offset, then flips horizontally with probability
1/2; batch 32 with a smaller last batch, a new random order each epoch; SGD in the Keras form the trainer uses,
vel = 0.9 vel - lr (g + 5e-4 w), w += vel, on every trainable tensor; lr 0.01 on a per-step cosine to 0 over all
steps; evaluation in eval mode (BN running statistics, momentum 0.01, eps 1e-3) after every epoch. PyTorch's
default initial weights (the configs' weight_init: torch) and cuDNN as PyTorch configures it by default (TF32
convolutions on Ampere and later).

Data: DIR/train/<class>/*.jpg and DIR/test/<class>/*.jpg (what `java -jar trainer.jar data cifar10` writes). For the
MNIST models, `reference.py train` runs the same recipe on the IDX files.
Usage: python3 tools/pytorch/train_reference.py --config configs/cifar10/row2_resnet32_global.yaml --epochs 10 \\
           --device cuda --data-dir DIR [--metrics out.csv] [--seed 1]
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import build, load_config  # noqa: E402


def load_split(root, split):
    from PIL import Image
    base = os.path.join(root, split)
    classes = sorted(d for d in os.listdir(base) if os.path.isdir(os.path.join(base, d)))
    xs, ys = [], []
    for i, c in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(base, c))):
            with Image.open(os.path.join(base, c, f)) as im:
                xs.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
            ys.append(i)
    return np.stack(xs), np.asarray(ys, dtype=np.int64), classes


def augment(x, pad, gen):
    """Random crop of the zero-padded batch and a random horizontal flip, on the device."""
    n, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=gen)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    idx = torch.arange(n, device=x.device)[:, None, None, None]
    ch = torch.arange(c, device=x.device)[None, :, None, None]
    out = xp[idx, ch, rows, cols]
    flip = torch.rand(n, device=x.device, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def evaluate(model, x, y, batch=1000):
    """Test loss and accuracy in eval mode; as the trainer does, images whose logits are not finite (a Global layer
    can diverge in eval mode, see the README) count as wrong and are left out of the loss."""
    model.eval()
    loss, correct, finite = 0.0, 0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits, yy = model(x[i:i + batch]), y[i:i + batch]
            ok = torch.isfinite(logits).all(1)
            if ok.any():
                loss += F.cross_entropy(logits[ok], yy[ok], reduction="sum").item()
            finite += ok.sum().item()
            correct += ((logits.argmax(1) == yy) & ok).sum().item()
    model.train()
    if finite < len(x):
        print(f"  {len(x) - finite} test images diverged (logits not finite): left out of the loss", flush=True)
    return loss / max(1, finite), correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--metrics")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.01)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)

    t0 = time.time()
    xtr, ytr, classes = load_split(args.data_dir, "train")
    xte, yte, _ = load_split(args.data_dir, "test")
    mean = (xtr / 255.0).mean(axis=(0, 1, 2))
    std = (xtr / 255.0).std(axis=(0, 1, 2))

    def tensor(x):
        t = torch.from_numpy(x).to(dev).permute(0, 3, 1, 2).float() / 255
        return (t - torch.tensor(mean, device=dev, dtype=torch.float32)[None, :, None, None]) \
            / torch.tensor(std, device=dev, dtype=torch.float32)[None, :, None, None]

    xtr_t, xte_t = tensor(xtr), tensor(xte)
    ytr_t, yte_t = torch.from_numpy(ytr).to(dev), torch.from_numpy(yte).to(dev)
    print(f"data: {len(xtr)} training, {len(xte)} test images of {len(classes)} classes in "
          f"{time.time() - t0:.1f} s; mean {np.round(mean, 4)}, std {np.round(std, 4)}", flush=True)

    cfg = load_config(args.config)
    model = build(cfg).to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    vels = [torch.zeros_like(p) for p in params]
    gen = torch.Generator(device=dev)
    gen.manual_seed(args.seed)
    n = len(xtr_t)
    per_epoch = math.ceil(n / args.batch)
    total = per_epoch * args.epochs
    step = 0
    rows = ["epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds"]
    for epoch in range(1, args.epochs + 1):
        te = time.time()
        order = torch.randperm(n, device=dev, generator=gen)
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        for i in range(0, n, args.batch):
            idx = order[i:i + args.batch]
            x, y = augment(xtr_t[idx], 4, gen), ytr_t[idx]
            lr = args.lr * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
            for p in params:
                p.grad = None
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            with torch.no_grad():
                grads = [p.grad for p in params]
                torch._foreach_add_(grads, params, alpha=5e-4)
                torch._foreach_mul_(vels, 0.9)
                torch._foreach_add_(vels, grads, alpha=-lr)
                torch._foreach_add_(params, vels)
                loss_sum += loss.detach() * len(y)
                correct += (logits.argmax(1) == y).sum()
            step += 1
        if dev.type == "cuda":
            torch.cuda.synchronize()
        secs = time.time() - te
        test_loss, test_acc = evaluate(model, xte_t, yte_t)
        train_loss, train_acc = loss_sum.item() / n, correct.item() / n
        rows.append(f"{epoch},{train_loss:.6f},{train_acc:.6f},{test_loss:.6f},{test_acc:.6f},{lr:.8f},{secs:.2f}")
        print(f"epoch {epoch}/{args.epochs}: train loss {train_loss:.4f} acc {100 * train_acc:.2f}%, test loss "
              f"{test_loss:.4f} acc {100 * test_acc:.2f}%, lr {lr:.5f}, {secs:.1f} s "
              f"({n / secs:.0f} img/s; torch {torch.__version__})", flush=True)
    if args.metrics:
        with open(args.metrics, "w") as f:
            f.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
