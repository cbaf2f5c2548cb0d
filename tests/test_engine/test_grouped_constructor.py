import copy

import pytest
import torch
import torch.nn as nn

from cisseg.engine.optimizers.grouped_constructor import merge_param_groups
from tests.conftest import REPO


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.decode_head = nn.Sequential(nn.Conv2d(4, 4, 1), nn.Conv2d(4, 2, 1))


OPTIM = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, nesterov=True,
                   weight_decay=1e-2),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))


def _build(model, constructor):
    from mmengine.optim import build_optim_wrapper

    import cisseg  # noqa: F401  (registers the constructor)
    return build_optim_wrapper(model, dict(OPTIM, constructor=constructor))


def test_groups_merged_per_setting_with_the_same_updates():
    torch.manual_seed(0)
    model = _Net()
    twin = copy.deepcopy(model)
    default = _build(model, 'DefaultOptimWrapperConstructor')
    grouped = _build(twin, 'GroupedOptimWrapperConstructor')
    # mmengine: one group per parameter (conv, BN, conv, conv: 8 tensors)
    assert len(default.optimizer.param_groups) == 8
    groups = grouped.optimizer.param_groups
    assert [(g['lr'], len(g['params'])) for g in groups] == [(0.1, 4),
                                                             (1.0, 4)]
    assert groups[0]['params'][0] is twin.backbone[0].weight
    x = torch.randn(2, 3, 8, 8)
    for net, optim in ((model, default), (twin, grouped)):
        for _ in range(3):
            optim.update_params(net.decode_head(net.backbone(x)).square()
                                .mean())
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)


def test_merge_keeps_distinct_settings_apart():
    p = [nn.Parameter(torch.zeros(1)) for _ in range(4)]
    groups = [dict(params=[p[0]], lr=1.0), dict(params=[p[1]], lr=2.0),
              dict(params=[p[2]], lr=1.0, weight_decay=0.0),
              dict(params=[p[3]], lr=1.0)]
    merged = merge_param_groups(groups)
    assert [(g['lr'], g.get('weight_decay'), g['params']) for g in merged] \
        == [(1.0, None, [p[0], p[3]]), (2.0, None, [p[1]]),
            (1.0, 0.0, [p[2]])]


@pytest.mark.parametrize('schedule', ['voc_star', 'voc_mib', 'ade_star',
                                      'cityscapes', 'shapes_demo'])
def test_schedules_use_the_grouped_constructor(schedule):
    from mmengine.config import Config
    cfg = Config.fromfile(f'{REPO}/configs/_base_/schedules/{schedule}.py')
    assert cfg.optim_wrapper.constructor == 'GroupedOptimWrapperConstructor'
