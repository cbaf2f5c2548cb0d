from .dkd_losses import (AuxClassifierLoss, SigmoidKDLoss, decompose_logits,
                         sigmoid_kd)
from .mib_losses import (UnbiasedCrossEntropyLoss, UnbiasedKDLoss,
                         unbiased_cross_entropy, unbiased_kd)
from .new_class_bce_loss import NewClassBCELoss, new_class_bce, zero_target_bce
from .ocfm_loss import OCFMLoss, ocfm_loss
from .pod_loss import LocalPODLoss, fold_new_classes, local_pod, pod_distance
from .sad_loss import SADLoss, sad_loss

__all__ = [
    'NewClassBCELoss', 'new_class_bce', 'zero_target_bce', 'OCFMLoss',
    'ocfm_loss', 'SADLoss', 'sad_loss', 'UnbiasedCrossEntropyLoss',
    'UnbiasedKDLoss', 'unbiased_cross_entropy', 'unbiased_kd',
    'SigmoidKDLoss', 'AuxClassifierLoss', 'sigmoid_kd', 'decompose_logits',
    'LocalPODLoss', 'local_pod', 'pod_distance', 'fold_new_classes'
]
