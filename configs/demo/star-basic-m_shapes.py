# STAR-Basic with an exemplar memory on the synthetic "shapes" data (the CPU
# demo): STAR-M in the authors' scripts (--mem_size 50), STAR-Basic† in the
# paper's tables. Everything of star-basic_shapes.py, plus 50 training images
# kept after each step (the authors' class-balanced sampling) and added to
# the next steps' training sets, labelled as the authors label them: only the
# step's new classes (old classes are background). On this data 50 images are
# 12.5% of the 400 training images (on VOC 0.5% of 10,582). The protocol
# leaves (star-basic-m_shapes-<task>-<setting>.py) inherit this file.
_base_ = ['./star-basic_shapes.py']
incremental = dict(method='star_basic_m', memory=dict(size=50))
