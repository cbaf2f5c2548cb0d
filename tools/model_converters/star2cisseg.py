"""Convert a checkpoint of the STAR authors' code to a cisseg checkpoint.

    python tools/model_converters/star2cisseg.py CONFIG SRC DST --step T

SRC is a ``checkpoint-epoch*.pth`` that jinpeng0528/STAR or STAR-TPAMI
saved after step T (``models/<setting>_<task>_<name>/step_<T>/``); CONFIG
the cisseg config of the same protocol with their architecture (the paper
configs, or the r18-authors demo config). DST can then be evaluated with
``tools/test.py CONFIG DST`` or started from (``load_from``). Their DeepLabV3
maps layer by layer onto mmseg's ``ResNet`` (torchvision layout) and
``IncrementalASPPHead(aspp_layout='torchvision')`` (their classifier per
step has one output per foreground class of the step, as cisseg's sigmoid
formulation). Every tensor must find its place with its shape, else the
conversion stops with the keys that did not.
"""
import argparse
import os.path as osp
import re
import sys
import tempfile
import uuid
from collections import OrderedDict
from typing import Dict

import torch

# the ASPP branches of their head -> mmseg's ASPPHead module names
_ASPP = [
    (r'aspp\.convs\.([0-3])\.0\.', r'decode_head.aspp_modules.\1.conv.'),
    (r'aspp\.convs\.([0-3])\.1\.', r'decode_head.aspp_modules.\1.bn.'),
    (r'aspp\.convs\.4\.1\.', 'decode_head.image_pool.1.conv.'),
    (r'aspp\.convs\.4\.2\.', 'decode_head.image_pool.1.bn.'),
    (r'aspp\.project\.0\.', 'decode_head.bottleneck.0.conv.'),
    (r'aspp\.project\.1\.', 'decode_head.bottleneck.0.bn.'),
    (r'aspp\.last_conv\.0\.', 'decode_head.bottleneck.2.conv.'),
    (r'aspp\.last_conv\.1\.', 'decode_head.bottleneck.2.bn.'),
    (r'cls\.(\d+)\.', r'decode_head.conv_seg.\1.'),
]


def convert_key(key: str) -> str:
    """cisseg's name for one of their state-dict keys."""
    if key.startswith('module.'):  # saved from DistributedDataParallel
        key = key[len('module.'):]
    if key.startswith('backbone.'):
        return key  # torchvision's ResNet names are mmseg ResNet's
    for pattern, repl in _ASPP:
        new, n = re.subn('^' + pattern, repl, key)
        if n:
            return new
    raise KeyError(f'{key}: not a key of the authors\' DeepLabV3 '
                   '(backbone, aspp, cls)')


def convert_state_dict(state: Dict[str, torch.Tensor]
                       ) -> 'OrderedDict[str, torch.Tensor]':
    """Their model's state dict in cisseg's names."""
    return OrderedDict((convert_key(k), v) for k, v in state.items())


def parse_args():
    parser = argparse.ArgumentParser(
        description="Convert a STAR authors' checkpoint to cisseg's")
    parser.add_argument('config', help='the cisseg config of the protocol')
    parser.add_argument('src', help="their checkpoint-epoch*.pth")
    parser.add_argument('dst', help='the cisseg checkpoint to write')
    parser.add_argument('--step', type=int, required=True,
                        help='the step SRC was saved after')
    return parser.parse_args()


def main():
    args = parse_args()
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))))
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    from cisseg.engine import StepScheduler, load_config
    from cisseg.engine.step_scheduler import config_fingerprint
    from cisseg.utils import atomic_torch_save
    register_all_modules()

    if not osp.isfile(args.src):
        raise FileNotFoundError(f'{args.src}: no such checkpoint')
    src = torch.load(args.src, map_location='cpu', weights_only=False)
    if not isinstance(src, dict) or 'state_dict' not in src:
        raise ValueError(f"{args.src}: not a checkpoint of the authors' "
                         "code (no 'state_dict')")
    cfg = load_config(args.config)
    # the scheduler only names paths under it: nothing is written there
    cfg.work_dir = cfg.get('work_dir') or osp.join(tempfile.gettempdir(),
                                                   'star2cisseg')
    scheduler = StepScheduler(cfg)
    if not 0 <= args.step < scheduler.protocol.num_steps:
        raise ValueError(f'--step {args.step}: the protocol has steps '
                         f'0..{scheduler.protocol.num_steps - 1}')
    step_cfg = scheduler.config_for_step(
        args.step, 'step_t-1.pth' if args.step else None)
    step_cfg.model.pop('old_checkpoint', None)
    step_cfg.model.backbone.init_cfg = None  # nothing to download
    model = MODELS.build(step_cfg.model)
    state = convert_state_dict(src['state_dict'])
    want = model.state_dict()
    missing = sorted(set(want) - set(state))
    extra = sorted(set(state) - set(want))
    shapes = [f'{k}: {tuple(v.shape)} vs {tuple(want[k].shape)}'
              for k, v in state.items()
              if k in want and v.shape != want[k].shape]
    if missing or extra or shapes:
        raise ValueError(
            f'{args.src} does not fit {args.config} at step {args.step}: '
            f'missing {missing[:3]}, unexpected {extra[:3]}, shapes '
            f'{shapes[:3]} (is it their DeepLabV3 of the same protocol, '
            'backbone depth and step?)')
    head = model.decode_head
    stamp = dict(
        step=args.step, protocol=scheduler.protocol.to_dict(),
        classes_per_step=list(head.classes_per_step),
        formulation=head.formulation,
        run=scheduler.run_identity(step_cfg), id=uuid.uuid4().hex,
        parent=None,
        config=config_fingerprint(step_cfg),
        converted_from=osp.abspath(args.src))
    atomic_torch_save(dict(meta=dict(cisseg=stamp), state_dict=state),
                      args.dst)
    print(f'{args.dst}: step {args.step} of {scheduler.protocol.task} '
          f'({len(state)} tensors)')


if __name__ == '__main__':
    main()
