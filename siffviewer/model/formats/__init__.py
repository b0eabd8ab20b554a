"""Files that travel to the tools labs already use: masks in and out (ImageJ ROIs, label
TIFFs, suite2p, siffviewer's own), NWB export, OME-TIFF maps and MP4 movies. Qt-free.

One module per format; :func:`read_masks_any` / :func:`write_masks_any` choose among the
masks formats by content and extension."""

from .common import MaskFormatError
from .dispatch import FORMATS, detect_format, infer_shape, read_masks_any, write_masks_any

__all__ = ["FORMATS", "MaskFormatError", "detect_format", "infer_shape", "read_masks_any",
           "write_masks_any"]
