import os.path as osp

from cisseg.engine import load_config
from tests.conftest import REPO

DEMO = osp.join(REPO, 'configs', 'demo')


def test_method_overrides_bases():
    cfg = load_config(osp.join(DEMO, 'star-basic_shapes-15-1-overlap.py'))
    assert 'method' not in cfg
    assert cfg.model.type == 'STARSegmentor'  # the model base says otherwise
    assert cfg.model.decode_head.formulation == 'sigmoid'
    assert cfg.model.decode_head.loss_decode.type == 'NewClassBCELoss'
    assert 'avg_non_ignore' not in cfg.model.decode_head.loss_decode
    assert cfg.custom_hooks[0].type == 'PrototypeReplayHook'
    assert cfg.incremental.method == 'star_basic'


def test_leaf_overrides_method(tmp_path):
    leaf = tmp_path / 'leaf.py'
    leaf.write_text(
        f"_base_ = ['{DEMO}/star-basic_shapes-15-1-overlap.py']\n"
        "model = dict(ocfm_loss=dict(loss_weight=1.0))\n"
        "incremental = dict(method='my_star', setting='disjoint')\n")
    cfg = load_config(str(leaf))
    assert cfg.model.ocfm_loss.loss_weight == 1.0  # leaf wins over method
    assert cfg.model.sad_loss.loss_weight == 0.05  # method kept elsewhere
    assert cfg.incremental.method == 'my_star'
    assert cfg.incremental.setting == 'disjoint'
    # the intermediate leaf (the overlap demo) still applies too
    assert cfg.incremental.task == '15-1'
    # and the STAR demo schedule's rate at t > 0 under the method's groups
    assert cfg.incremental.step_overrides.inc.optim_wrapper.optimizer.lr == \
        0.002
    assert cfg.incremental.step_overrides.inc.optim_wrapper.paramwise_cfg \
        .custom_keys['decode_head.conv_seg'].lr_mult == 100.0


def test_cfg_options_win():
    cfg = load_config(osp.join(DEMO, 'star-basic_shapes-15-1-overlap.py'),
                      {'model.sad_loss': None, 'incremental.task': '15-5'})
    assert cfg.model.sad_loss is None and cfg.incremental.task == '15-5'


def test_offline_leaf_names_its_method():
    cfg = load_config(osp.join(DEMO, 'offline_shapes.py'))
    assert cfg.incremental.method == 'offline'
    assert cfg.incremental.task == 'offline'
