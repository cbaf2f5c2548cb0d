# cisseg's zero-storage STAR-Lite on the synthetic "shapes" data: STAR-Lite
# (star-lite_shapes.py) storing nothing between steps, not even the per-class
# pixel counts the authors keep. cisseg's own design, not the authors':
# - counts='estimated': replay counts from the step's data (every old class as
#   often as an average new class; background repetition from the old model's
#   background share), no counts.json;
# - extraction='filtered': the extraction side reads only cells labelled
#   background that the old model predicts with a sigmoid score >= threshold
#   (0.7; a cell labelled with a new class, which the old model may call an
#   old one, would teach the new classifier not to fire on its own class);
# - noise='extracted': replayed features take the extracted cells'
#   per-dimension noise and norm mean/std (STAR-Basic's NeurIPS noise model).
# docs/results.md compares it with the authors' STAR-Lite and STAR-Basic.
# The protocol leaves (star-lite-zero_shapes-<task>-<setting>.py) inherit
# this file.
_base_ = ['./star-lite_shapes.py']
custom_hooks = [
    dict(
        type='PrototypeDerivationHook',
        counts='estimated',
        extraction='filtered',
        threshold=0.7,
        noise='extracted',
        extraction_weight=0.5,
        recognition_iters=50000,
        recognition_lr=2.5e-3)
]
incremental = dict(method='star_lite_zero')
