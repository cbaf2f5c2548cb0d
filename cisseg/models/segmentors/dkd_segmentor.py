"""DKD: decomposed knowledge distillation on the sigmoid head."""
import torch
import torch.nn as nn
from torch import Tensor

from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, SampleList, add_prefix
from ..losses import decompose_logits
from .incremental_encoder_decoder import IncrementalEncoderDecoder


@MODELS.register_module()
class DKDSegmentor(IncrementalEncoderDecoder):
    """DKD (Baek et al., NeurIPS 2022) on the sigmoid/BCE formulation.

    Beside the decode head's per-step classifiers, an auxiliary classifier
    (one 1x1 conv, one output, on detached features) learns at every step
    to score 0 everywhere (:class:`AuxClassifierLoss`); at the start of a
    step t > 0 each new classifier is a copy of it
    (``init_new_classifier='auxiliary'``). The loss is

    - the decode head's BCE on the new classes' logits (``decode.loss_bce``;
      pos_weight from its :class:`NewClassBCELoss`),
    - ``loss_ac`` on the auxiliary classifier, and at t > 0
    - ``loss_kd``: :class:`SigmoidKDLoss` of the old classes' logits against
      the frozen step t-1 model's,
    - ``loss_dkd_pos`` / ``loss_dkd_neg``: the same on the positive and
      negative parts of those logits (:func:`decompose_logits`, feature
      grid, no bias).

    Logits and the auxiliary output are compared at label resolution. DKD
    freezes BatchNorm and dropout at t > 0 (``freeze_bn``,
    ``freeze_dropout``); old classifiers keep learning.

    Args:
        kd_loss (dict, optional): distillation of the old logits; None
            switches it off.
        dkd_pos_loss (dict, optional): distillation of their positive parts.
        dkd_neg_loss (dict, optional): distillation of their negative parts.
        ac_loss (dict, optional): the auxiliary classifier's loss.
        init_new_classifier (str): 'auxiliary' (DKD) or a mode of
            :class:`IncrementalEncoderDecoder`.
        **kwargs: arguments of :class:`IncrementalEncoderDecoder`.
    """
    needs_old_model = True

    def __init__(self,
                 kd_loss: OptConfigType = dict(
                     type='SigmoidKDLoss', loss_weight=5.0,
                     loss_name='loss_kd'),
                 dkd_pos_loss: OptConfigType = dict(
                     type='SigmoidKDLoss', loss_weight=5.0,
                     loss_name='loss_dkd_pos'),
                 dkd_neg_loss: OptConfigType = dict(
                     type='SigmoidKDLoss', loss_weight=5.0,
                     loss_name='loss_dkd_neg'),
                 ac_loss: OptConfigType = dict(
                     type='AuxClassifierLoss', loss_weight=1.0),
                 init_new_classifier: str = 'auxiliary',
                 **kwargs) -> None:
        auxiliary = init_new_classifier == 'auxiliary'
        super().__init__(
            init_new_classifier='none' if auxiliary else init_new_classifier,
            **kwargs)
        if self.decode_head.formulation != 'sigmoid':
            raise ValueError("DKDSegmentor needs decode_head.formulation="
                             "'sigmoid' (DKD's BCE formulation)")
        self.init_new_classifier_mode = init_new_classifier
        self.aux_classifier = nn.Conv2d(self.decode_head.channels, 1, 1)
        nn.init.kaiming_normal_(self.aux_classifier.weight)
        self.kd_loss = MODELS.build(kd_loss) if kd_loss else None
        self.dkd_pos_loss = MODELS.build(dkd_pos_loss) if dkd_pos_loss \
            else None
        self.dkd_neg_loss = MODELS.build(dkd_neg_loss) if dkd_neg_loss \
            else None
        self.ac_loss = MODELS.build(ac_loss) if ac_loss else None

    @torch.no_grad()
    def init_new_classifier(self) -> None:
        """DKD: every new classifier starts as the auxiliary classifier."""
        if self.init_new_classifier_mode != 'auxiliary':
            return super().init_new_classifier()
        if self.step == 0:
            return
        new = self.decode_head.conv_seg[-1]
        aux = self.aux_classifier
        new.weight.copy_(aux.weight.expand_as(new.weight))
        new.bias.copy_(aux.bias.expand_as(new.bias))

    @staticmethod
    def _old_class_weights(head, num: int) -> Tensor:
        """Weights of the first ``num`` logits' classifiers."""
        weight = torch.cat([conv.weight for conv in head.conv_seg])
        return weight[:num]

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        head = self.decode_head
        feats, logits = self.decode_features(inputs)
        losses = add_prefix(head.loss_by_feat(logits, data_samples),
                            'decode')
        size = head._stack_batch_gt(data_samples).shape[2:]
        if self.ac_loss is not None:
            aux = resize(self.aux_classifier(feats.detach()), size=size,
                         mode='bilinear', align_corners=self.align_corners)
            losses[self.ac_loss.loss_name] = self.ac_loss(aux)
        if self.step == 0:
            return losses

        old_feats, old_logits = self.old_forward(inputs)
        num_old = old_logits.shape[1]  # old foreground logits
        if self.kd_loss is not None:
            up = resize(logits[:, :num_old], size=size, mode='bilinear',
                        align_corners=self.align_corners)
            old_up = resize(old_logits, size=size, mode='bilinear',
                            align_corners=self.align_corners)
            losses[self.kd_loss.loss_name] = self.kd_loss(up, old_up)
        if self.dkd_pos_loss is not None or self.dkd_neg_loss is not None:
            pos, neg = decompose_logits(
                feats, self._old_class_weights(head, num_old))
            old_pos, old_neg = decompose_logits(
                old_feats,
                self._old_class_weights(self.old_model.decode_head, num_old))
            for loss, new, old in ((self.dkd_pos_loss, pos, old_pos),
                                   (self.dkd_neg_loss, neg, old_neg)):
                if loss is not None:
                    losses[loss.loss_name] = loss(new, old)
        return losses
