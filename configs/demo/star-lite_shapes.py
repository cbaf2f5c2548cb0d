# STAR-Lite on the synthetic "shapes" data (the CPU demo): STAR-Basic's
# losses and replay (star-basic_shapes.py), but old-class prototypes are
# derived at the start of each step from the frozen old model (recognition
# side: its classifiers; extraction side: its features on the step's images)
# and nothing is stored between steps but the checkpoint. The protocol leaves
# (star-lite_shapes-<task>-<setting>.py) inherit this file.
_base_ = ['./star-basic_shapes.py']
custom_hooks = [
    dict(
        type='PrototypeDerivationHook',
        threshold=0.7,
        extraction_weight=0.5,
        recognition_iters=1000,
        recognition_lr=0.05)
]
incremental = dict(method='star_lite')
