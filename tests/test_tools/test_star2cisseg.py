"""tools/model_converters/star2cisseg.py: the authors' DeepLabV3 state dict
in cisseg's names, stamped as a step of a cisseg protocol."""
import os.path as osp
import sys

import pytest
import torch

from tests.conftest import REPO, load_script

CONFIG = osp.join(REPO, 'configs', 'demo',
                  'star-basic_r18-authors_shapes-15-1-overlap.py')


def _tool():
    path = osp.join(REPO, 'tools', 'model_converters', 'star2cisseg.py')
    return load_script(path)


def test_key_table():
    tool = _tool()
    table = {
        'module.backbone.layer4.1.bn2.running_var':
            'backbone.layer4.1.bn2.running_var',
        'backbone.conv1.weight': 'backbone.conv1.weight',
        'aspp.convs.0.0.weight': 'decode_head.aspp_modules.0.conv.weight',
        'aspp.convs.3.1.bias': 'decode_head.aspp_modules.3.bn.bias',
        'aspp.convs.4.1.weight': 'decode_head.image_pool.1.conv.weight',
        'aspp.convs.4.2.running_mean':
            'decode_head.image_pool.1.bn.running_mean',
        'aspp.project.0.weight': 'decode_head.bottleneck.0.conv.weight',
        'aspp.project.1.weight': 'decode_head.bottleneck.0.bn.weight',
        'aspp.last_conv.0.weight': 'decode_head.bottleneck.2.conv.weight',
        'aspp.last_conv.1.num_batches_tracked':
            'decode_head.bottleneck.2.bn.num_batches_tracked',
        'cls.0.bias': 'decode_head.conv_seg.0.bias',
        'cls.12.weight': 'decode_head.conv_seg.12.weight',
    }
    for theirs, ours in table.items():
        assert tool.convert_key(theirs) == ours
    with pytest.raises(KeyError, match='aux.weight: not a key'):
        tool.convert_key('aux.weight')


def _theirs(key):
    """The inverse of the table above, for a cisseg state dict."""
    for ours, theirs in (
            ('decode_head.image_pool.1.conv.', 'aspp.convs.4.1.'),
            ('decode_head.image_pool.1.bn.', 'aspp.convs.4.2.'),
            ('decode_head.bottleneck.0.conv.', 'aspp.project.0.'),
            ('decode_head.bottleneck.0.bn.', 'aspp.project.1.'),
            ('decode_head.bottleneck.2.conv.', 'aspp.last_conv.0.'),
            ('decode_head.bottleneck.2.bn.', 'aspp.last_conv.1.'),
            ('decode_head.conv_seg.', 'cls.')):
        key = key.replace(ours, theirs)
    for i in range(4):
        key = key.replace(f'decode_head.aspp_modules.{i}.conv.',
                          f'aspp.convs.{i}.0.')
        key = key.replace(f'decode_head.aspp_modules.{i}.bn.',
                          f'aspp.convs.{i}.1.')
    return key


def test_converted_checkpoint_is_a_cisseg_step(tmp_path, monkeypatch):
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    from cisseg.engine import StepScheduler, load_config
    register_all_modules()
    cfg = load_config(CONFIG)
    cfg.work_dir = str(tmp_path / 'run')
    scheduler = StepScheduler(cfg)
    torch.manual_seed(0)
    model = MODELS.build(scheduler.config_for_step(0).model)
    ours = model.state_dict()
    src = str(tmp_path / 'checkpoint-epoch34.pth')
    torch.save(dict(state_dict={'module.' + _theirs(k): v
                                for k, v in ours.items()}, epoch=34), src)
    dst = str(tmp_path / 'step0.pth')
    tool = _tool()
    monkeypatch.setattr(sys, 'argv', ['star2cisseg.py', CONFIG, src, dst,
                                      '--step', '0'])
    tool.main()
    ckpt = torch.load(dst, map_location='cpu', weights_only=False)
    assert set(ckpt['state_dict']) == set(ours)
    for k, v in ours.items():
        assert torch.equal(ckpt['state_dict'][k], v), k
    stamp = ckpt['meta']['cisseg']
    assert stamp['step'] == 0 and stamp['classes_per_step'] == [16]
    assert stamp['run']['method'] == 'star_basic'
    # tools/test.py's check accepts it as step 0 of this protocol ...
    assert scheduler.check_checkpoint(dst, 0)['converted_from'] == src
    # ... also under a config that differs (only noted, not refused)
    other = load_config(CONFIG, {'model.decode_head.dropout_ratio': 0.2})
    other.work_dir = cfg.work_dir
    StepScheduler(other).check_checkpoint(dst, 0)
    # ... and refuses it as step 1
    with pytest.raises(ValueError, match='expected step 1'):
        scheduler.check_checkpoint(dst, 1)
    # a step-0 model is not step 1's (no classifier of step 1)
    monkeypatch.setattr(sys, 'argv', ['star2cisseg.py', CONFIG, src, dst,
                                      '--step', '1'])
    with pytest.raises(ValueError, match=r"missing \['decode_head.conv_seg.1"):
        tool.main()
