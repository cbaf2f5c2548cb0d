"""STAR-Lite's recognition side on a checkpoint's classifiers: the authors'
optimiser against cisseg's, per-class cosine and time.

    python tools/analysis_tools/recognition_side.py CHECKPOINT
        [--authors-iters 500000] [--iters 50000 --lr 2.5e-3] [--device cpu]

The authors' loop is run as STAR-TPAMI's compute_prototype.py writes it
(autograd, ``torch.optim.AdamW`` at lr 2.5e-4 and weight decay 0.01 from
zeros, clamp at 0, the X after the step of the lowest loss so far);
cisseg's is :func:`recognition_prototypes`. Prints each one's time and the
cosine of cisseg's unit prototypes to the authors' (min and mean over
classes), and the authors' at every tenth of their run against their last.
"""
import argparse
import os.path as osp
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
from cisseg.models.utils import recognition_prototypes  # noqa: E402


def classifiers(path: str, device: str):
    """Weights (K, C) and biases (K, ) of every step's classifier."""
    from cisseg.engine.checkpoint import safe_load  # weights_only=True
    state = safe_load(path, map_location='cpu')
    state = state.get('state_dict', state)
    names = [k for k in state if k.startswith('decode_head.conv_seg.')
             and k.endswith('.weight')]
    if not names:
        sys.exit(f'error: {path}: no decode_head.conv_seg.<i>.weight')
    names.sort(key=lambda k: int(k.split('.')[2]))
    weight = torch.cat([state[k].flatten(1) for k in names])
    bias = torch.cat([state[k[:-len('weight')] + 'bias'] for k in names])
    return weight.float().to(device), bias.float().to(device)


def authors_loop(weight, bias, iters: int, snapshots: int = 10):
    """Their optimiser; returns the unit result at every 1/snapshots."""
    k, c = weight.shape
    x = torch.zeros(k, c, device=weight.device, requires_grad=True)
    opt = torch.optim.AdamW([x], lr=2.5e-4, weight_decay=0.01)
    target = torch.eye(k, device=weight.device)
    best_loss, best, snaps = float('inf'), None, []
    for it in range(1, iters + 1):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(
            x @ weight.t() + bias, target)
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0)
        if loss.item() < best_loss:
            best_loss, best = loss.item(), F.normalize(x.detach(), dim=1)
        if it % max(iters // snapshots, 1) == 0:
            snaps.append((it, best.clone()))
    return snaps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint')
    parser.add_argument('--authors-iters', type=int, default=500000)
    parser.add_argument('--iters', type=int, default=50000)
    parser.add_argument('--lr', type=float, default=2.5e-3)
    parser.add_argument('--anneal', action='store_true')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    weight, bias = classifiers(args.checkpoint, args.device)
    print(f'{weight.shape[0]} classes x {weight.shape[1]} channels')

    def timed(fn, *a, **kw):
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn(*a, **kw)
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        return out, time.perf_counter() - start

    ours, t_ours = timed(recognition_prototypes, weight, bias, args.iters,
                         args.lr, anneal=args.anneal)
    snaps, t_theirs = timed(authors_loop, weight, bias, args.authors_iters)
    ref = snaps[-1][1]
    for it, p in snaps:
        cos = (p * ref).sum(1)
        print(f'authors at {it:>7d}: cosine to their last min '
              f'{cos.min():.4f} mean {cos.mean():.4f}')
    cos = (ours * ref).sum(1)
    print(f'authors: {args.authors_iters} steps, {t_theirs:.1f} s')
    print(f'cisseg: {args.iters} steps at lr {args.lr:g}'
          f"{' annealed' if args.anneal else ''}, {t_ours:.1f} s "
          f'({t_ours / t_theirs:.1%} of theirs): cosine to theirs min '
          f'{cos.min():.4f} mean {cos.mean():.4f}')


if __name__ == '__main__':
    main()
