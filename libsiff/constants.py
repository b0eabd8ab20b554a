"""Constants of the ScanImage-FLIM format that several modules need (one definition each).

Arrival times are counted in bins of ``5 ps * 2**binResolution`` (MultiHarp, MHLib >= 3;
docs/format.md §5).
"""

from __future__ import annotations

from .errors import SiffArgumentError

__all__ = [
    "MULTIHARP_BASE_RESOLUTION_PS",
    "FALLBACK_PICOSECONDS_PER_BIN",
    "bin_width_ps_from_bin_resolution",
]

MULTIHARP_BASE_RESOLUTION_PS = 5
"""Width of the MultiHarp base time bin (``binResolution = 0``), in picoseconds."""

FALLBACK_PICOSECONDS_PER_BIN = 20
"""Bin width assumed (with a warning) when a header has no ``binResolution``; SiffPy's
hard-coded value and the default of FLIM objects built by hand."""


def bin_width_ps_from_bin_resolution(bin_resolution: int) -> int:
    """Width of one arrival-time bin in picoseconds: ``5 ps * 2**binResolution``.

    Parameters
    ----------
    bin_resolution : int
        The header key ``SI.hScan2D.hAcq.binResolution`` (0 to 62).

    Raises
    ------
    ValueError
        ``bin_resolution`` is not an integer in ``[0, 62]``.
    """
    if isinstance(bin_resolution, bool) or int(bin_resolution) != bin_resolution:
        raise SiffArgumentError(f"binResolution must be an integer, got {bin_resolution!r}")
    resolution = int(bin_resolution)
    if not 0 <= resolution <= 62:
        raise SiffArgumentError(f"binResolution must be in [0, 62], got {bin_resolution}")
    return MULTIHARP_BASE_RESOLUTION_PS << resolution
