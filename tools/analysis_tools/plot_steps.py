"""Per-step mIoU curves of one or more runs, and a comparison table.

    python tools/analysis_tools/plot_steps.py WORK_DIR [WORK_DIR ...]
        [--out steps.png]

Runs of the same method and protocol (e.g. seeds) also get a table of
their mean and min-max at the last step. Runs that store an exemplar memory
or prototypes get their size per step in the tables and a storage panel.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
from cisseg.visualization.step_plots import (comparison_table,  # noqa: E402
                                             load_run, plot_runs,
                                             run_key, seeds_table,
                                             steps_table)


def main():
    parser = argparse.ArgumentParser(description='Plot per-step mIoU')
    parser.add_argument('work_dirs', nargs='+',
                        help='work dirs (or metrics.json files) of runs')
    parser.add_argument('--out', default='steps.png', help='output PNG')
    args = parser.parse_args()
    try:
        runs = [load_run(d) for d in args.work_dirs]
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
    for r in runs:
        print(f"\n{r['name']}:\n{steps_table(r)}")
    print('\nlast step:\n' + comparison_table(runs))
    if len({run_key(r) for r in runs}) < len(runs):
        print('\nlast step, over runs of one method and protocol:\n' +
              seeds_table(runs))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    print(f'\nplot: {plot_runs(runs, args.out)}')


if __name__ == '__main__':
    main()
