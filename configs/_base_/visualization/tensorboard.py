# The runtime with TensorBoard beside mmseg's local files: every step's
# Runner writes its iterations (losses, learning rate) to
# WORK_DIR/step_<t>/<timestamp>/vis_data/, and after each step the run adds
# mIoU_base / mIoU_inc / mIoU_all / hIoU against the step to
# WORK_DIR/vis_data/ (tags incremental/*): `tensorboard --logdir work_dirs/`
# shows one curve per run. Needs `pip install tensorboard` (cisseg's
# tensorboard extra).
# Use: list this file in place of '../_base_/default_runtime.py' in a
# config's _base_; or, in a config over a leaf, write the visualizer below.
_base_ = ['../default_runtime.py']
vis_backends = [
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend'),
]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
