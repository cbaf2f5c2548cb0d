from types import SimpleNamespace

import pytest
from mmengine.dataset import DefaultSampler, InfiniteSampler
from torch.utils.data import DataLoader

from cisseg.engine.hooks.utils import epoch_batches


def _runner(n, batch, drop_last, sampler_type):
    data = list(range(n))
    sampler = sampler_type(data, shuffle=True, seed=0)
    loader = DataLoader(data, batch_size=batch, sampler=sampler,
                        drop_last=drop_last)
    return SimpleNamespace(train_dataloader=loader)


@pytest.mark.parametrize('drop_last,expected', [(True, 20), (False, 21)])
def test_epoch_batches_is_the_loader_length(drop_last, expected):
    # 500 images at batch 24: the loader runs 20 batches with drop_last
    # (the authors' loaders), 21 without
    runner = _runner(500, 24, drop_last, DefaultSampler)
    assert epoch_batches(runner) == expected
    assert epoch_batches(runner) == len(runner.train_dataloader)
    assert sum(1 for _ in runner.train_dataloader) == expected


@pytest.mark.parametrize('drop_last,expected', [(True, 20), (False, 21)])
def test_epoch_batches_of_an_infinite_sampler(drop_last, expected):
    runner = _runner(500, 24, drop_last, InfiniteSampler)
    assert epoch_batches(runner) == expected
    assert epoch_batches(_runner(400, 8, drop_last, InfiniteSampler)) == 50
