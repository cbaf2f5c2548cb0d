"""False-positive maps of one or more steps of an incremental run.

    python tools/analysis_tools/visualize_false_positives.py CONFIG WORK_DIR \
        --step 1 5 [--images NAME ...] [--topk 3] [--out-dir DIR]

For each step T: predicts every val image with the step-T checkpoint of
WORK_DIR, splits the wrong pixels into "new class over old class", "new
class over background" and "other", prints the share of each kind over the
val set, saves a panel (image | ground truth | prediction | false-positive
map) for the images named by --images or the --topk images with most wrong
pixels, and a bar chart of the shares (one group per step).
"""
import argparse
import heapq
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='False-positive maps of steps of a class-incremental run')
    parser.add_argument('config', help='the run config file')
    parser.add_argument('work_dir', help='the run work dir (with '
                        'metrics.json and step_<t>/ checkpoints)')
    parser.add_argument('--step', type=int, nargs='+',
                        help='steps to analyse (default: the last finished '
                        'one)')
    parser.add_argument('--images', nargs='+', default=[],
                        help='val image names (file name without extension) '
                        'to draw panels of')
    parser.add_argument('--topk', type=int, default=3,
                        help='also draw the N images with most wrong pixels '
                        '(0: none). Default: 3')
    parser.add_argument('--rank-by', default='errors',
                        choices=['errors', 'new_over_old', 'new_over_bg',
                                 'other'],
                        help='what --topk ranks images by. Default: errors '
                        '(all wrong pixels)')
    parser.add_argument('--out-dir', help='where to write the PNGs and '
                        'fp_shares.json (default: WORK_DIR/false_positives)')
    parser.add_argument('--add-shares', nargs='+', default=[],
                        help='fp_shares.json files of earlier runs of this '
                        'tool (e.g. another method) to add to the table and '
                        'bar chart')
    parser.add_argument('--shares-of', default='errors',
                        choices=['errors', 'pixels'],
                        help='bar chart in %% of wrong pixels (errors) or '
                        'of labelled pixels (pixels). Default: errors')
    parser.add_argument('--device', help="'cpu' or 'cuda' (default: cuda "
                        'when available)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override some settings in the used config')
    parser.add_argument('--debug', action='store_true',
                        help='show the traceback of errors')
    return parser.parse_args(argv)


def _rank_key(counts: Dict[str, int], rank_by: str) -> int:
    from cisseg.visualization import FP_KINDS
    if rank_by == 'errors':
        return sum(counts[k] for k in FP_KINDS)
    return counts[rank_by]


def analyse_step(scheduler, work_dir: str, step: int, args,
                 out_dir: str) -> dict:
    """Predict val with the step's checkpoint, count the error kinds and draw
    the panels; returns :func:`accumulate_false_positives`'s dict plus
    ``panels`` (the PNGs written)."""
    import mmcv
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.runner import load_checkpoint
    from mmengine.utils import ProgressBar
    from torch.utils.data import DataLoader

    from mmseg.registry import DATASETS, MODELS

    from cisseg.engine.test import resolve_checkpoint
    from cisseg.visualization import (count_false_positives,
                                      false_positive_shares, render_panel)

    checkpoint, step = resolve_checkpoint(scheduler, work_dir, step)
    scheduler.check_checkpoint(checkpoint, step)
    cfg = scheduler.config_for_step(step, checkpoint, test_only=True)
    num_old = scheduler.protocol.num_seen(step - 1) if step > 0 else 0

    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                    logger='silent')
    model.to(device).eval()

    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    meta = dataset.metainfo
    loader = DataLoader(dataset, batch_size=cfg.test_dataloader.batch_size,
                        shuffle=False, num_workers=0,
                        collate_fn=pseudo_collate)
    wanted = set(args.images)
    names = {osp.splitext(osp.basename(dataset.get_data_info(i)['img_path']))
             [0] for i in range(len(dataset))}
    missing = wanted - names  # before the pass over every val image
    if missing:
        raise ValueError(f'--images: {sorted(missing)} are not val images of '
                         f'{cfg.test_dataloader.dataset.dataset.data_root}'
                         f' at step {step}')
    found = {}
    top: list = []  # min-heap of (rank, index, name, pred, gt, path)
    total: Dict[str, int] = {}
    num = 0
    print(f'step {step}: {len(dataset)} val images, {num_old} old and '
          f'{len(meta["classes"]) - num_old} new train ids, checkpoint '
          f'{checkpoint}')
    bar = ProgressBar(len(dataset))
    with torch.no_grad():
        for batch in loader:
            for sample in model.test_step(batch):
                pred = sample.pred_sem_seg.data[0].cpu().numpy()
                gt = sample.gt_sem_seg.data[0].cpu().numpy()
                counts = count_false_positives(pred, gt, num_old)
                for k, v in counts.items():
                    total[k] = total.get(k, 0) + v
                path = sample.metainfo['img_path']
                name = osp.splitext(osp.basename(path))[0]
                item = (_rank_key(counts, args.rank_by), num, name,
                        pred.astype('uint8'), gt.astype('uint8'), path)
                if name in wanted:
                    found[name] = item
                if args.topk > 0:
                    if len(top) < args.topk:
                        heapq.heappush(top, item)
                    elif item[:2] > top[0][:2]:
                        heapq.heapreplace(top, item)
                num += 1
                bar.update()
    print()
    chosen = [found[n] for n in args.images]
    chosen += [t for t in sorted(top, key=lambda t: (-t[0], t[1]))
               if t[2] not in wanted]
    panels = []
    for _, _, name, pred, gt, path in chosen:
        image = mmcv.imread(path, channel_order='rgb')
        out = osp.join(out_dir, f'step{step}_{name}.png')
        render_panel(image, gt, pred, num_old, meta['palette'], out,
                     title=f'{scheduler.method} step {step}: {name}',
                     class_names=meta['classes'])
        panels.append(out)
    return dict(counts=total, shares=false_positive_shares(total),
                num_images=num, step=step, checkpoint=checkpoint,
                panels=panels)


def main(argv: Optional[List[str]] = None) -> Dict[str, dict]:
    """Run the tool; returns {'step T': result of :func:`analyse_step`}."""
    args = parse_args(argv)
    import cisseg  # noqa: F401
    from mmseg.utils import register_all_modules

    from cisseg.engine import StepScheduler, load_config
    from cisseg.engine.launch import setup_launcher
    from cisseg.visualization import plot_shares, shares_table

    register_all_modules(init_default_scope=True)
    if not osp.isdir(args.work_dir):
        raise FileNotFoundError(f'{args.work_dir}: work dir not found')
    if not osp.isfile(osp.join(args.work_dir, 'metrics.json')):
        raise FileNotFoundError(
            f"{osp.join(args.work_dir, 'metrics.json')}: not found; is "
            f'{args.work_dir} the work dir of a cisseg run?')
    cfg = load_config(args.config, args.cfg_options)
    cfg.work_dir = args.work_dir
    cfg.launcher = 'none'
    setup_launcher(cfg)
    scheduler = StepScheduler(cfg)
    out_dir = args.out_dir or osp.join(args.work_dir, 'false_positives')
    os.makedirs(out_dir, exist_ok=True)

    added = []
    for path in args.add_shares:
        if not osp.isfile(path):
            raise FileNotFoundError(f'--add-shares {path}: not found')
        with open(path) as f:
            data = json.load(f)
        if 'method' not in data or 'steps' not in data:
            raise ValueError(f"--add-shares {path}: expected an fp_shares."
                             "json of this tool (with 'method' and 'steps')")
        added.append(data)

    results = {}
    for step in (args.step or [None]):
        res = analyse_step(scheduler, args.work_dir, step, args, out_dir)
        results[f"step {res['step']}"] = res
    with open(osp.join(out_dir, 'fp_shares.json'), 'w') as f:
        json.dump(dict(method=scheduler.method, steps=results), f, indent=2)

    rows = {}
    for data in added + [dict(method=scheduler.method, steps=results)]:
        for key, res in data['steps'].items():
            rows[f"{data['method']} {key}"] = res
    print(f'\nshare of wrong pixels per kind:\n{shares_table(rows)}')
    if added:
        groups = {k.replace(' step', '\nstep'): v for k, v in rows.items()}
        title = 'kinds of wrong pixels'
    else:
        groups = results
        title = f'{scheduler.method}: kinds of wrong pixels'
    chart = plot_shares(groups, osp.join(out_dir, 'fp_shares.png'),
                        title=title, of=args.shares_of)
    panels = [p for r in results.values() for p in r['panels']]
    print(f'\npanels: {len(panels)} in {out_dir}\nbar chart: {chart}')
    return results


if __name__ == '__main__':
    debug = '--debug' in sys.argv
    try:
        main()
    except (ValueError, FileNotFoundError, KeyError) as e:
        if debug:
            raise
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
