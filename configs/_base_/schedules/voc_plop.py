# PLOP's Pascal VOC schedule, per step (arthurdouillard/CVPR2021_PLOP
# scripts/voc/plop_{15-1,15-5,19-1,10-1}.sh and argparser.py): MiB's
# (voc_mib.py): SGD, momentum 0.9, Nesterov, weight decay 1e-4, one learning
# rate for the whole network, poly (power 0.9), 30 epochs per step, batch 24
# (12 on 2 GPUs), learning rate 1e-2 at step 0 and 1e-3 later. The 10-1
# script trains steps t > 0 for 10 epochs (its leaves say so). No script for
# 5-3, 2-2 or the disjoint settings: their leaves use these numbers. The
# authors train with mixed precision (apex O1): add --amp on GPUs.
_base_ = ['./voc_mib.py']
