"""Train a whole class-incremental protocol, step after step.

    python tools/train.py CONFIG [--work-dir DIR] [--steps A-B]
        [--resume | --overwrite]
        [--amp] [--auto-scale-lr] [--cfg-options k=v ...]
        [--launcher none|pytorch|slurm]
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(
        description='Train a class-incremental protocol (all steps)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--steps', help="run only steps 'A-B' (or 'A')")
    parser.add_argument(
        '--resume', action='store_true', default=False,
        help='skip finished steps and resume an unfinished one from its '
        'latest checkpoint')
    parser.add_argument(
        '--overwrite', action='store_true', default=False,
        help='train the steps again although their folders hold '
        'checkpoints of an earlier run (they are removed)')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true', default=False,
        help='scale the learning rates by the total batch (batch_size x '
        'processes) over the config\'s auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
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
    import cisseg  # noqa: F401  (registers modules)
    from cisseg.engine import StepScheduler, load_config
    from cisseg.engine.launch import setup_launcher

    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise ValueError('--amp: mixed precision (AmpOptimWrapper) '
                             'needs a CUDA GPU; none is available')
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP training is already enabled in your config.')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if not (cfg.get('auto_scale_lr') or {}).get('base_batch_size'):
            raise ValueError('--auto-scale-lr: the config has no '
                             'auto_scale_lr.base_batch_size (the batch its '
                             'learning rates are for)')
        cfg.auto_scale_lr.enable = True
    setup_launcher(cfg)
    StepScheduler(cfg, steps=args.steps, resume=args.resume,
                  overwrite=args.overwrite).run()


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from cisseg.engine.launch import run_tool
    sys.exit(run_tool(main, debug='--debug' in sys.argv))
