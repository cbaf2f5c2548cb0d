"""DeepLabV3's ASPP head with a classifier that grows at every step."""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor

from mmseg.models.decode_heads import ASPPHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from cisseg.utils import check_choice
from ..utils.class_argmax import class_argmax

FORMULATIONS = ('softmax', 'sigmoid')
ASPP_LAYOUTS = ('mmseg', 'torchvision')
CLS_BIAS_INITS = ('zero', 'uniform')


@MODELS.register_module()
class IncrementalASPPHead(ASPPHead):
    """ASPP head whose classifier is one 1x1 conv per incremental step.

    Two formulations:

    - ``'softmax'``: one logit per seen class, background included, trained
      with mmseg's ``loss_decode`` (cross-entropy); fine-tuning and MiB.
    - ``'sigmoid'``: one sigmoid logit per seen *foreground* class and no
      background logit (the DKD/STAR formulation). A pixel is background
      when no sigmoid exceeds 0.5, else the arg-max class. At prediction
      time a constant 0 logit (sigmoid 0.5) is put in front as channel 0, so
      mmseg's arg-max post-processing gives exactly that rule.

    Two layouts of the layers between the ASPP branches (1x1, one 3x3 per
    dilation, image pooling; conv + norm + activation each) and the
    classifier:

    - ``'mmseg'``: mmseg's :class:`ASPPHead`: pooling branch first, the
      concatenation -> 3x3 conv -> channel dropout -> classifier.
    - ``'torchvision'``: torchvision's DeepLabV3 head, which the DKD and
      STAR code use: pooling branch last, the concatenation -> 1x1
      projection -> dropout (element-wise) -> 3x3 conv -> classifier, no
      dropout before the classifier. Its convolutions, classifiers
      included, start He-normal over their input channels, as the
      authors' ASPP and classifiers.

    In both, :meth:`forward_features` gives the classifier's input.

    Args:
        classes_per_step (Sequence[int]): train ids added at each step up to
            the current one, background counted in step 0. ``num_classes``
            defaults to their sum and must equal it.
        formulation (str): 'softmax' or 'sigmoid'.
        aspp_layout (str): 'mmseg' or 'torchvision'.
        cls_bias_init (str): the classifiers' biases at initialisation (and
            a new step's classifier, :meth:`init_classifier_bias`): 'zero'
            (cisseg's, a neutral start) or 'uniform', PyTorch's default
            draw U(-1/sqrt(C), 1/sqrt(C)) over the C input channels, which
            the STAR code keeps (the STAR paper configs).
        **kwargs: arguments of :class:`ASPPHead`.
    """

    def __init__(self,
                 classes_per_step: Sequence[int],
                 formulation: str = 'softmax',
                 aspp_layout: str = 'mmseg',
                 cls_bias_init: str = 'zero',
                 **kwargs) -> None:
        classes_per_step = [int(c) for c in classes_per_step]
        if not classes_per_step or min(classes_per_step) < 1:
            raise ValueError('decode_head.classes_per_step must be positive '
                             f'counts, got {classes_per_step}')
        check_choice('decode_head.formulation', formulation, FORMULATIONS)
        check_choice('decode_head.aspp_layout', aspp_layout, ASPP_LAYOUTS)
        check_choice('decode_head.cls_bias_init', cls_bias_init,
                     CLS_BIAS_INITS)
        num_classes = kwargs.setdefault('num_classes', sum(classes_per_step))
        if num_classes != sum(classes_per_step):
            raise ValueError(
                f'decode_head.num_classes={num_classes} does not match '
                f'classes_per_step={classes_per_step}')
        super().__init__(**kwargs)
        self.classes_per_step = classes_per_step
        self.formulation = formulation
        self.cls_bias_init = cls_bias_init
        self.conv_seg = nn.ModuleList(
            nn.Conv2d(self.channels, n, kernel_size=1)
            for n in self.logits_per_step)
        self.aspp_layout = aspp_layout
        if aspp_layout == 'torchvision':
            convs = dict(conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                         act_cfg=self.act_cfg)
            self.bottleneck = nn.Sequential(
                ConvModule((len(self.dilations) + 1) * self.channels,
                           self.channels, 1, **convs),
                nn.Dropout(self.dropout_ratio),
                ConvModule(self.channels, self.channels, 3, padding=1,
                           **convs))
            self.dropout = None

    def init_weights(self) -> None:
        super().init_weights()
        if self.aspp_layout == 'torchvision':
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode='fan_in',
                                            nonlinearity='relu')
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        for conv in self.conv_seg:
            self.init_classifier_bias(conv)

    def init_classifier_bias(self, conv: nn.Conv2d) -> None:
        """Set a classifier's bias as ``cls_bias_init`` says."""
        if self.cls_bias_init == 'zero':
            nn.init.zeros_(conv.bias)
        else:
            bound = 1.0 / math.sqrt(conv.in_channels)
            nn.init.uniform_(conv.bias, -bound, bound)

    def _forward_feature(self, inputs) -> Tensor:
        if self.aspp_layout == 'mmseg':
            return super()._forward_feature(inputs)
        x = self._transform_inputs(inputs)
        outs = list(self.aspp_modules(x))
        outs.append(resize(self.image_pool(x), size=x.shape[2:],
                           mode='bilinear', align_corners=self.align_corners))
        return self.bottleneck(torch.cat(outs, dim=1))

    @property
    def logits_per_step(self) -> List[int]:
        """Output channels of each step's classifier."""
        counts = list(self.classes_per_step)
        if self.formulation == 'sigmoid':
            counts[0] -= 1  # no background logit
        return counts

    @property
    def step(self) -> int:
        return len(self.classes_per_step) - 1

    @property
    def num_new_logits(self) -> int:
        return self.logits_per_step[-1]

    def forward_features(self, inputs) -> Tensor:
        """Features that feed the classifier (ASPP + bottleneck; the
        'mmseg' layout's dropout comes after them, in :meth:`cls_seg`)."""
        return self._forward_feature(inputs)

    def cls_seg(self, feat: Tensor) -> Tensor:
        """Logits of every step's classifier, concatenated in train-id
        order (sigmoid formulation: foreground classes only)."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.classify(feat)

    def classify(self, feat: Tensor) -> Tensor:
        """Classifier without dropout on ``(N, C)`` or ``(N, C, H, W)``
        features (prototype replay feeds vectors)."""
        weight, bias = self.fused_classifier()
        if feat.dim() == 2:
            return torch.addmm(bias, feat, weight.flatten(1).t())
        return F.conv2d(feat, weight, bias)

    def fused_classifier(self) -> Tuple[Tensor, Tensor]:
        """The per-step 1x1 classifiers as one convolution's weight and
        bias (concatenated in train-id order): one kernel however many steps
        have passed; gradients reach each step's own parameters."""
        if len(self.conv_seg) == 1:
            return self.conv_seg[0].weight, self.conv_seg[0].bias
        return (torch.cat([c.weight for c in self.conv_seg]),
                torch.cat([c.bias for c in self.conv_seg]))

    def to_class_scores(self, logits: Tensor, bg_logit: float = 0.) -> Tensor:
        """Scores over all seen classes, background first, whose arg-max is
        the prediction (sigmoid: a constant ``bg_logit`` for background, 0
        being the sigmoid 0.5 rule)."""
        if self.formulation == 'softmax':
            return logits
        bg = logits.new_full((logits.shape[0], 1) + logits.shape[2:],
                             bg_logit)
        return torch.cat([bg, logits], dim=1)

    def predict_by_feat(self, seg_logits: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        return super().predict_by_feat(
            self.to_class_scores(seg_logits), batch_img_metas)

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: SampleList) -> dict:
        if self.formulation == 'softmax':
            return self._softmax_loss_by_feat(seg_logits, batch_data_samples)
        # Sigmoid/BCE on the new classes' logits only.
        seg_label = self._stack_batch_gt(batch_data_samples).squeeze(1)
        seg_logits = resize(seg_logits, size=seg_label.shape[1:],
                            mode='bilinear', align_corners=self.align_corners)
        # Train id of the first new class (its logit is the first new one).
        first_new = self.num_classes - self.num_new_logits
        losses = dict()
        losses_decode = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        for loss_decode in losses_decode:
            losses[loss_decode.loss_name] = loss_decode(
                seg_logits[:, -self.num_new_logits:], seg_label,
                first_class=first_new, ignore_index=self.ignore_index)
        return losses

    def _softmax_loss_by_feat(self, seg_logits: Tensor,
                              batch_data_samples: SampleList) -> dict:
        """mmseg's ``BaseDecodeHead.loss_by_feat``, with ``acc_seg`` from
        :func:`pixel_accuracy` (mmseg's ``accuracy`` waits for the GPU
        twice per iteration and runs a top-k over every pixel)."""
        seg_label = self._stack_batch_gt(batch_data_samples)
        seg_logits = resize(seg_logits, size=seg_label.shape[2:],
                            mode='bilinear', align_corners=self.align_corners)
        seg_weight = None if self.sampler is None else self.sampler.sample(
            seg_logits, seg_label)
        seg_label = seg_label.squeeze(1)
        losses = dict()
        losses_decode = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        for loss_decode in losses_decode:
            loss = loss_decode(seg_logits, seg_label, weight=seg_weight,
                               ignore_index=self.ignore_index)
            name = loss_decode.loss_name
            losses[name] = losses[name] + loss if name in losses else loss
        losses['acc_seg'] = pixel_accuracy(seg_logits, seg_label,
                                           self.ignore_index)
        return losses


def pixel_accuracy(seg_logits: Tensor, seg_label: Tensor,
                   ignore_index: int = 255) -> Tensor:
    """mmseg's top-1 ``accuracy`` (percent of the non-ignored pixels whose
    arg-max is their label; shape (1, )) without a host-device sync: an
    arg-max and two sums instead of a top-k and boolean indexing."""
    eps = torch.finfo(torch.float32).eps
    valid = seg_label != ignore_index
    correct = ((class_argmax(seg_logits) == seg_label) & valid).sum()
    scale = 100.0 / (valid.sum().double() + eps)
    return ((correct.float() + eps) * scale.float()).reshape(1)
