"""STAR: prototype replay, background repetition, OCFM and SAD losses."""
from typing import Dict, Optional

import torch.nn.functional as F
from torch import Tensor

from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, SampleList, add_prefix
from cisseg.utils import check_choice
from ..losses import new_class_bce, zero_target_bce
from ..utils import (FeatureStatistics, PrototypeBank, class_argmax,
                     grid_labels)
from ..utils.prototype_bank import NORM_DRAWS
from .incremental_encoder_decoder import IncrementalEncoderDecoder


@MODELS.register_module()
class STARSegmentor(IncrementalEncoderDecoder):
    """STAR (NeurIPS 2023 / TPAMI 2025) on the sigmoid/BCE formulation.

    At step t > 0 the loss is

    - ``loss_bce``: BCE of the new classes' logits on the real pixels
      (``pos_weight`` from the head's ``NewClassBCELoss``), combined with
      two zero-target terms, each weighted by its number of samples
      relative to the S cells of the feature grid and normalised by the sum
      of weights, (L_real + w_pr L_pr + w_bpr L_bpr) / (1 + w_pr + w_bpr):
        * prototype replay (PR): synthetic old-class features
          (:meth:`PrototypeBank.sample`, counts from
          :class:`PrototypeReplayHook` or :class:`PrototypeDerivationHook`)
          through the classifier, w_pr = M/S;
        * background pixel repetition (BPR): features of the cells that are
          background in the label and for the old model, w_bpr = r K / S
          with the repetition ratio r from η_bg (set by the hook);
    - ``loss_ocfm``: :class:`OCFMLoss` inside old-class regions (label
      background, old model predicts an old class);
    - ``loss_sad``: :class:`SADLoss` against the old prototypes.

    Old-class logits get no loss (their classifiers are frozen). Each part
    can be switched off for the ablation.

    Args:
        prototype_replay (bool): use PR.
        background_repetition (bool): use BPR.
        ocfm_loss (dict, optional): OCFM config; None switches it off.
        sad_loss (dict, optional): SAD config; None switches it off.
        old_bg_logit (float): when the old model labels regions during
            training, a pixel is background if no old logit exceeds this
            (0.5 in the authors' code; evaluation uses 0, i.e. sigmoid 0.5).
        replay_norm_draw (str): the norm of a replayed feature (NeurIPS
            noise model): 'per_feature', one draw per feature (cisseg's: a
            norm belongs to the vector), or 'per_element', one draw per
            element, as the STAR code draws it (its paper configs).
        **kwargs: arguments of :class:`IncrementalEncoderDecoder`.
    """
    needs_old_model = True

    def __init__(self,
                 prototype_replay: bool = True,
                 background_repetition: bool = True,
                 ocfm_loss: OptConfigType = dict(
                     type='OCFMLoss', loss_weight=5.0),
                 sad_loss: OptConfigType = dict(
                     type='SADLoss', loss_weight=0.05),
                 old_bg_logit: float = 0.5,
                 replay_norm_draw: str = 'per_feature',
                 **kwargs) -> None:
        kwargs.setdefault('freeze_old_classifiers', True)
        kwargs.setdefault('init_new_classifier', 'kaiming')
        super().__init__(**kwargs)
        if self.decode_head.formulation != 'sigmoid':
            raise ValueError("STARSegmentor needs decode_head.formulation="
                             "'sigmoid' (STAR's BCE formulation)")
        self.prototype_replay = prototype_replay
        self.background_repetition = background_repetition
        self.ocfm_loss = MODELS.build(ocfm_loss) if ocfm_loss else None
        self.sad_loss = MODELS.build(sad_loss) if sad_loss else None
        self.old_bg_logit = old_bg_logit
        self.replay_norm_draw = check_choice(
            'model.replay_norm_draw', replay_norm_draw, NORM_DRAWS)
        self.bank: Optional[PrototypeBank] = None
        # Set by PrototypeReplayHook to collect prototype statistics from
        # the training features of the last epoch.
        self.feature_stats: Optional[FeatureStatistics] = None
        self.replay_per_iter: Dict[int, int] = {}
        self.bg_ratio = 0.0

    def set_replay(self, bank: PrototypeBank, replay_per_iter: Dict[int, int],
                   bg_ratio: float) -> None:
        """Old prototypes, synthetic features per class per iteration and
        the background repetition ratio of this step (from the hook)."""
        self.bank = bank
        self.replay_per_iter = dict(replay_per_iter)
        self.bg_ratio = float(bg_ratio)

    def old_full_prediction(self, old_logits: Tensor, size) -> Tensor:
        """Old model's train ids at label resolution (training rule)."""
        up = resize(old_logits, size=size, mode='bilinear',
                    align_corners=self.align_corners)
        head = self.old_model.decode_head
        return class_argmax(
            head.to_class_scores(up, bg_logit=self.old_bg_logit))

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        head = self.decode_head
        feats, logits = self.decode_features(inputs)
        label = head._stack_batch_gt(data_samples).squeeze(1)
        if self.feature_stats is not None:
            self.feature_stats.update(feats.detach(),
                                      grid_labels(label, feats.shape[2:]))
        if self.step == 0:
            return add_prefix(head.loss_by_feat(logits, data_samples),
                              'decode')
        old_feats, old_logits = self.old_forward(inputs)
        old_pred = self.old_full_prediction(old_logits, label.shape[1:])

        k = head.num_new_logits
        first_new = head.num_classes - k
        bce = head.loss_decode
        up = resize(logits[:, -k:], size=label.shape[1:], mode='bilinear',
                    align_corners=self.align_corners)
        num = new_class_bce(up, label, first_new,
                            bce.label_ignore(head.ignore_index),
                            bce.pos_weight).sum()
        den = 1.0
        cells = logits.shape[0] * logits.shape[2] * logits.shape[3]
        losses = dict()
        if self.prototype_replay and self.bank is not None and \
                self.replay_per_iter:
            # STAR-TPAMI's 'dist' entries are unit vectors scaled by the
            # batch's mean feature norm
            fake, _ = self.bank.sample(
                self.replay_per_iter, device=feats.device,
                scale=feats.detach().norm(dim=1).mean(),
                norm_draw=self.replay_norm_draw)
            if fake is not None:
                w = fake.shape[0] / cells
                fake_logits = head.classify(fake.to(feats.dtype))[:, -k:]
                num = num + w * zero_target_bce(fake_logits).sum()
                den += w
        if self.background_repetition and self.bg_ratio > 0:
            # as a mask, not by indexing: no host-device sync on a GPU (a
            # batch without such cells weighs 0, as if skipped)
            bg = (label == 0) & (old_pred == 0)
            bg = grid_labels(bg, logits.shape[2:]).unsqueeze(1).to(
                logits.dtype)
            count = bg.sum()
            mean = (F.softplus(logits[:, -k:]) * bg).sum(dim=(0, 2, 3)) / \
                count.clamp(min=1)
            w = self.bg_ratio * count / cells
            num = num + w * mean.sum()
            den = den + w
        losses[bce.loss_name] = bce.loss_weight * num / den

        if self.ocfm_loss is not None:
            region = ((label == 0) & (old_pred > 0)).unsqueeze(1).to(
                feats.dtype)
            mask = F.interpolate(region, size=feats.shape[2:],
                                 mode='bilinear', align_corners=False)
            losses[self.ocfm_loss.loss_name] = self.ocfm_loss(
                feats, old_feats, mask)
        if self.sad_loss is not None and self.bank is not None and \
                len(self.bank):
            new_ids = list(range(first_new, head.num_classes))
            losses[self.sad_loss.loss_name] = self.sad_loss(
                feats, label, new_ids, self.bank.prototypes(feats.device))
        return losses
