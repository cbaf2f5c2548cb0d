# STAR's Cityscapes schedule, per step (jinpeng0528/STAR-TPAMI
# configs/config_city.json and scripts/city/*): as voc_star.py (SGD,
# momentum 0.9, Nesterov, weight decay 1e-4, poly learning rate, power 0.9,
# to 0 at the end of the step, 60 epochs per step, x10 on the decode head)
# with learning rate 5e-3 at step 0 and 5e-4 at later steps; batch 24 and
# 512x512 crops in datasets/cityscapes.py. BCE pos_weight 4, the STAR method
# default. The authors train with AMP: add --amp on GPUs.
_base_ = ['./voc_star.py']
optim_wrapper = dict(optimizer=dict(lr=5e-3))
incremental = dict(
    step_overrides=dict(
        inc=dict(optim_wrapper=dict(optimizer=dict(lr=5e-4)))))
