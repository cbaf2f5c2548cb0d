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
from mmseg.models.data_preprocessor import SegDataPreProcessor
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
    pre = model.data_preprocessor
    device = pre.device
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
        samples, images = batch['data_samples'], batch['inputs']
        labels = stack_to(device, [s.gt_sem_seg.data[0] for s in samples],
                          pinned)
        if _plain_preprocessor(pre, images):
            yield normalize_batch(pre, stack_to(device, images, pinned)), \
                labels
        else:
            # samples without their label maps (already taken): the
            # preprocessor only reads and updates their meta information
            data = pre(dict(
                inputs=[x.to(device, non_blocking=pinned) for x in images],
                data_samples=[SegDataSample(metainfo=s.metainfo)
                              for s in samples]), training=False)
            yield data['inputs'], labels
        if bar is not None:
            bar.update()
    if bar is not None:
        print()
        print_log(f'{desc}: {len(loader)} batches in '
                  f'{time.perf_counter() - start:.1f} s (waiting for data '
                  f'{data_s:.1f} s)', logger='current')


def stack_to(device, tensors, pinned: bool = False) -> Tensor:
    """Same-shape host tensors as one batch on ``device``: stacked (into
    pinned memory if ``pinned``) and sent in one copy that, pinned, does
    not wait for the GPU's queued work."""
    out = torch.empty((len(tensors), *tensors[0].shape),
                      dtype=tensors[0].dtype, pin_memory=pinned)
    return torch.stack(tensors, out=out).to(device, non_blocking=pinned)


def _plain_preprocessor(pre, images) -> bool:
    """Whether ``pre`` is mmseg's own SegDataPreProcessor without test-time
    padding and the images share one shape: then :func:`normalize_batch`
    gives what it gives at test time."""
    return type(pre) is SegDataPreProcessor and not pre.test_cfg and \
        all(x.shape == images[0].shape for x in images)


def normalize_batch(pre, inputs: Tensor) -> Tensor:
    """mmseg's SegDataPreProcessor at test time on an (N, C, H, W) uint8
    batch already on the device: BGR -> RGB, float, (x - mean) / std, the
    same values. Its own code indexes each image's channels with a Python
    list, whose index tensor reaches the GPU by a blocking copy (a host-
    device sync per image); a flip of the channel dimension does not."""
    if pre.channel_conversion and inputs.size(1) == 3:
        inputs = inputs.flip(1)
    inputs = inputs.float()
    if pre._enable_normalize:
        inputs = (inputs - pre.mean) / pre.std
    return inputs
