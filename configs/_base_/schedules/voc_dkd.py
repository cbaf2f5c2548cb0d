# DKD's Pascal VOC schedule, per step (cvlab-yonsei/DKD configs/config_voc.json
# and scripts/voc/overlapped/train_voc_*.sh; DKD-M the same): STAR's, which is
# built on DKD's code (voc_star.py): SGD, momentum 0.9, Nesterov, weight decay
# 1e-4, poly (power 0.9, to 0 at the end of the step), 60 epochs per step,
# learning rate 1e-3 at step 0 (INIT_LR) and 1e-4 later (LR), x10 on the decode
# head (ASPP and classifiers). The scripts' batch is 32 (BS=8 on 4 GPUs), a
# dataset key: configs/dkd/dkd_deeplabv3-r101_1xb32_voc-512x512.py sets it. At
# t > 0 the DKD config adds its per-group learning rates and weight decay. The
# authors train with AMP (use_amp): add --amp on GPUs.
_base_ = ['./voc_star.py']
