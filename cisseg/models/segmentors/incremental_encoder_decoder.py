"""EncoderDecoder that knows its step and holds the previous step's model."""
import copy
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn
from mmengine.runner import CheckpointLoader
from torch import Tensor

from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList

from ..utils.class_argmax import class_argmax


@MODELS.register_module()
class IncrementalEncoderDecoder(EncoderDecoder):
    """Encoder-decoder for class-incremental segmentation (fine-tuning).

    Its decode head has one classifier per step (``classes_per_step``). At
    step t > 0 it holds a frozen copy of the step t-1 model: eval mode, no
    gradients, moved with this model (``.to``/``.cuda``) but not part of its
    ``state_dict`` or ``parameters()``, so checkpoints and DDP see only the
    current model. Subclasses (MiB, STAR) change :meth:`loss`.

    Args:
        old_checkpoint (str, optional): checkpoint of step t-1; the frozen
            old model is built from this model's config minus the last
            classifier and loaded from it (strict).
        freeze_bn (bool): freeze BatchNorm entirely while training: its
            running statistics (eval mode) and its weight and bias (no
            gradient, so no optimizer update, weight decay included), as
            the STAR authors' ``--freeze_bn`` does at t > 0.
        freeze_dropout (bool): keep dropout off while training.
        freeze_old_classifiers (bool): no gradient to the classifiers of
            earlier steps.
        init_new_classifier (str): how :meth:`init_new_classifier` sets the
            new classifier at the start of step t > 0: 'none' (keep the
            config's init), 'kaiming' or 'background' (MiB).
        **kwargs: arguments of :class:`EncoderDecoder`.
    """

    def __init__(self,
                 backbone: ConfigType,
                 decode_head: ConfigType,
                 old_checkpoint: Optional[str] = None,
                 freeze_bn: bool = False,
                 freeze_dropout: bool = False,
                 freeze_old_classifiers: bool = False,
                 init_new_classifier: str = 'none',
                 neck: OptConfigType = None,
                 **kwargs) -> None:
        if init_new_classifier not in ('none', 'kaiming', 'background'):
            raise ValueError("model.init_new_classifier must be 'none', "
                             "'kaiming' or 'background', got "
                             f'{init_new_classifier!r}')
        super().__init__(backbone=backbone, decode_head=decode_head,
                         neck=neck, **kwargs)
        formulation = getattr(self.decode_head, 'formulation', None)
        if init_new_classifier == 'background' and formulation != 'softmax':
            raise ValueError("model.init_new_classifier='background' (MiB) "
                             "needs decode_head.formulation='softmax' (a "
                             f'background logit), got {formulation!r}')
        self._old_cfg = dict(backbone=copy.deepcopy(backbone),
                             decode_head=copy.deepcopy(decode_head),
                             neck=copy.deepcopy(neck),
                             test_cfg=kwargs.get('test_cfg'))
        self.freeze_bn = freeze_bn
        if freeze_bn:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.requires_grad_(False)
        self.freeze_dropout = freeze_dropout
        self.init_new_classifier_mode = init_new_classifier
        self._old_model: Optional['IncrementalEncoderDecoder'] = None
        if freeze_old_classifiers:
            for conv in self.decode_head.conv_seg[:-1]:
                conv.requires_grad_(False)
        if old_checkpoint is not None:
            self.load_old_model(old_checkpoint)

    # ---------------------------------------------------------------- step
    @property
    def step(self) -> int:
        return self.decode_head.step

    @property
    def old_model(self) -> Optional['IncrementalEncoderDecoder']:
        return self._old_model

    @property
    def num_old_classes(self) -> int:
        """Train ids seen before this step (background included)."""
        return sum(self.decode_head.classes_per_step[:-1])

    def build_old_model(self) -> 'IncrementalEncoderDecoder':
        """An untrained model with the architecture of step t-1."""
        if self.step == 0:
            raise ValueError('step 0 has no previous model')
        cfg = copy.deepcopy(self._old_cfg)
        head = cfg['decode_head']
        head['classes_per_step'] = head['classes_per_step'][:-1]
        head['num_classes'] = sum(head['classes_per_step'])
        cfg['backbone'].pop('init_cfg', None)  # weights come from the ckpt
        cfg['backbone'].pop('pretrained', None)
        return IncrementalEncoderDecoder(**cfg)

    def load_old_model(self, filename: str) -> None:
        """Build the step t-1 model and load ``filename`` into it."""
        old = self.build_old_model()
        ckpt = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
        state = ckpt.get('state_dict', ckpt)
        state = {k: v for k, v in state.items()
                 if not k.startswith('data_preprocessor.')}
        expected = old.state_dict()
        wrong = [k for k in expected
                 if k in state and state[k].shape != expected[k].shape]
        missing = [k for k in expected if k not in state]
        if wrong or missing:
            sizes = old.decode_head.logits_per_step
            raise ValueError(
                f'{filename}: not a checkpoint of step {self.step - 1} of '
                f'this protocol (expected classifiers of sizes {sizes}; '
                f'mismatched: {(wrong + missing)[:3]})')
        old.load_state_dict(state, strict=False)
        self.set_old_model(old)

    def set_old_model(self, model: nn.Module) -> None:
        """Hold ``model`` as the frozen previous-step model.

        It only ever runs in eval mode, so its BatchNorm layers are folded
        into the preceding convolutions (``fuse_conv_bn``): the same outputs
        for a cheaper forward, the main cost STAR and MiB add to a step.
        """
        model.eval()
        fuse_conv_bn(model)
        model.requires_grad_(False)
        param = next(self.parameters(), None)
        if param is not None:
            model.to(param.device)
        # object.__setattr__: not a registered submodule (see class doc).
        object.__setattr__(self, '_old_model', model)

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if self._old_model is not None:
            self._old_model._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.freeze_bn:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        if mode and self.freeze_dropout:
            for m in self.modules():
                if isinstance(m, nn.modules.dropout._DropoutNd):
                    m.eval()
        if self._old_model is not None:
            self._old_model.eval()
        return self

    @torch.no_grad()
    def init_new_classifier(self) -> None:
        """Initialise the classifier of this step's new classes (called at
        the start of a step t > 0, not on resume)."""
        mode = self.init_new_classifier_mode
        if self.step == 0 or mode == 'none':
            return
        new = self.decode_head.conv_seg[-1]
        if mode == 'kaiming':
            # He init over the input channels (std sqrt(2 / C)), as the STAR
            # authors' classifiers. Not fan_out: a classifier of one new
            # class has fan_out 1, std sqrt(2), and its first logits are
            # large enough for the first BCE gradients to wreck the
            # features (seed-dependent forgetting).
            nn.init.kaiming_normal_(new.weight, mode='fan_in',
                                    nonlinearity='relu')
            self.decode_head.init_classifier_bias(new)
        elif mode == 'background':
            if self.decode_head.formulation != 'softmax':
                raise ValueError("init_new_classifier='background' needs the "
                                 'softmax formulation (a background logit)')
            # MiB: copy the background classifier and split its probability
            # evenly over background and the new classes.
            bg = self.decode_head.conv_seg[0]
            n = new.out_channels
            shift = torch.log(torch.tensor(n + 1.0, device=bg.bias.device))
            new.weight.copy_(bg.weight[0:1].expand_as(new.weight))
            new.bias.copy_((bg.bias[0] - shift).expand_as(new.bias))
            bg.bias[0] -= shift

    # ------------------------------------------------------------ forward
    def decode_features(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """Features before the classifier and logits (feature grid)."""
        x = self.extract_feat(inputs)
        feats = self.decode_head.forward_features(x)
        return feats, self.decode_head.cls_seg(feats)

    @torch.no_grad()
    def old_forward(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        """Features and logits of the frozen previous-step model."""
        if self._old_model is None:
            raise RuntimeError(f'step {self.step}: no previous-step model; '
                               'set model.old_checkpoint')
        return self._old_model.decode_features(inputs)

    def old_prediction(self, old_logits: Tensor) -> Tensor:
        """Arg-max train ids of the old model on its feature grid."""
        head = self._old_model.decode_head
        return class_argmax(head.to_class_scores(old_logits))

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        return super().loss(inputs, data_samples)
