# STAR-Lite on the synthetic "shapes" data (the CPU demo): STAR-Basic's losses
# and replay (star-basic_shapes.py), but the old-class prototypes are derived
# at the start of each step from the frozen old model, as the authors ship it
# (STAR-TPAMI's compute_prototype.py and trainer, its STAR-Lite scripts): the
# extraction side averages the old model's features over every cell it predicts
# as c; the recognition side runs their objective (AdamW from zeros; lr x10 for
# 1/10 of their 500k steps follows the same path, docs/results.md); the two are
# summed. The per-class pixel counts are stored (step_<t>/counts.json, a few
# bytes a class) and replayed with their trainer's rules
# (replay_rule='tpami'); replayed features follow their 'dist' noise model.
# cisseg's zero-storage variant (nothing stored):
# configs/demo/star-lite-zero_shapes.py.
# The protocol leaves (star-lite_shapes-<task>-<setting>.py) inherit this
# file.
_base_ = ['./star-basic_shapes.py']
custom_hooks = [
    dict(
        type='PrototypeDerivationHook',
        counts='stored',
        extraction='predicted',
        noise='dist',
        replay_rule='tpami',
        extraction_weight=0.5,
        recognition_iters=50000,
        recognition_lr=2.5e-3)
]
incremental = dict(method='star_lite')
