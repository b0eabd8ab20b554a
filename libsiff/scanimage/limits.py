"""Limits on what header text may ask for, and the checks that enforce them.

A header is untrusted text: nesting, key depth and counts are bounded here before any
parser recurses or any frame list is allocated (docs/format.md §3.1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import SiffFormatError

__all__ = [
    "MAX_NESTING_DEPTH", "MAX_VALUE_DEPTH", "MAX_KEY_DEPTH", "MAX_COUNT_BEYOND_FILE",
    "check_nesting", "header_count",
]

MAX_NESTING_DEPTH = 64
"""Deepest bracket/brace nesting accepted in the ROI-group JSON (ScanImage writes about 6)."""

MAX_VALUE_DEPTH = 16
"""Deepest bracket/brace nesting accepted in one header value (ScanImage writes at most 3);
parsing a value costs at most this many passes over its text."""

MAX_KEY_DEPTH = 32
"""Most dot-separated parts accepted in a header key (``SI.hScan2D.hAcq.Tau_bins`` has 4)."""

MAX_COUNT_BEYOND_FILE = 4096
"""A header count (slices, frames per slice, colours, flyback planes) may exceed the file's
frame count (an aborted acquisition) only up to this value."""

_OPEN = frozenset("[{")
_CLOSE = frozenset("]}")


def check_nesting(text: str, what: str, json_strings: bool = False,
                  limit: int = MAX_NESTING_DEPTH) -> None:
    """Raise SiffFormatError if ``[``/``{`` in ``text`` nest deeper than ``limit``.

    One linear pass. With ``json_strings``, JSON string literals are skipped; otherwise every
    bracket counts (a MATLAB ``'`` may be a transpose, so quotes cannot be trusted), which
    can only over-count. Unbalanced text is left to the parser.

    Parameters
    ----------
    text : str
        A header value or the ROI-group JSON.
    what : str
        Names the text in the error message.
    json_strings : bool
        Skip ``"..."`` literals with backslash escapes.
    limit : int
        Deepest nesting accepted.
    """
    if "[" not in text and "{" not in text:
        return
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"' and json_strings:
            in_string = True
        elif ch in _OPEN:
            depth += 1
            if depth > limit:
                raise SiffFormatError(f"{what} nests brackets deeper than {limit} levels")
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)


def header_count(value: Any, what: str, minimum: int = 1, maximum: int | None = None) -> int:
    """A header count as an int in ``[minimum, maximum]``, else SiffFormatError.

    Parameters
    ----------
    value : object
        The parsed header value.
    what : str
        Names the value in the error message.
    minimum, maximum : int
        Bounds (``maximum`` None: no upper bound).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SiffFormatError(f"header value {what} = {value!r} is not a count")
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        raise SiffFormatError(f"header value {what} = {value!r} is not a finite count")
    if value != int(value) or int(value) < minimum:
        raise SiffFormatError(f"header value {what} = {value!r} is not a count >= {minimum}")
    if maximum is not None and int(value) > maximum:
        raise SiffFormatError(
            f"header value {what} = {value!r} is larger than the file allows ({maximum})")
    return int(value)
