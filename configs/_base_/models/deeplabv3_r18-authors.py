# The architecture of deeplabv3_r101-d16.py (the STAR authors' DeepLabV3:
# torchvision ResNet layout, output stride 16, their ASPP head) on a
# full-width ResNet-18, for side-by-side runs against a copy of the
# authors' code on small data (e.g. the 64 px synthetic demo). ResNet-18's
# blocks are mmseg BasicBlocks: in the dilated last stage, the first block
# has dilation 1, the second dilation 2 in its first 3x3 conv and 1 in its
# second (mmseg's BasicBlock dilates the first conv only). The authors'
# BasicBlock refuses dilation: a copy of their code must dilate the same
# conv to match. Trained from scratch (init_cfg
# None, the demo's choice); `init_cfg=dict(type='Pretrained',
# checkpoint='torchvision://resnet18')` gives torchvision's ImageNet
# weights, as the authors load for ResNet-101. BN, not SyncBN: a CPU model.
_base_ = ['./deeplabv3_r101-d16.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        depth=18,
        norm_cfg=dict(type='BN', requires_grad=True, momentum=0.01),
        init_cfg=None),
    decode_head=dict(in_channels=512, norm_cfg=norm_cfg))
