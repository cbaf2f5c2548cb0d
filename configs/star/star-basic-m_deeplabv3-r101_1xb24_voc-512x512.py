# STAR-Basic with an exemplar memory (STAR-M in the authors' scripts,
# STAR-Basic† in the paper's tables; NeurIPS 2023) with DeepLabV3-R101 on
# Pascal VOC 2012 (+SBD): everything of
# star-basic_deeplabv3-r101_1xb24_voc-512x512.py, plus 50 training images kept
# after each step by the authors' class-balanced sampling and added to the next
# steps' training sets, labelled like the step's own images (old classes are
# background), as jinpeng0528/STAR's scripts/voc/*/train_voc_*.sh run it with
# --mem_size 50. The authors ship such a script for VOC 15-1, 15-5, 19-1
# (overlapped and disjoint), 10-1 and 5-3 (overlapped): the leaves
# star-basic-m_deeplabv3-r101_1xb24_voc-<task>-<setting>-512x512.py.
_base_ = ['./star-basic_deeplabv3-r101_1xb24_voc-512x512.py']
incremental = dict(method='star_basic_m', memory=dict(size=50))
