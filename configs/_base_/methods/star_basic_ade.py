# STAR-Basic with its ADE20K loss setting: BCE pos_weight 30 on the new-class
# logits (jinpeng0528/STAR configs/config_ade.json; 4 on Pascal VOC, the
# default of star_basic.py). A method file, not a schedule: the method is
# merged last, so only a method file can change its loss.
_base_ = ['./star_basic.py']
method = dict(
    model=dict(decode_head=dict(loss_decode=dict(pos_weight=30.0))))
