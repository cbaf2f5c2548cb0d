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


def _seg_runner(n, batch, shuffle):
    """A training loader of ``n`` packed images (image i: pixels and label
    filled with i) behind a model with mmseg's preprocessor."""
    import numpy as np
    import torch
    from mmengine.dataset import pseudo_collate
    from mmseg.datasets.transforms import PackSegInputs
    from mmseg.models.data_preprocessor import SegDataPreProcessor
    pack = PackSegInputs()
    data = [pack(dict(img=np.full((6, 8, 3), i, np.uint8),
                      gt_seg_map=np.full((6, 8), i, np.uint8),
                      img_shape=(6, 8), ori_shape=(6, 8)))
            for i in range(n)]
    loader = DataLoader(data, batch_size=batch, collate_fn=pseudo_collate,
                        sampler=DefaultSampler(data, shuffle=shuffle, seed=1))
    pre = SegDataPreProcessor(mean=[1.0, 2.0, 3.0], std=[2.0, 4.0, 8.0],
                              bgr_to_rgb=True)
    model = torch.nn.Module()
    model.data_preprocessor = pre
    return SimpleNamespace(model=model, train_dataloader=loader), data, pre


def test_iterate_epoch_yields_each_image_once_preprocessed():
    import torch
    from mmengine.dataset import pseudo_collate

    from cisseg.engine.hooks.utils import iterate_epoch
    runner, data, pre = _seg_runner(7, 3, shuffle=True)
    got = list(iterate_epoch(runner, 'test pass'))
    # in order, all of them, the last batch short (no drop_last, no
    # round-up), though training shuffles
    assert [x.shape[0] for x, _ in got] == [3, 3, 1]
    labels = torch.cat([y for _, y in got])
    assert labels.shape == (7, 6, 8) and labels.dtype == torch.int64
    assert labels[:, 0, 0].tolist() == list(range(7))
    inputs = torch.cat([x for x, _ in got])
    expected = pre(pseudo_collate(data), training=False)['inputs']
    assert torch.equal(inputs, expected)
    # image 2: (2 - mean) / std, channels reversed (BGR -> RGB)
    assert inputs[2, :, 0, 0].tolist() == [0.5, 0.0, -0.125]


@pytest.mark.parametrize('options', [
    dict(mean=[1.0, 2.0, 3.0], std=[2.0, 4.0, 8.0], bgr_to_rgb=True),
    dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
    dict(bgr_to_rgb=True), dict()])
def test_normalize_batch_equals_mmseg_preprocessor(options):
    # bit for bit: the passes' batched preprocessing against mmseg's
    import torch
    from mmseg.models.data_preprocessor import SegDataPreProcessor

    from cisseg.engine.hooks.utils import normalize_batch, stack_to
    pre = SegDataPreProcessor(**options)
    gen = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, 5, 7), generator=gen,
                            dtype=torch.uint8) for _ in range(3)]
    expected = pre(dict(inputs=images), training=False)['inputs']
    got = normalize_batch(pre, stack_to('cpu', images))
    assert got.dtype == expected.dtype and torch.equal(got, expected)


def test_iterate_epoch_keeps_a_preprocessor_of_its_own():
    # test-time padding (test_cfg) is the preprocessor's: 6 x 8 images come
    # out padded to 16 x 16, as mmseg's preprocessor pads them
    import torch
    from mmengine.dataset import pseudo_collate
    from mmseg.models.data_preprocessor import SegDataPreProcessor

    from cisseg.engine.hooks.utils import iterate_epoch
    runner, data, _ = _seg_runner(4, 4, shuffle=False)
    pre = SegDataPreProcessor(mean=[1.0, 2.0, 3.0], std=[2.0, 4.0, 8.0],
                              test_cfg=dict(size_divisor=16))
    runner.model.data_preprocessor = pre
    (inputs, labels), = list(iterate_epoch(runner, 'test pass'))
    assert inputs.shape == (4, 3, 16, 16) and labels.shape == (4, 6, 8)
    expected = pre(pseudo_collate(data), training=False)['inputs']
    assert torch.equal(inputs, expected)
