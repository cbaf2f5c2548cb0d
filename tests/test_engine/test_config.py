"""cisseg configs are plain mmengine configs: ``Config.fromfile`` gives the
whole config that ``tools/train.py`` uses, a leaf alone describes step 0 of
its protocol, and a config read, edited and dumped trains again."""
import glob
import json
import os.path as osp
import sys

import pytest
from mmengine.config import Config

import cisseg.engine
from cisseg.datasets import build_protocol
from cisseg.engine import StepScheduler, load_config
from cisseg.engine.launch import run_tool, setup_launcher
from tests.conftest import REPO, load_script

CONFIGS = osp.join(REPO, 'configs')
DEMO = osp.join(CONFIGS, 'demo')
TRAIN = osp.join(REPO, 'tools', 'train.py')


def all_configs():
    """Every config under configs/ but the _base_ files (relative paths)."""
    return sorted(
        osp.relpath(p, CONFIGS)
        for p in glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True)
        if '_base_' not in osp.relpath(p, CONFIGS).split(osp.sep))


def is_leaf(cfg):
    return 'task' in cfg.incremental or 'steps' in cfg.incremental


def test_methods_are_configs_not_a_private_key():
    assert not osp.exists(osp.join(CONFIGS, '_base_', 'methods'))
    assert not hasattr(cisseg.engine, 'apply_method')
    # one config per (method, dataset) and the leaves over it
    folders = {osp.dirname(r) for r in all_configs()}
    assert folders == {'demo', 'finetune', 'mib', 'star', 'dkd', 'plop'}
    # + STAR-M and DKD-M (VOC config, 8 leaves each), 4 demo memory methods
    # (config + 2), DKD and PLOP (VOC and ADE20K configs and 16 leaves, demo
    # config + 2), the side-by-side leaves with the authors' architecture
    # (STAR-Basic, STAR-Lite)
    assert len(all_configs()) == \
        84 + 4 * 3 + 4 + 2 * (1 + 8) + 4 * 3 + 2 * (2 + 16 + 3) + 3 + 2


@pytest.fixture(scope='module')
def train_tool():
    return load_script(TRAIN)


def test_fromfile_is_what_train_uses(train_tool, monkeypatch, tmp_path):
    """For every config: tools/train.py hands the StepScheduler exactly
    ``Config.fromfile`` plus what the tool and the launcher set; and what
    mmseg's tools read from a leaf (classifier size, the datasets'
    protocol) is what tools/train.py gives step 0. A method's config per
    dataset has no protocol."""
    used = {}

    class Capture:

        def __init__(self, cfg, **kwargs):
            used['cfg'] = cfg

        def run(self):
            pass

    monkeypatch.setattr(cisseg.engine, 'StepScheduler', Capture)
    for rel in all_configs():
        path = osp.join(CONFIGS, rel)
        monkeypatch.setattr(sys, 'argv',
                            [TRAIN, path, '--work-dir', str(tmp_path)])
        assert run_tool(train_tool.main) == 0, rel
        cfg = Config.fromfile(path)
        assert 'method' not in cfg, rel
        assert {'model', 'train_dataloader', 'test_dataloader',
                'optim_wrapper', 'train_cfg', 'incremental',
                'default_hooks', 'visualizer', 'custom_imports'} <= set(cfg)
        assert cfg.incremental.dataset in ('voc', 'ade', 'cityscapes'), rel
        assert cfg.incremental.method, rel
        cfg.launcher, cfg.work_dir = 'none', str(tmp_path)
        setup_launcher(cfg)
        assert used.pop('cfg').to_dict() == cfg.to_dict(), rel

        loaders = [cfg.train_dataloader.dataset, cfg.test_dataloader.dataset]
        if not is_leaf(cfg):
            assert all(d.protocol is None for d in loaders), rel
            continue
        c0 = StepScheduler(cfg).config_for_step(0)
        for key in ('classes_per_step', 'num_classes'):
            assert cfg.model.decode_head[key] == \
                c0.model.decode_head[key], rel
        for loader in loaders:
            assert loader.step == 0
            assert build_protocol(**loader.protocol).to_dict() == \
                c0.test_dataloader.dataset.protocol, rel


def test_method_config_is_written_in_its_body():
    cfg = Config.fromfile(osp.join(DEMO, 'star-basic_shapes-15-1-overlap.py'))
    assert cfg.model.type == 'STARSegmentor'  # the model base says otherwise
    assert cfg.model.decode_head.formulation == 'sigmoid'
    assert cfg.model.decode_head.loss_decode.type == 'NewClassBCELoss'
    assert 'avg_non_ignore' not in cfg.model.decode_head.loss_decode
    assert cfg.custom_hooks[0].type == 'PrototypeReplayHook'
    assert cfg.incremental.method == 'star_basic'
    # the schedule's rate at t > 0 under the method's parameter groups
    inc = cfg.incremental.step_overrides.inc
    assert inc.optim_wrapper.optimizer.lr == 0.002
    assert inc.optim_wrapper.paramwise_cfg.custom_keys[
        'decode_head.conv_seg'].lr_mult == 100.0
    # STAR-Lite: STAR-Basic's config, its own hook and name
    lite = Config.fromfile(osp.join(DEMO, 'star-lite_shapes-15-1-overlap.py'))
    assert [h.type for h in lite.custom_hooks] == ['PrototypeDerivationHook']
    assert lite.incremental.method == 'star_lite'
    assert lite.model == cfg.model
    hook = lite.custom_hooks[0]
    assert (hook.counts, hook.extraction, hook.noise, hook.replay_rule) == (
        'stored', 'predicted', 'dist', 'tpami')
    # cisseg's zero-storage STAR-Lite: each change named in its hook
    zero = Config.fromfile(
        osp.join(DEMO, 'star-lite-zero_shapes-15-1-disjoint.py'))
    hook = zero.custom_hooks[0]
    assert (hook.counts, hook.extraction, hook.threshold, hook.noise) == (
        'estimated', 'filtered', 0.7, 'extracted')
    assert zero.incremental.method == 'star_lite_zero'
    assert zero.incremental.setting == 'disjoint'
    assert zero.model == cfg.model


def test_a_leaf_over_a_leaf(tmp_path):
    leaf = tmp_path / 'leaf.py'
    leaf.write_text(
        f"_base_ = ['{DEMO}/star-basic_shapes-15-1-overlap.py']\n"
        "model = dict(ocfm_loss=dict(loss_weight=1.0))\n"
        "incremental = dict(method='my_star', setting='disjoint')\n")
    cfg = Config.fromfile(str(leaf))
    assert cfg.model.ocfm_loss.loss_weight == 1.0  # the leaf wins
    assert cfg.model.sad_loss.loss_weight == 0.05  # the method's elsewhere
    assert cfg.incremental.method == 'my_star'
    assert cfg.incremental.setting == 'disjoint'
    assert cfg.incremental.task == '15-1'


def test_cfg_options_win():
    cfg = load_config(osp.join(DEMO, 'star-basic_shapes-15-1-overlap.py'),
                      {'model.sad_loss': None, 'incremental.task': '15-5'})
    assert cfg.model.sad_loss is None and cfg.incremental.task == '15-5'


def test_offline_leaf_names_its_method():
    cfg = Config.fromfile(osp.join(DEMO, 'offline_shapes.py'))
    assert cfg.incremental.method == 'offline'
    assert cfg.incremental.task == 'offline'
    assert cfg.model.decode_head.classes_per_step == [21]


def test_read_edit_dump_train(train_tool, monkeypatch, tiny_voc, tmp_path):
    """mmengine's round trip: Config.fromfile, edit, dump, tools/train.py
    on the dumped file (no _base_ left in it)."""
    cfg = Config.fromfile(osp.join(DEMO, 'star-basic_shapes-15-1-overlap.py'))
    cfg.data_root = tiny_voc
    cfg.incremental.task = '15-5'
    cfg.model.ocfm_loss.loss_weight = 1.0
    cfg.train_cfg.max_iters = 2
    cfg.incremental.step_overrides.inc.train_cfg.max_iters = 1
    cfg.train_dataloader.batch_size = 4
    dumped = str(tmp_path / 'edited.py')
    cfg.dump(dumped)
    work_dir = str(tmp_path / 'run')
    monkeypatch.setattr(sys, 'argv', [TRAIN, dumped, '--work-dir', work_dir])
    assert run_tool(train_tool.main) == 0
    with open(osp.join(work_dir, 'metrics.json')) as f:
        data = json.load(f)
    assert data['protocol']['task'] == '15-5'
    assert data['protocol']['method'] == 'star_basic'
    assert [e['step'] for e in data['steps']] == [0, 1]
    step1 = Config.fromfile(osp.join(work_dir, 'step_1', 'edited.py'))
    assert step1.model.ocfm_loss.loss_weight == 1.0
    assert step1.model.decode_head.classes_per_step == [16, 5]
