"""Run STAR's component ablation on any STAR config and print the table.

    python tools/ablation.py CONFIG --work-dir DIR
        [--variants full no_pr no_bpr no_ocfm no_sad] [--steps A-B]
        [--cfg-options k=v ...] [--table-only]

Each variant is one `tools/train.py` run (with --resume, so an interrupted
ablation goes on where it stopped) in DIR/<variant>, with the component
switched off through --cfg-options; the table compares their last steps.
The components act from step 1 on, so the variants start from a copy of the
full run's step 0 (its checkpoint, prototypes and metrics.json entry)
unless --no-reuse-step0 is given.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from cisseg.engine.ablation import (ABLATION_PRESETS,  # noqa: E402
                                    ablation_table, parse_variants,
                                    reuse_step0)


def main():
    parser = argparse.ArgumentParser(description='STAR component ablation')
    parser.add_argument('config')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--variants', nargs='+',
                        default=list(ABLATION_PRESETS))
    parser.add_argument('--steps')
    parser.add_argument('--cfg-options', nargs='+', default=[])
    parser.add_argument('--table-only', action='store_true',
                        help='only print the table of finished variants')
    parser.add_argument('--no-reuse-step0', action='store_true',
                        help="train every variant's step 0 again")
    args = parser.parse_args()
    try:
        variants = parse_variants(args.variants)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
    train = osp.join(osp.dirname(osp.abspath(__file__)), 'train.py')
    results = {}
    for name in variants:
        work_dir = osp.join(args.work_dir, name)
        if not args.table_only and not args.no_reuse_step0 and \
                name != 'full':
            reuse_step0(osp.join(args.work_dir, 'full'), work_dir)
        if not args.table_only:
            cmd = [sys.executable, train, args.config, '--work-dir',
                   work_dir, '--resume']
            if args.steps:
                cmd += ['--steps', args.steps]
            opts = ABLATION_PRESETS[name] + args.cfg_options
            if opts:
                cmd += ['--cfg-options'] + opts
            print('running: ' + ' '.join(cmd), flush=True)
            if subprocess.call(cmd) != 0:
                print(f'error: variant {name} failed', file=sys.stderr)
                sys.exit(1)
        metrics = osp.join(work_dir, 'metrics.json')
        if osp.exists(metrics):
            with open(metrics) as f:
                results[name] = json.load(f)
    if not results:
        print(f'error: no finished variant under {args.work_dir}',
              file=sys.stderr)
        sys.exit(1)
    print(ablation_table(results))


if __name__ == '__main__':
    main()
