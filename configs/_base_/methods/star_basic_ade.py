# STAR-Basic with its ADE20K loss setting: BCE pos_weight 30 on the new-class
# logits (jinpeng0528/STAR configs/config_ade.json; 4 on Pascal VOC, the
# default of star_basic.py), kept with the method so that every ADE20K STAR
# leaf gets it.
_base_ = ['./star_basic.py']
method = dict(
    model=dict(decode_head=dict(loss_decode=dict(pos_weight=30.0))))
