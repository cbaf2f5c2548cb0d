# DKD-M on the synthetic "shapes" data (the CPU demo): DKD (dkd_shapes.py)
# with a memory of 50 past-step training images added to every later step's
# data (cisseg/datasets/memory.py, docs/memory.md), as the DKD and STAR
# papers' DKD-M rows. The protocol leaves (dkd-m_shapes-<task>-<setting>.py)
# inherit it.
_base_ = ['./dkd_shapes.py']
incremental = dict(method='dkd_m', memory=dict(size=50))
