from .dkd_segmentor import DKDSegmentor
from .incremental_encoder_decoder import IncrementalEncoderDecoder
from .mib_segmentor import MiBSegmentor
from .plop_segmentor import PLOPSegmentor
from .star_segmentor import STARSegmentor

__all__ = [
    'IncrementalEncoderDecoder', 'MiBSegmentor', 'STARSegmentor',
    'DKDSegmentor', 'PLOPSegmentor'
]
