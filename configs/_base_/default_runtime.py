# The runtime: mmseg's default runtime (default_scope='mmseg',
# SegLocalVisualizer, logging, SegTTAModel), written out rather than
# inherited through 'mmseg::' (which looks the package up on every load),
# plus the import that registers cisseg's modules, so mmseg's own tools load
# cisseg configs too.
default_scope = 'mmseg'
custom_imports = dict(imports=['cisseg'], allow_failed_imports=False)
env_cfg = dict(
    # tools/train.py turns it on where CUDA is available (and logs it)
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # mmengine's CheckpointHook, but the old checkpoint is removed after the
    # new one is saved: a run killed while saving can still --resume
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                    interval=1000, max_keep_ckpts=1, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # draws predictions with tools/test.py --show / --show-dir
    visualization=dict(type='SegVisualizationHook'))
# Scalars (and images drawn by --show-dir) go to files (LocalVisBackend).
# TensorBoard or Weights & Biases: configs/_base_/visualization/.
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=1)
tta_model = dict(type='SegTTAModel')
