# The runtime with Weights & Biases beside mmseg's local files: every step's
# Runner logs its iterations (losses, learning rate), and after each step the
# run adds mIoU_base / mIoU_inc / mIoU_all / hIoU with incremental/step as
# their x axis (tags incremental/*; the protocol's curves are also kept in
# WORK_DIR/vis_data/). Runs of one protocol share the W&B group below. Needs
# `pip install wandb` and `wandb login` (or WANDB_MODE=offline); cisseg's
# wandb extra.
# Use: list this file in place of '../_base_/default_runtime.py' in a
# config's _base_; or, in a config over a leaf, write the visualizer below.
_base_ = ['../default_runtime.py']
vis_backends = [
    dict(type='LocalVisBackend'),
    dict(
        type='WandbVisBackend',
        init_kwargs=dict(project='cisseg', group='protocol'),
        define_metric_cfg=[
            dict(name='incremental/step'),
            dict(name='incremental/*', step_metric='incremental/step'),
        ]),
]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
