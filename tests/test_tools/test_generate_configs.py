"""The papers' leaf configs: in sync with the generator's table, and every
hyper-parameter as the papers give it (numbers from the STAR papers, the
STAR and MiB authors' configs and scripts)."""
import os
import os.path as osp

import pytest

from cisseg.engine import StepScheduler, load_config
from tests.conftest import REPO, load_script

CONFIGS = osp.join(REPO, 'configs')


def _generator():
    path = osp.join(REPO, 'tools', 'misc', 'generate_configs.py')
    return load_script(path)


def test_committed_leaves_equal_the_generator_output():
    gen = _generator()
    assert gen.check(CONFIGS) == []
    # papers: 4 methods x (VOC 12 + ADE 4 + Cityscapes 2) + 3 offline, STAR-M
    # and DKD-M on the 8 VOC protocols of the authors' scripts, DKD and PLOP
    # on VOC and ADE20K; demo: 11 methods x 2 settings + offline
    assert len(gen.leaves()) == \
        4 * (12 + 4 + 2) + 3 + 2 * 8 + 2 * (12 + 4) + 11 * 2 + 1
    # every leaf's base (a method's config per dataset) is in the repository
    for rel, text in gen.leaves().items():
        base = text.split("_base_ = ['./")[1].split("'")[0]
        assert osp.isfile(osp.join(CONFIGS, osp.dirname(rel), base)), rel


def test_check_reports_missing_changed_and_stale_files(tmp_path):
    gen = _generator()
    out = str(tmp_path)
    assert gen.write(out) == len(gen.leaves())
    assert gen.check(out) == []
    leaf = osp.join(out, 'mib',
                    'mib_deeplabv3-r101_1xb24_voc-15-1-overlap-512x512.py')
    with open(leaf, 'a') as f:
        f.write('# hand edit\n')
    os.remove(osp.join(out, 'star', 'star-lite_deeplabv3-r101_1xb24_voc-2-2-'
                       'disjoint-512x512.py'))
    stale = osp.join(out, 'mib',
                     'mib_deeplabv3-r101_1xb24_voc-7-7-overlap-512x512.py')
    with open(stale, 'w') as f:
        f.write(gen.HEADER)
    with open(osp.join(out, 'mib', 'hand_written.py'), 'w') as f:
        f.write('x = 1\n')  # not generated: left alone
    problems = gen.check(out)
    assert len(problems) == 3
    assert problems[0].endswith('voc-15-1-overlap-512x512.py: differs from '
                                'the table')
    assert any(p.endswith('2-2-disjoint-512x512.py: missing')
               for p in problems)
    assert any(p.endswith('7-7-overlap-512x512.py: generated but not in the '
                          'table any more') for p in problems)
    gen.write(out)
    assert gen.check(out) == [] and not osp.exists(stale)
    assert osp.exists(osp.join(out, 'mib', 'hand_written.py'))


# (method prefix, dataset) -> lr step 0, lr t>0, epochs, batch, crop,
# decode-head lr_mult at step 0, weight decay
SCHEDULES = {
    ('star', 'voc'): (1e-3, 1e-4, 60, 24, (512, 512), 10.0, 1e-4),
    ('star', 'ade'): (2.5e-3, 2.5e-4, 100, 24, (512, 512), 10.0, 1e-4),
    ('star', 'cityscapes'): (5e-3, 5e-4, 60, 24, (512, 512), 10.0, 1e-4),
    ('mib', 'voc'): (1e-2, 1e-3, 30, 24, (512, 512), None, 1e-4),
    ('mib', 'ade'): (1e-2, 1e-3, 60, 24, (512, 512), None, 1e-4),
    ('mib', 'cityscapes'): (1e-2, 1e-3, 108, 24, (512, 512), None, 5e-4),
    # cvlab-yonsei/DKD configs/config_*.json and scripts (batch 8 x 4 GPUs
    # on VOC, 6 x 4 on ADE20K)
    ('dkd', 'voc'): (1e-3, 1e-4, 60, 32, (512, 512), 10.0, 1e-4),
    ('dkd', 'ade'): (2.5e-3, 2.5e-4, 100, 24, (512, 512), 10.0, 1e-4),
    # arthurdouillard/CVPR2021_PLOP scripts (MiB's schedule)
    ('plop', 'voc'): (1e-2, 1e-3, 30, 24, (512, 512), None, 1e-4),
    ('plop', 'ade'): (1e-2, 1e-3, 60, 24, (512, 512), None, 1e-4),
}


@pytest.mark.parametrize(
    'rel', sorted(r for r in _generator().leaves() if not
                  r.startswith('demo' + os.sep)))
def test_leaf_hyper_parameters(rel, tmp_path):
    name = osp.basename(rel)[:-3]
    # mmseg's naming: <method>_<model>_<GPUs>xb<batch>_<dataset...>-<crop>
    method, model, gpus_batch, rest = name.split('_')
    rest, crop_name = rest.rsplit('-', 1)
    dataset, task = rest.split('-', 1)
    setting = 'overlap'
    for s in ('overlap', 'disjoint'):
        if task.endswith('-' + s):
            task, setting = task[:-len(s) - 1], s
    cfg = load_config(osp.join(CONFIGS, rel), dict(work_dir=str(tmp_path)))
    assert model == 'deeplabv3-r101'
    inc = cfg.incremental
    assert (inc.dataset, inc.task, inc.get('setting', 'overlap')) == (
        dataset, task, setting)
    assert inc.method == {'star-basic': 'star_basic', 'star-lite':
                          'star_lite', 'star-basic-m': 'star_basic_m',
                          'dkd-m': 'dkd_m'}.get(method, method)
    if method.endswith('-m'):  # the exemplar memory of the papers' -M rows
        assert inc.memory.size == 50
    bb = cfg.model.backbone
    assert (bb.type, bb.depth, bb.strides, bb.dilations) == (
        'ResNet', 101, (1, 2, 2, 1), (1, 1, 1, 2))
    assert bb.init_cfg.checkpoint == 'torchvision://resnet101'
    assert bb.norm_cfg.type == 'SyncBN'
    head = cfg.model.decode_head
    assert head.dilations == (1, 6, 12, 18) and head.channels == 256
    assert 'auxiliary_head' not in cfg.model
    if method.startswith('star'):
        assert head.formulation == 'sigmoid'
        assert head.loss_decode.pos_weight == (30.0 if dataset == 'ade'
                                               else 4.0)
    if method.startswith('dkd'):  # pos_weight: 2 on VOC, 35 on ADE20K
        assert head.formulation == 'sigmoid'
        assert head.loss_decode.pos_weight == (35.0 if dataset == 'ade'
                                               else 2.0)
    if method == 'plop':  # POD on the four stages, the head on the last
        assert head.formulation == 'softmax'
        assert bb.out_indices == (0, 1, 2, 3) and head.in_index == 3
        pod = cfg.model.pod_loss
        assert (pod.loss_weight, pod.logits_weight) == (
            (1e-3, 1e-5) if dataset == 'ade' else (1e-2, 5e-4))
        assert [h.type for h in cfg.custom_hooks] == [
            'PseudoLabelThresholdHook']
    key = ('dkd' if method.startswith('dkd') else
           method if method == 'plop' else
           'star' if method.startswith('star') else 'mib', dataset)
    lr0, lr1, epochs, batch, crop, head_mult, wd = SCHEDULES[key]
    # the name's batch and crop are the config's
    assert gpus_batch == f'1xb{batch}' == \
        f'1xb{cfg.train_dataloader.batch_size}'
    assert crop_name == f'{crop[0]}x{crop[1]}' == \
        'x'.join(map(str, cfg.crop_size))
    sched = StepScheduler(cfg)
    c0 = sched.config_for_step(0)
    opt = c0.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == (
        'SGD', lr0, 0.9, wd)
    assert opt.get('nesterov', False) is (dataset != 'cityscapes'
                                          or key[0] == 'star')
    keys = c0.optim_wrapper.get('paramwise_cfg', {}).get('custom_keys', {})
    assert keys.get('decode_head', {}).get('lr_mult') == head_mult
    assert c0.train_cfg == dict(type='EpochBasedTrainLoop',
                                max_epochs=epochs)
    poly = c0.param_scheduler[-1]
    assert (poly.type, poly.power, poly.end, poly.by_epoch) == (
        'PolyLR', 0.9, epochs, True)
    if key in (('star', 'ade'), ('dkd', 'ade')):  # warm-up: 20% of a step
        warm = c0.param_scheduler[0]
        assert (warm.type, warm.start_factor, warm.end) == (
            'LinearLR', 1e-3, 20)
    else:
        assert len(c0.param_scheduler) == 1
    loader = c0.train_dataloader
    assert loader.batch_size == batch and loader.drop_last is True
    crops = [t.size for t in loader.dataset.dataset.pipeline
             if t.type == 'RandomResizedCrop']
    assert crops == [crop]
    if task != 'offline':
        c1 = sched.config_for_step(1, 'prev.pth')
        assert c1.optim_wrapper.optimizer.lr == lr1
        assert c1.train_cfg.max_epochs == (
            10 if key == ('plop', 'voc') and task == '10-1' else epochs)
        if method == 'dkd':  # x10 and no weight decay but on the backbone
            keys = c1.optim_wrapper.paramwise_cfg.custom_keys
            assert keys['backbone'] == dict(decay_mult=0.0)
            for k in ('decode_head', 'aux_classifier'):
                assert keys[k] == dict(lr_mult=10.0, decay_mult=0.0)
            assert c1.model.freeze_bn is True
            assert c1.model.decode_head.loss_decode.pos_weight == (
                35.0 if dataset == 'ade' else 1.0)
        if method.startswith('star'):
            keys = c1.optim_wrapper.paramwise_cfg.custom_keys
            assert keys['decode_head.conv_seg'].lr_mult == 100.0
            assert c1.model.freeze_bn is True
