from .incremental_encoder_decoder import IncrementalEncoderDecoder
from .mib_segmentor import MiBSegmentor
from .star_segmentor import STARSegmentor

__all__ = ['IncrementalEncoderDecoder', 'MiBSegmentor', 'STARSegmentor']
