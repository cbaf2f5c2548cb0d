# mmseg's runtime (default_scope='mmseg', SegLocalVisualizer, logging), plus
# the import that registers cisseg's modules, so mmseg's own tools load
# cisseg configs too.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['cisseg'], allow_failed_imports=False)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # mmengine's CheckpointHook, but the old checkpoint is removed after the
    # new one is saved: a run killed while saving can still --resume
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                    interval=1000, max_keep_ckpts=1, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=1)
# Visualizer backends: mmseg's base config logs scalars and images to files
# (LocalVisBackend). To also write TensorBoard event files (needs
# `pip install tensorboard`, not a cisseg dependency), set in a config:
#   vis_backends = [dict(type='LocalVisBackend'),
#                   dict(type='TensorboardVisBackend')]
#   visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends,
#                     name='visualizer')
# (in a leaf config or a small config that inherits it; --cfg-options cannot
# build a list of dicts). Other mmengine backends (WandbVisBackend,
# MLflowVisBackend) are selected the same way.
