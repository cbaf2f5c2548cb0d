"""MiB: unbiased cross-entropy and unbiased knowledge distillation."""
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, SampleList
from .incremental_encoder_decoder import IncrementalEncoderDecoder


@MODELS.register_module()
class MiBSegmentor(IncrementalEncoderDecoder):
    """MiB (Cermelli et al., CVPR 2020) on the softmax formulation.

    At step t > 0: unbiased CE on the step's labels and unbiased KD from
    the frozen step t-1 model; the new classifier starts as a copy of the
    background one with the background probability split evenly
    (``init_new_classifier='background'``). Step 0 is plain CE.

    Args:
        unce_loss (dict): :class:`UnbiasedCrossEntropyLoss` config.
        unkd_loss (dict): :class:`UnbiasedKDLoss` config (weight 10).
        **kwargs: arguments of :class:`IncrementalEncoderDecoder`.
    """
    needs_old_model = True

    def __init__(self,
                 unce_loss: ConfigType = dict(type='UnbiasedCrossEntropyLoss'),
                 unkd_loss: ConfigType = dict(
                     type='UnbiasedKDLoss', loss_weight=10.0),
                 **kwargs) -> None:
        kwargs.setdefault('init_new_classifier', 'background')
        super().__init__(**kwargs)
        if self.decode_head.formulation != 'softmax':
            raise ValueError("MiBSegmentor needs decode_head.formulation="
                             "'softmax'")
        self.unce_loss = MODELS.build(unce_loss)
        self.unkd_loss = MODELS.build(unkd_loss)

    def loss(self, inputs, data_samples: SampleList) -> dict:
        if self.step == 0:
            return super().loss(inputs, data_samples)
        head = self.decode_head
        _, logits = self.decode_features(inputs)
        _, old_logits = self.old_forward(inputs)
        label = head._stack_batch_gt(data_samples).squeeze(1)
        size = label.shape[1:]
        logits = resize(logits, size=size, mode='bilinear',
                        align_corners=self.align_corners)
        old_logits = resize(old_logits, size=size, mode='bilinear',
                            align_corners=self.align_corners)
        return {
            self.unce_loss.loss_name:
            self.unce_loss(logits, label, self.num_old_classes,
                           head.ignore_index),
            self.unkd_loss.loss_name:
            self.unkd_loss(logits, old_logits)
        }
