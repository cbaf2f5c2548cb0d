"""Evaluate one step of a class-incremental run, with mmseg's test flags.

    python tools/test.py CONFIG CHECKPOINT [--step T] [--work-dir DIR]
        [--out DIR] [--show] [--show-dir DIR] [--wait-time S] [--tta]
        [--metrics FILE] [--cfg-options k=v ...]
        [--launcher none|pytorch|slurm|mpi]

CHECKPOINT is a checkpoint (its step is read from it) or a run's work dir
(then --step, default: its last finished step). The step is evaluated on
val over the classes seen at that step, exactly as at the end of its
training: base / inc / all / hIoU and per-class IoU. The logs go to
``WORK_DIR/step_<t>/test/<timestamp>/`` of the checkpoint's run (for a
checkpoint outside a run: ``./work_dirs/<config name>/step_<t>/test/``), or
to --work-dir.
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
                        help='a checkpoint, or a run work dir (with --step)')
    parser.add_argument('--step', type=int,
                        help='step to test (default: the last finished one '
                        'of a work dir, or the checkpoint\'s own step)')
    parser.add_argument('--work-dir', help='where to write the test logs')
    parser.add_argument(
        '--out', help='the directory to save the predictions in (one PNG of '
        'train ids per image) for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir', help='directory where painted images will be saved '
        '(SHOW_DIR/vis_data/vis_image/)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--tta', action='store_true',
        help='test-time augmentation (the config\'s tta_pipeline and '
        'tta_model)')
    parser.add_argument('--metrics',
                        help='also write the step and its metrics as JSON')
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


def trigger_visualization_hook(cfg, args):
    """Draw every test image (mmseg's SegVisualizationHook and
    SegLocalVisualizer), shown and/or saved under --show-dir."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise ValueError('--show/--show-dir: the config has no '
                         "default_hooks.visualization (e.g. dict(type="
                         "'SegVisualizationHook'))")
    hook['draw'] = True
    # mmseg's hook draws every `interval` batches (default 50)
    if 'default_hooks.visualization.interval' not in (args.cfg_options or {}):
        hook['interval'] = 1
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir


def use_tta(cfg):
    """mmseg's test-time augmentation: the tta_pipeline on the test data
    (the step's label remapping follows its LoadAnnotations) and the model
    inside ``tta_model`` (mmseg's SegTTAModel averages the predictions)."""
    if not cfg.get('tta_pipeline') or not cfg.get('tta_model'):
        raise ValueError('--tta: the config has no tta_pipeline / tta_model '
                         '(mmseg\'s TestTimeAug pipeline and SegTTAModel)')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def main():
    args = parse_args()
    import cisseg  # noqa: F401
    from mmengine.dist import get_rank
    from mmengine.runner import Runner

    from cisseg.engine import StepScheduler, load_config
    from cisseg.engine.launch import setup_launcher
    from cisseg.engine.test import (resolve_checkpoint, run_dir,
                                    step_test_config)
    from cisseg.utils import atomic_write_text

    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = run_dir(args.checkpoint) or cfg.get('work_dir') or \
        osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    setup_launcher(cfg)
    scheduler = StepScheduler(cfg)
    checkpoint, step = resolve_checkpoint(scheduler, args.checkpoint,
                                          args.step)
    test_cfg = step_test_config(scheduler, checkpoint, step, args.work_dir)
    if args.show or args.show_dir:
        trigger_visualization_hook(test_cfg, args)
    if args.tta:
        use_tta(test_cfg)
    if args.out is not None:
        test_cfg.test_evaluator['output_dir'] = args.out
        test_cfg.test_evaluator['keep_results'] = True
    metrics = Runner.from_cfg(test_cfg).test()
    if args.metrics and get_rank() == 0:
        atomic_write_text(args.metrics,
                          json.dumps(dict(step=step, **metrics), indent=2))


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from cisseg.engine.launch import run_tool
    sys.exit(run_tool(main, debug='--debug' in sys.argv))
