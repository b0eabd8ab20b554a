"""ScanImage headers: MATLAB values, the module tree, ROI groups, ImParams and frame lists.

Modules, each with one job:

* :mod:`~libsiff.scanimage.matlab` -- one MATLAB value literal → Python value;
* :mod:`~libsiff.scanimage.header` -- ``SI.*`` lines → a tree of ScanImage modules;
* :mod:`~libsiff.scanimage.roi` -- the ROI-group JSON;
* :mod:`~libsiff.scanimage.framelists` -- the frame layout and SiffPy's frame lists;
* :mod:`~libsiff.scanimage.imparams` -- :class:`ImParams`, SiffPy's view of it all;
* :mod:`~libsiff.scanimage.limits` -- the bounds hostile header text is held to.
"""

from .framelists import FrameTable
from .header import ScanImageModule, ScanImageSubModule, split_nvfd
from .imparams import ImParams
from .matlab import parse_value
from .roi import SIROI, ROIGroup

__all__ = [
    "ImParams", "ScanImageModule", "ScanImageSubModule", "ROIGroup", "SIROI", "FrameTable",
    "split_nvfd", "parse_value",
]
