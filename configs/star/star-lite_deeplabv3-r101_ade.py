# STAR-Lite (TPAMI 2025) with DeepLabV3-R101 on ADE20K: STAR-Basic's losses and
# replay (star-basic_deeplabv3-r101_ade.py), but old-class prototypes are
# derived at the start of each step from the frozen old model (recognition
# side: its classifiers; extraction side: its features on the step's images)
# and nothing is stored between steps but the checkpoint.
# The base of the protocol leaves
# star-lite_deeplabv3-r101_ade-<task>-overlap.py.
_base_ = ['./star-basic_deeplabv3-r101_ade.py']
custom_hooks = [
    dict(
        type='PrototypeDerivationHook',
        threshold=0.7,
        extraction_weight=0.5,
        recognition_iters=1000,
        recognition_lr=0.05)
]
incremental = dict(method='star_lite')
