# MiB's ADE20K schedule, per step (fcdl94/MiB README and run.py; the
# fine-tuning baseline of MiB's tables uses it too): as voc_mib.py (SGD,
# momentum 0.9, Nesterov, weight decay 1e-4, poly 0.9, learning rate 1e-2 at
# step 0 and 1e-3 later, batch 24) but 60 epochs per step.
_base_ = ['./voc_mib.py']
train_cfg = dict(max_epochs=60)
