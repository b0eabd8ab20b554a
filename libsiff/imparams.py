"""Re-export of :mod:`libsiff.scanimage` under the name SiffPy users know (``ImParams``)."""

from .constants import FALLBACK_PICOSECONDS_PER_BIN, MULTIHARP_BASE_RESOLUTION_PS
from .scanimage.framelists import FrameTable
from .scanimage.header import ScanImageModule, ScanImageSubModule, split_nvfd
from .scanimage.imparams import ImParams
from .scanimage.roi import SIROI, ROIGroup

__all__ = [
    "ImParams", "ScanImageModule", "ScanImageSubModule", "ROIGroup", "SIROI", "FrameTable",
    "split_nvfd", "MULTIHARP_BASE_RESOLUTION_PS", "FALLBACK_PICOSECONDS_PER_BIN",
]
