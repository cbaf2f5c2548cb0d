import pytest
import torch

from cisseg.models.utils import class_argmax


def test_class_argmax_by_hand():
    # pixel (0, 0): class 2 largest; (0, 1): classes 0 and 1 tie -> 0;
    # (1, 0): a NaN counts as the largest; (1, 1): 1 and 2 tie -> 1
    s = torch.tensor([[[0., 5.], [1., 0.]],
                      [[1., 5.], [float('nan'), 3.]],
                      [[2., 4.], [9., 3.]]])[None]
    assert class_argmax(s).tolist() == [[[2, 0], [1, 1]]]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64,
                                   torch.float16])
def test_class_argmax_equals_argmax_with_ties_and_nan(dtype):
    gen = torch.Generator().manual_seed(0)
    # few distinct values: many ties; some NaN; a channels-last copy too
    s = torch.randint(0, 3, (2, 16, 37, 41), generator=gen).to(dtype)
    s[torch.rand(s.shape, generator=gen) < 0.02] = float('nan')
    for x in (s, s.contiguous(memory_format=torch.channels_last)):
        assert torch.equal(class_argmax(x), x.argmax(1))
