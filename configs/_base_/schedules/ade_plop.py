# PLOP's ADE20K schedule, per step (arthurdouillard/CVPR2021_PLOP
# scripts/ade/plop_ade_{100-50,100-10,100-5}.sh): MiB's (ade_mib.py): SGD,
# momentum 0.9, Nesterov, weight decay 1e-4, one learning rate for the whole
# network, poly (power 0.9), 60 epochs per step, batch 24 (12 on 2 GPUs),
# learning rate 1e-2 at step 0 and 1e-3 later. No script for 50-50: its
# leaf uses these numbers. The authors train with mixed precision (apex
# O1): add --amp on GPUs.
_base_ = ['./ade_mib.py']
