# mmseg's runtime (default_scope='mmseg', SegLocalVisualizer, logging), plus
# the import that registers cisseg's modules, so mmseg's own tools load
# cisseg configs too.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['cisseg'], allow_failed_imports=False)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1000,
                    max_keep_ckpts=1, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=1)
