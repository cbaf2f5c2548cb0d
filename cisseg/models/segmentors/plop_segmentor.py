"""PLOP: Local POD distillation and entropy-based pseudo-labels."""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, SampleList
from ..utils import (class_argmax, entropy_pseudo_labels,
                     normalized_entropy)
from .incremental_encoder_decoder import IncrementalEncoderDecoder


@MODELS.register_module()
class PLOPSegmentor(IncrementalEncoderDecoder):
    """PLOP (Douillard et al., CVPR 2021) on the softmax formulation.

    Step 0 is plain cross-entropy. At t > 0:

    - pseudo-labels: pixels labelled background take the frozen step t-1
      model's class where its normalised entropy is below that class's
      threshold (the median over the step's background pixels, set by
      :class:`PseudoLabelThresholdHook` before training), the others are
      ignored; the decode head's cross-entropy (``loss_ce``) on these
      targets, each image's loss scaled by the share of its background
      pixels that got a pseudo-label (``adaptive_factor``);
    - ``loss_pod``: :class:`LocalPODLoss` between the current and the old
      model's backbone stages (every ``backbone.out_indices``; PLOP: all
      four, with ``decode_head.in_index`` the last), decode-head features
      and logits on the feature grid, times sqrt(classes seen / new
      classes);
    - the new classifier starts from background's, as MiB
      (``init_new_classifier='background'``).

    Args:
        pod_loss (dict, optional): :class:`LocalPODLoss` config; None
            switches it off.
        pseudo_label (bool): use the entropy pseudo-labels.
        adaptive_factor (bool): scale each image's classification loss by
            its share of pseudo-labelled background pixels.
        **kwargs: arguments of :class:`IncrementalEncoderDecoder`.
    """
    needs_old_model = True

    def __init__(self,
                 pod_loss: OptConfigType = dict(
                     type='LocalPODLoss', loss_weight=0.01,
                     logits_weight=0.0005),
                 pseudo_label: bool = True,
                 adaptive_factor: bool = True,
                 **kwargs) -> None:
        kwargs.setdefault('init_new_classifier', 'background')
        super().__init__(**kwargs)
        if self.decode_head.formulation != 'softmax':
            raise ValueError("PLOPSegmentor needs decode_head.formulation="
                             "'softmax'")
        if isinstance(self.decode_head.loss_decode, nn.ModuleList):
            raise ValueError('PLOPSegmentor: decode_head.loss_decode must be '
                             'one loss (the cross-entropy)')
        self.pod_loss = MODELS.build(pod_loss) if pod_loss else None
        self.pseudo_label = pseudo_label
        self.adaptive_factor = adaptive_factor
        # Set by PseudoLabelThresholdHook before training at t > 0.
        self.pseudo_thresholds: Optional[Tensor] = None

    def set_pseudo_thresholds(self, thresholds: Tensor) -> None:
        """Per-class entropy thresholds of the old model's classes."""
        if thresholds.numel() != self.num_old_classes:
            raise ValueError(f'{thresholds.numel()} pseudo-label thresholds '
                             f'for {self.num_old_classes} old classes')
        self.pseudo_thresholds = thresholds.float()

    @staticmethod
    def pod_maps(model, inputs: Tensor) -> Tuple[List[Tensor], Tensor]:
        """Backbone outputs and decode-head features of ``model`` (the maps
        POD compares), and its logits on the feature grid."""
        x = model.extract_feat(inputs)
        feats = model.decode_head.forward_features(x)
        return list(x) + [feats], model.decode_head.cls_seg(feats)

    @torch.no_grad()
    def old_prediction_entropy(self, old_logits: Tensor,
                               size) -> Tuple[Tensor, Tensor]:
        """The old model's arg-max train ids and normalised entropy at
        ``size`` (its logits resized bilinearly, as the losses see them)."""
        up = resize(old_logits, size=size, mode='bilinear',
                    align_corners=self.align_corners)
        probs = up.float().softmax(dim=1)
        return class_argmax(probs), normalized_entropy(probs)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        if self.step == 0:
            return super().loss(inputs, data_samples)
        if self.old_model is None:
            raise RuntimeError(f'step {self.step}: no previous-step model; '
                               'set model.old_checkpoint')
        head = self.decode_head
        maps, logits = self.pod_maps(self, inputs)
        with torch.no_grad():
            old_maps, old_logits = self.pod_maps(self.old_model, inputs)
        label = head._stack_batch_gt(data_samples).squeeze(1)
        target, weight = label, None
        if self.pseudo_label:
            if self.pseudo_thresholds is None:
                raise RuntimeError(
                    'PLOPSegmentor: no pseudo-label thresholds at step '
                    f'{self.step}; add PseudoLabelThresholdHook to '
                    'custom_hooks')
            pred, entropy = self.old_prediction_entropy(
                old_logits, label.shape[1:])
            target, factor = entropy_pseudo_labels(
                label, pred, entropy, self.pseudo_thresholds,
                self.num_old_classes, head.ignore_index)
            if self.adaptive_factor:
                weight = factor.view(-1, 1, 1).expand_as(label)
        up = resize(logits, size=label.shape[1:], mode='bilinear',
                    align_corners=self.align_corners)
        ce = head.loss_decode
        losses = {
            ce.loss_name: ce(up, target, weight=weight,
                             ignore_index=head.ignore_index)
        }
        if self.pod_loss is not None:
            scale = math.sqrt(head.num_classes / head.num_new_logits)
            losses[self.pod_loss.loss_name] = self.pod_loss(
                maps, old_maps, logits, old_logits, weight=scale)
        return losses
