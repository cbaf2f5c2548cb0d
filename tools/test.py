"""Evaluate one step of an incremental run on val.

    python tools/test.py CONFIG WORK_DIR --step T
    python tools/test.py CONFIG CHECKPOINT            (step read from it)

Prints base / inc / all / hIoU and per-class IoU over the classes seen at
that step, computed exactly as at the end of training.
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(
        description='Test a step of a class-incremental run')
    parser.add_argument('config', help='the run config file')
    parser.add_argument('checkpoint',
                        help='the run work dir (with --step) or a checkpoint')
    parser.add_argument('--step', type=int,
                        help='step to test (default: the last finished one '
                        'of WORK_DIR, or the checkpoint\'s own step)')
    parser.add_argument('--work-dir', help='where to write the test logs')
    parser.add_argument('--out', help='write the metrics as JSON here')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--debug', action='store_true',
                        help='show the traceback of errors')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    import cisseg  # noqa: F401
    from cisseg.engine import StepScheduler, load_config
    from cisseg.engine.launch import setup_launcher
    from cisseg.engine.test import test_step

    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    run_dir = args.checkpoint if osp.isdir(args.checkpoint) else None
    cfg.work_dir = run_dir or osp.dirname(osp.abspath(args.checkpoint))
    setup_launcher(cfg)
    scheduler = StepScheduler(cfg)
    metrics, step = test_step(scheduler, args.checkpoint, args.step,
                              work_dir=args.work_dir)
    from mmengine.dist import get_rank
    if args.out and get_rank() == 0:
        with open(args.out, 'w') as f:
            json.dump(dict(step=step, **metrics), f, indent=2)


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from cisseg.engine.launch import run_tool
    sys.exit(run_tool(main, debug='--debug' in sys.argv))
