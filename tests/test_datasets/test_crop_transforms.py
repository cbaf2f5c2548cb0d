import mmcv
import numpy as np
import pytest

from cisseg.datasets.transforms import (RandomResizedCrop, ResizeCenterCrop,
                                        VoidToBackground)


def _results(h, w):
    label = np.tile(np.arange(w, dtype=np.uint8), (h, 1))  # value = column
    img = np.stack([label] * 3, axis=-1).astype(np.uint8)
    return dict(img=img, gt_seg_map=label, seg_fields=['gt_seg_map'],
                img_shape=(h, w), ori_shape=(h, w))


def test_random_resized_crop_draws_a_window_and_resizes():
    # area x1, aspect 2 on a 10x20 image: the whole image, resized to 4x6
    t = RandomResizedCrop(size=(4, 6), scale=(1.0, 1.0), ratio=(2.0, 2.0))
    assert t.window(10, 20) == (0, 0, 10, 20)
    out = t(_results(10, 20))
    assert out['img'].shape == (4, 6, 3) and out['img_shape'] == (4, 6)
    want = mmcv.imresize(_results(10, 20)['gt_seg_map'], (6, 4),
                         interpolation='nearest')
    assert np.array_equal(out['gt_seg_map'], want)


def test_random_resized_crop_windows_fit_and_follow_scale():
    np.random.seed(0)
    t = RandomResizedCrop(size=8, scale=(0.5, 2.0))
    areas = []
    for _ in range(200):
        top, left, h, w = t.window(30, 40)
        assert 0 <= top and top + h <= 30 and 0 <= left and left + w <= 40
        areas.append(h * w / 1200)
    assert min(areas) >= 0.45 and max(areas) <= 1.0
    assert np.mean(areas) > 0.6  # windows of 0.5-1x the area are common


def test_random_resized_crop_falls_back_to_the_central_window():
    # an area of 4x the image never fits: the central window with the
    # aspect ratio clamped to 4/3 (10x20 has 2): 10 x round(13.33) = 10x13
    t = RandomResizedCrop(size=(10, 13), scale=(4.0, 4.0))
    assert t.window(10, 20) == (0, 3, 10, 13)
    out = t(_results(10, 20))
    assert np.array_equal(out['gt_seg_map'][0], np.arange(3, 16))
    with pytest.raises(ValueError, match='scale and ratio'):
        RandomResizedCrop(8, scale=(2.0, 1.0))


def test_resize_center_crop_is_the_evaluated_view():
    # 10x20 -> shorter side 5 -> 5x10 -> central 5x5 at column round(2.5)
    t = ResizeCenterCrop(size=5, crop_size=5)
    out = t(_results(10, 20))
    resized = mmcv.imresize(_results(10, 20)['gt_seg_map'], (10, 5),
                            interpolation='nearest')
    assert np.array_equal(out['gt_seg_map'], resized[:, 2:7])
    assert out['img'].shape == (5, 5, 3)
    assert out['img_shape'] == out['ori_shape'] == (5, 5)
    assert t.eval_view == 'resize-short-5_center-crop-5x5'
    # torchvision's rounding of the long side: int(5 * 23 / 10) = 11
    assert t._resized(10, 23) == (5, 11) and t._resized(23, 10) == (11, 5)
    with pytest.raises(ValueError, match='larger than the resized image'):
        ResizeCenterCrop(size=4, crop_size=5)(_results(10, 20))


def test_pillow_backend_resizes_as_pil():
    # the authors' torchvision transforms resize PIL images: antialiased
    # bilinear for the image, nearest at pixel centres for the label
    from PIL import Image
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (30, 40, 3)).astype(np.uint8)
    label = rng.randint(0, 21, (30, 40)).astype(np.uint8)
    t = RandomResizedCrop(size=(12, 16), scale=(1.0, 1.0),
                          ratio=(4 / 3, 4 / 3),
                          backend='pillow')
    out = t(dict(img=img.copy(), gt_seg_map=label.copy(),
                 seg_fields=['gt_seg_map']))
    want_img = np.asarray(Image.fromarray(img).resize((16, 12),
                                                      Image.BILINEAR))
    want_lab = np.asarray(Image.fromarray(label).resize((16, 12),
                                                        Image.NEAREST))
    assert np.array_equal(out['img'], want_img)
    assert np.array_equal(out['gt_seg_map'], want_lab)
    # OpenCV's bilinear does not antialias: a 2.5x shrink differs
    cv = RandomResizedCrop(size=(12, 16), scale=(1.0, 1.0),
                           ratio=(4 / 3, 4 / 3))(dict(img=img.copy()))
    assert not np.array_equal(cv['img'], want_img)
    # a wider label type keeps its type and values
    out = ResizeCenterCrop(size=15, crop_size=(15, 15), backend='pillow')(
        dict(img=img.copy(), gt_seg_map=label.astype(np.int64),
             seg_fields=['gt_seg_map']))
    resized = np.asarray(Image.fromarray(label).resize((20, 15),
                                                       Image.NEAREST))
    assert out['gt_seg_map'].dtype == np.int64
    assert np.array_equal(out['gt_seg_map'], resized[:, 2:17])


def test_crop_backend_is_checked():
    with pytest.raises(ValueError, match='backend must be one of'):
        RandomResizedCrop(size=8, backend='PIL')
    with pytest.raises(ValueError, match='ResizeCenterCrop: backend'):
        ResizeCenterCrop(size=8, crop_size=8, backend='pil')


def test_void_to_background():
    res = dict(gt_seg_map=np.array([[0, 3, 255]], np.uint8),
               seg_fields=['gt_seg_map'])
    assert VoidToBackground()(res)['gt_seg_map'].tolist() == [[0, 3, 0]]
