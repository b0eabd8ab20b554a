"""Units of FLIM quantities: arrival-time count bins, picoseconds and nanoseconds.

One count bin (one arrival-time bin of the histogram) lasts ``bin_width_ps`` picoseconds.
The bin width of a file is ``5 ps * 2**binResolution`` (its ScanImage header), so readers
pass the file's own value. SiffPy hard-codes 20 ps; that value is only the default of
objects built by hand (:data:`BASE_RESOLUTION_PICOSECONDS`).
"""

from __future__ import annotations

from enum import Enum
from typing import Union

import numpy as np

from ..constants import FALLBACK_PICOSECONDS_PER_BIN, bin_width_ps_from_bin_resolution
from ..errors import SiffArgumentError

__all__ = [
    "BASE_RESOLUTION_PICOSECONDS",
    "FlimUnits",
    "FlimUnitsLike",
    "bin_width_ps_from_bin_resolution",
    "convert_flimunits",
]

#: Default width of one arrival-time bin, in picoseconds (SiffPy's hard-coded value).
BASE_RESOLUTION_PICOSECONDS = float(FALLBACK_PICOSECONDS_PER_BIN)

_ALIASES = {
    "ps": "picoseconds",
    "picosecond": "picoseconds",
    "ns": "nanoseconds",
    "nanosecond": "nanoseconds",
    "bins": "countbins",
    "countbin": "countbins",
    "count_bins": "countbins",
    "arrival_bins": "countbins",
    "arrivalbins": "countbins",
}


class FlimUnits(Enum):
    """Units of a FLIM time quantity (SiffPy's ``FlimUnits``).

    Accepts the value (``'nanoseconds'``), the member name (``'NANOSECONDS'``) or a short
    alias (``'ns'``, ``'ps'``, ``'bins'``, ``'arrival_bins'``), case-insensitively.
    """

    PICOSECONDS = "picoseconds"
    NANOSECONDS = "nanoseconds"
    COUNTBINS = "countbins"
    UNKNOWN = "unknown"
    UNITLESS = "unitless"

    @classmethod
    def _missing_(cls, value):
        if isinstance(value, Enum):  # another library's FlimUnits (duck typing)
            value = value.value
        if isinstance(value, str):
            key = value.strip().lower()
            key = _ALIASES.get(key, key)
            for member in cls:
                if member.value == key:
                    return member
        return None


FlimUnitsLike = Union[FlimUnits, str]

# Duration of one unit, in picoseconds (count bins are handled with the bin width).
_PS_PER_UNIT = {FlimUnits.PICOSECONDS: 1.0, FlimUnits.NANOSECONDS: 1000.0}


def _check_bin_width(bin_width_ps: float) -> float:
    bw = float(bin_width_ps)
    if not np.isfinite(bw) or bw <= 0:
        raise SiffArgumentError("bin_width_ps must be a positive number of picoseconds, "
                         f"got {bin_width_ps!r}")
    return bw


def convert_flimunits(value, from_units: FlimUnitsLike, to_units: FlimUnitsLike,
                      bin_width_ps: float = BASE_RESOLUTION_PICOSECONDS):
    """Convert a time (scalar or array) between FLIM units.

    Parameters
    ----------
    value : float or array_like
        Time(s) expressed in ``from_units``.
    from_units, to_units : FlimUnits or str
        ``'countbins'``, ``'picoseconds'``, ``'nanoseconds'``, or ``'unitless'``. Converting
        from or to ``'unitless'`` leaves the numbers unchanged (it only relabels them).
    bin_width_ps : float
        Duration of one count bin in picoseconds (default 20, SiffPy's value).

    Returns
    -------
    float or numpy.ndarray
        ``value`` in ``to_units``; ``None`` stays ``None``.

    Raises
    ------
    ValueError
        If either unit is ``'unknown'``, or the bin width is not positive.
    """
    from_units, to_units = FlimUnits(from_units), FlimUnits(to_units)
    if value is None:
        return None
    if FlimUnits.UNKNOWN in (from_units, to_units):
        raise SiffArgumentError("cannot convert to or from FlimUnits.UNKNOWN")
    if from_units is to_units or FlimUnits.UNITLESS in (from_units, to_units):
        return value
    bw = _check_bin_width(bin_width_ps)
    ps_per = dict(_PS_PER_UNIT)
    ps_per[FlimUnits.COUNTBINS] = bw
    factor = ps_per[from_units] / ps_per[to_units]
    if np.isscalar(value):
        return float(value) * factor
    return np.asarray(value, dtype=float) * factor
