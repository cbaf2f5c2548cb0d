"""Average BatchNorm running statistics across ranks (DDP without SyncBN)."""
from mmengine.dist import all_reduce_params, is_distributed
from mmengine.hooks import Hook
from torch.nn.modules.batchnorm import _BatchNorm

from mmseg.registry import HOOKS


@HOOKS.register_module()
class SyncNormBuffersHook(Hook):
    """Average the running mean and variance of the BN layers in training
    mode over the ranks after every training iteration.

    Plain BN under DDP (on CPU, where SyncBN cannot run) updates each rank's
    running statistics with that rank's batch only, so the ranks drift
    apart, the checkpoint holds rank 0's statistics and a distributed test
    evaluates every rank's share with different ones. Averaging after each
    iteration keeps them equal on all ranks; the running mean is then
    exactly that of the whole batch (equal per-rank batches), the running
    variance the mean of the per-rank variances. It runs before the
    checkpoint hook saves. Frozen BN layers (eval mode) are left alone:
    theirs are equal already.
    """
    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not is_distributed():
            return
        buffers = []
        for m in runner.model.modules():
            if isinstance(m, _BatchNorm) and m.training and \
                    m.track_running_stats and m.running_mean is not None:
                buffers += [m.running_mean, m.running_var]
        if buffers:
            all_reduce_params(buffers, op='mean')
