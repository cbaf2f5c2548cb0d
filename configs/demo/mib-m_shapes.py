# MiB with an exemplar memory on the synthetic "shapes" data (the CPU demo):
# everything of mib_shapes.py, plus 50 training images kept after each step
# (the STAR authors' class-balanced sampling) and added to the next steps'
# training sets with the step's labels (MiB's unbiased cross-entropy counts
# old-class labels as background either way). The protocol leaves
# (mib-m_shapes-<task>-<setting>.py) inherit this file.
_base_ = ['./mib_shapes.py']
incremental = dict(method='mib_m', memory=dict(size=50))
