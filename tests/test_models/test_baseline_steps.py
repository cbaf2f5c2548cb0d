"""DKD and PLOP at step 1 as their demo configs build them: the parameter
groups, and one training iteration on the CPU (old model untouched)."""
import copy
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.runner import load_checkpoint
from torch.utils.data import DataLoader

from cisseg.engine import StepScheduler, load_config
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import MODELS
from tests.conftest import REPO


def _samples(num, size=64, seed=0):
    """Packed random images whose labels hold rectangles of class 16 (the
    new class of step 1 of 15-1) on background, with a 255 border."""
    rng = np.random.RandomState(seed)
    pack = PackSegInputs()
    out = []
    for _ in range(num):
        label = np.zeros((size, size), np.uint8)
        y, x = rng.randint(0, size // 2, 2)
        label[y:y + size // 3, x:x + size // 3] = 16
        label[:2] = 255
        out.append(pack(dict(
            img=rng.randint(0, 256, (size, size, 3), dtype=np.uint8),
            gt_seg_map=label, img_shape=(size, size),
            ori_shape=(size, size), pad_shape=(size, size),
            scale_factor=(1.0, 1.0), flip=False, flip_direction=None,
            reduce_zero_label=False)))
    return out


def _step1(method, tmp_path):
    """The step-1 model (old model from a random step-0 checkpoint) and its
    optimizer wrapper, from configs/demo/<method>_shapes.py."""
    cfg = load_config(osp.join(REPO, 'configs', 'demo', f'{method}_shapes.py'),
                      dict(work_dir=str(tmp_path)))
    cfg.incremental.update(task='15-1', setting='overlap')
    sched = StepScheduler(cfg)
    torch.manual_seed(0)
    model0 = MODELS.build(sched.config_for_step(0).model)
    model0.init_weights()
    path = str(tmp_path / 'step0.pth')
    torch.save(dict(state_dict=model0.state_dict(), meta={}), path)
    cfg1 = sched.config_for_step(1, load_from=path)
    model = MODELS.build(cfg1.model)
    load_checkpoint(model, path, map_location='cpu', strict=False,
                    logger='silent')
    model.init_new_classifier()
    return model, build_optim_wrapper(model, cfg1.optim_wrapper), cfg1


def _groups(optim_wrapper):
    """id(param) -> (lr, weight decay) of its optimizer group."""
    out = {}
    for group in optim_wrapper.optimizer.param_groups:
        for p in group['params']:
            out[id(p)] = (group['lr'], group['weight_decay'])
    return out


def _is_bn(model, name):
    module = model.get_submodule(name.rsplit('.', 1)[0])
    return isinstance(module, torch.nn.modules.batchnorm._BatchNorm)


def _train_once(model, optim_wrapper, samples):
    old = copy.deepcopy(model.old_model.state_dict())
    before = copy.deepcopy(model.state_dict())
    model.train()
    log = model.train_step(pseudo_collate(samples), optim_wrapper)
    assert all(torch.isfinite(v) for v in log.values())
    after = model.state_dict()
    assert all(torch.equal(v, model.old_model.state_dict()[k])
               for k, v in old.items())
    return before, after, log


def test_dkd_step1_groups_and_one_iteration(tmp_path):
    model, optim_wrapper, cfg1 = _step1('dkd', tmp_path)
    assert cfg1.model.freeze_bn and cfg1.model.freeze_dropout
    groups = _groups(optim_wrapper)
    old_ids = {id(p) for p in model.old_model.parameters()}
    assert not old_ids & set(groups)
    lr = cfg1.optim_wrapper.optimizer.lr  # 0.005: the demo's t > 0 rate
    for name, p in model.named_parameters():
        if _is_bn(model, name):
            assert not p.requires_grad, name  # frozen BN
        elif name.startswith('backbone.'):
            assert groups[id(p)] == (lr, 0.0), name
        else:  # ASPP, old and new classifiers, auxiliary classifier
            assert name.startswith(('decode_head.', 'aux_classifier.'))
            assert groups[id(p)] == pytest.approx((10 * lr, 0.0)), name
    # the new classifier starts as the auxiliary one
    new = model.decode_head.conv_seg[-1]
    assert torch.equal(new.weight, model.aux_classifier.weight)

    before, after, log = _train_once(model, optim_wrapper, _samples(4))
    assert {'loss_kd', 'loss_dkd_pos', 'loss_dkd_neg', 'loss_ac',
            'decode.loss_bce'} <= set(log)
    # old and new classifiers and the auxiliary one learn; BN does not
    for name in ('decode_head.conv_seg.0.weight',
                 'decode_head.conv_seg.1.weight', 'aux_classifier.weight'):
        assert not torch.equal(before[name], after[name]), name
    bn_state = [k for k in after if _is_bn(model, k)]
    assert bn_state and all(torch.equal(before[k], after[k])
                            for k in bn_state)


def test_plop_step1_groups_thresholds_and_one_iteration(tmp_path):
    from cisseg.engine.hooks import PseudoLabelThresholdHook
    model, optim_wrapper, cfg1 = _step1('plop', tmp_path)
    groups = _groups(optim_wrapper)
    assert not {id(p) for p in model.old_model.parameters()} & set(groups)
    lr = cfg1.optim_wrapper.optimizer.lr
    wd = cfg1.optim_wrapper.optimizer.weight_decay
    for name, p in model.named_parameters():
        assert p.requires_grad, name  # PLOP freezes nothing
        assert groups[id(p)] == (lr, wd), name  # one learning rate
    with torch.no_grad():  # four backbone stages and the head features
        maps, _ = model.pod_maps(model, torch.rand(2, 3, 64, 64))
    assert len(maps) == 5
    # MiB's initialisation: background and the new class share background's
    bg, new = model.decode_head.conv_seg[0], model.decode_head.conv_seg[1]
    assert torch.equal(new.weight[0], bg.weight[0])

    samples = _samples(6)
    loader = DataLoader(samples, batch_size=4, collate_fn=pseudo_collate)
    hook = [h for h in cfg1.custom_hooks
            if h['type'] == 'PseudoLabelThresholdHook']
    assert hook, 'the PLOP config has the threshold hook'
    PseudoLabelThresholdHook(num_bins=hook[0]['num_bins']).before_train(
        SimpleNamespace(model=model, train_dataloader=loader))
    assert model.pseudo_thresholds.shape == (16, )
    assert (model.pseudo_thresholds >= 0.001).all()

    before, after, log = _train_once(model, optim_wrapper, samples[:4])
    assert {'loss_ce', 'loss_pod'} <= set(log)
    assert not torch.equal(before['decode_head.conv_seg.1.weight'],
                           after['decode_head.conv_seg.1.weight'])
    # BN is not frozen: its statistics move
    stats = [k for k in after if k.endswith('running_mean')]
    assert any(not torch.equal(before[k], after[k]) for k in stats)
