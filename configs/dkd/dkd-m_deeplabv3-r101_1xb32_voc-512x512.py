# DKD-M with DeepLabV3-R101 on Pascal VOC 2012 (+SBD): DKD
# (dkd_deeplabv3-r101_1xb32_voc-512x512.py) with a memory of 50 training
# images of past steps, kept after each step and added to the later steps'
# data (cvlab-yonsei/DKD --mem_size 50; docs/memory.md). The base of the
# protocol leaves dkd-m_deeplabv3-r101_1xb32_voc-<task>-<setting>-512x512.py.
_base_ = ['./dkd_deeplabv3-r101_1xb32_voc-512x512.py']
incremental = dict(method='dkd_m', memory=dict(size=50))
