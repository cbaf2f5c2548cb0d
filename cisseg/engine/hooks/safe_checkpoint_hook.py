"""mmengine's CheckpointHook, removing old checkpoints after a save."""
import glob
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from mmseg.registry import HOOKS


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """:class:`CheckpointHook` that always leaves a checkpoint to resume.

    mmengine's hook removes the checkpoints beyond ``max_keep_ckpts`` before
    it writes the new one: with ``max_keep_ckpts=1``, a run killed while
    saving has no checkpoint of the step left and ``--resume`` starts the
    step again. This hook writes the new checkpoint first (atomically, see
    :mod:`cisseg.engine.checkpoint`) and removes the old ones after. At the
    start of training it removes the temp files of saves that were cut
    short. The arguments are those of :class:`CheckpointHook`.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and osp.isdir(str(self.out_dir)):
            # atomic_write_bytes' temp files: '.<name>.<random>.tmp'
            for path in glob.glob(osp.join(str(self.out_dir), '.*.pth.*.tmp')):
                os.remove(path)

    def _save_checkpoint_with_step(self, runner, step, meta):
        drop = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
                drop.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            # recorded in the checkpoint, as the parent does
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        keep, self.max_keep_ckpts = self.max_keep_ckpts, -1
        try:  # the parent saves without removing anything
            super()._save_checkpoint_with_step(runner, step, meta)
        finally:
            self.max_keep_ckpts = keep
        if not is_main_process():
            return
        for old in drop:
            path = self.file_backend.join_path(self.out_dir,
                                               self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)
