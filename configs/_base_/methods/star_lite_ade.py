# STAR-Lite with STAR's ADE20K loss setting: BCE pos_weight 30 on the
# new-class logits (jinpeng0528/STAR configs/config_ade.json), as
# star_basic_ade.py does for STAR-Basic.
_base_ = ['./star_lite.py']
method = dict(
    model=dict(decode_head=dict(loss_decode=dict(pos_weight=30.0))))
