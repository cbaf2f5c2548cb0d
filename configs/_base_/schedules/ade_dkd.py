# DKD's ADE20K schedule, per step (cvlab-yonsei/DKD configs/config_ade.json
# and scripts/ade/overlapped/train_ade_*.sh): STAR's (ade_star.py): SGD,
# momentum 0.9, Nesterov, weight decay 1e-4, 100 epochs per step, batch 24
# (BS=6 on 4 GPUs; datasets/ade20k.py), learning rate 2.5e-3 at step 0 and
# 2.5e-4 later, x10 on the decode head, WarmupPolyLR (linear warm-up from
# 0.001 over the first 20% of the step, then poly 0.9). At t > 0 the DKD
# config adds its per-group learning rates and weight decay. The authors
# train with AMP (use_amp): add --amp on GPUs.
_base_ = ['./ade_star.py']
