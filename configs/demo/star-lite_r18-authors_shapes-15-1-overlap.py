# STAR-Lite on the synthetic demo data (VOC 15-1 overlapped) with the
# network, optimiser, augmentation and evaluation of the authors' code
# (star-basic_r18-authors_shapes-15-1-overlap.py), for the side-by-side run
# against a copy of STAR-TPAMI's STAR-Lite (docs/results.md): prototypes
# derived at the start of each step as star-lite_shapes.py derives them
# (stored counts, 'dist' noise, the TPAMI replay rules).
_base_ = ['./star-basic_r18-authors_shapes-15-1-overlap.py']
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
