"""What the prototype hooks share: the model behind a Runner and one pass
over the step's training data."""
import math
import time
from typing import Iterator, Tuple

import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.utils import ProgressBar
from mmseg.structures import SegDataSample
from torch import Tensor


def unwrap_model(runner):
    """The segmentor, without its DDP wrapper or test-time augmentation
    wrapper (mmseg's ``tools/test.py --tta``)."""
    model = runner.model
    if is_model_wrapper(model):
        model = model.module
    return model.module if isinstance(model, BaseTTAModel) else model


def epoch_batches(runner) -> int:
    """Batches per rank in one epoch of the step's training data.

    The train loader's own length (so ``drop_last`` counts: 500 images at
    batch 24 make 20 batches with it, 21 without), which is also what an
    epoch-based loop runs per epoch. An ``InfiniteSampler`` has no epochs:
    there, the batches of one pass over this rank's share of the data,
    rounded as ``drop_last`` says.
    """
    from mmengine.dataset import InfiniteSampler
    loader = runner.train_dataloader
    if not isinstance(getattr(loader, 'sampler', None), InfiniteSampler):
        return len(loader)
    share = math.ceil(len(loader.dataset) / get_world_size())
    if loader.drop_last:
        return max(share // loader.batch_size, 1)
    return math.ceil(share / loader.batch_size)


def iterate_epoch(runner, desc: str) -> Iterator[Tuple[Tensor, Tensor]]:
    """One pass over the step's training set (each rank its share, in
    order): preprocessed ``(inputs, labels)``, labels (N, H, W) train ids.

    A loader of its own: iterating the Runner's loader would close the
    InfiniteSampler's shared index generator that training goes on to use.
    """
    from mmengine.dataset import DefaultSampler
    from torch.utils.data import DataLoader
    model = unwrap_model(runner)
    train = runner.train_dataloader
    # the training loader's workers: decoding and augmenting a step's images
    # in the main process would make this pass wait on data
    workers = getattr(train, 'num_workers', 0)
    loader = DataLoader(
        train.dataset, batch_size=train.batch_size,
        sampler=DefaultSampler(train.dataset, shuffle=False, round_up=False),
        collate_fn=train.collate_fn, num_workers=workers,
        pin_memory=getattr(train, 'pin_memory', False),
        worker_init_fn=getattr(train, 'worker_init_fn', None))
    device = model.data_preprocessor.device
    # pinned batches go to the GPU with copies that do not wait for the
    # previous batch's forward (mmseg's preprocessor copies blocking): the
    # host prepares batch k + 1 while the GPU runs batch k
    pinned = loader.pin_memory and device.type == 'cuda'
    bar = ProgressBar(len(loader)) if get_rank() == 0 else None
    if bar is not None:
        print_log(f'{desc}: {len(loader)} batches', logger='current')
    start = time.perf_counter()
    data_s = 0.0  # time spent waiting for the loader
    batches = iter(loader)
    while True:
        tick = time.perf_counter()
        batch = next(batches, None)
        data_s += time.perf_counter() - tick
        if batch is None:
            break
        samples = batch['data_samples']
        maps = [s.gt_sem_seg.data[0] for s in samples]
        labels = torch.stack(maps, out=torch.empty(
            (len(maps), *maps[0].shape), dtype=maps[0].dtype,
            pin_memory=pinned))
        inputs = batch['inputs']
        if pinned:
            inputs = [x.to(device, non_blocking=True) for x in inputs]
        # samples without their label maps (already taken): the
        # preprocessor only reads and updates their meta information
        data = model.data_preprocessor(dict(
            inputs=inputs,
            data_samples=[SegDataSample(metainfo=s.metainfo)
                          for s in samples]), training=False)
        yield data['inputs'], labels.to(device, non_blocking=pinned)
        if bar is not None:
            bar.update()
    if bar is not None:
        print()
        print_log(f'{desc}: {len(loader)} batches in '
                  f'{time.perf_counter() - start:.1f} s (waiting for data '
                  f'{data_s:.1f} s)', logger='current')
