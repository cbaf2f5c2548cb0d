"""The protocol's curves: mIoU_base / inc / all and hIoU against the step,
added to the config's visualizer backends after each step, in one place
per run (WORK_DIR/vis_data), beside each step's own iteration logs."""
import glob
import json
import os.path as osp

import pytest
from mmengine.config import Config

from cisseg.engine.step_scalars import add_step_scalars, step_scalars
from tests.conftest import REPO
from tests.test_tools.conftest import LEAF

VIS = osp.join(REPO, 'configs', '_base_', 'visualization')


def test_step_scalars_of_an_entry():
    entry = dict(step=2, mIoU_base=60.0, mIoU_inc=20.0, mIoU_all=50.0,
                 hIoU=30.0, per_class={'background': 90.0})
    assert step_scalars(entry) == {
        'incremental/mIoU_base': 60.0, 'incremental/mIoU_inc': 20.0,
        'incremental/mIoU_all': 50.0, 'incremental/hIoU': 30.0,
        'incremental/step': 2}
    step0 = dict(step=0, mIoU_base=70.0, mIoU_inc=None, mIoU_all=70.0,
                 hIoU=None)
    assert step_scalars(step0) == {'incremental/mIoU_base': 70.0,
                                   'incremental/mIoU_all': 70.0,
                                   'incremental/step': 0}


def test_a_run_writes_one_curve_per_key(demo_run):
    """LocalVisBackend (the default runtime's): one line per step in
    WORK_DIR/vis_data/scalars.json, the numbers of metrics.json."""
    work_dir, data = demo_run
    with open(osp.join(work_dir, 'vis_data', 'scalars.json')) as f:
        lines = [json.loads(line) for line in f]
    assert [line['step'] for line in lines] == [0, 1]
    for line, entry in zip(lines, data['steps']):
        for key in ('mIoU_base', 'mIoU_inc', 'mIoU_all', 'hIoU'):
            if entry[key] is None:
                assert f'incremental/{key}' not in line
            else:
                assert line[f'incremental/{key}'] == pytest.approx(entry[key])
    # each step's Runner keeps its own iteration logs (loss, lr)
    for step in (0, 1):
        (log, ) = glob.glob(osp.join(work_dir, f'step_{step}', '*',
                                     'vis_data', 'scalars.json'))
        with open(log) as f:
            first = json.loads(f.readline())
        assert 'loss' in first and 'lr' in first


@pytest.mark.parametrize('snippet, backend', [
    ('tensorboard.py', 'TensorboardVisBackend'),
    ('wandb.py', 'WandbVisBackend'),
])
def test_snippets(snippet, backend, tmp_path):
    # in place of default_runtime.py in a config's _base_
    cfg_file = tmp_path / 'cfg.py'
    base = osp.join(REPO, 'configs', '_base_')
    cfg_file.write_text(
        f"_base_ = ['{base}/models/deeplabv3_r18-tiny.py',\n"
        f"          '{base}/datasets/shapes_voc.py',\n"
        f"          '{base}/schedules/shapes_demo.py',\n"
        f"          '{VIS}/{snippet}']\n"
        "incremental = dict(dataset='voc', task='15-5', method='finetune')\n")
    cfg = Config.fromfile(str(cfg_file))
    types = [b.type for b in cfg.visualizer.vis_backends]
    assert types == ['LocalVisBackend', backend]
    assert cfg.custom_imports.imports == ['cisseg']  # the runtime is kept
    # or the snippet's visualizer written over a leaf
    snippet_cfg = Config.fromfile(osp.join(VIS, snippet))
    over = tmp_path / 'over.py'
    over.write_text(f"_base_ = ['{LEAF}']\n"
                    f'visualizer = {snippet_cfg.visualizer.to_dict()!r}\n')
    cfg = Config.fromfile(str(over))
    assert [b.type for b in cfg.visualizer.vis_backends] == types


def test_tensorboard_curves(tmp_path):
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    cfg = Config.fromfile(osp.join(VIS, 'tensorboard.py'))
    for step, all_ in enumerate((80.0, 70.0, 65.0)):
        add_step_scalars(cfg, str(tmp_path), dict(
            step=step, mIoU_base=all_, mIoU_inc=None if step == 0 else 40.0,
            mIoU_all=all_, hIoU=None))
    events = EventAccumulator(str(tmp_path / 'vis_data'))
    events.Reload()
    curve = events.Scalars('incremental/mIoU_all')
    assert [(e.step, e.value) for e in curve] == [(0, 80.0), (1, 70.0),
                                                 (2, 65.0)]
