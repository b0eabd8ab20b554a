"""The SiffError family: every error libsiff raises derives from SiffError and from the
builtin a caller would naturally catch.

==================  ============================  =========================================
class               also a                        raised for
==================  ============================  =========================================
SiffFormatError     ValueError                    a file or sidecar that is not what the
                                                  format requires (never an OSError, so
                                                  ``except OSError`` around a write does not
                                                  swallow it)
SiffCorruptError    SiffFormatError               a damaged, truncated or foreign file
SiffArgumentError   ValueError                    a bad argument value to any libsiff
                                                  function (method name, index type,
                                                  registration table, empty masks, fit
                                                  settings, writer input); a wrong type
                                                  stays a TypeError
SiffShapeError      SiffFormatError, OSError      a mask or frame shape that does not match
                                                  the frames (corrosiffpy raises OSError or
                                                  ValueError here, depending on the call)
SiffIndexError      IndexError, ValueError        a frame outside the file
SiffIOError         OSError                       a file that cannot be opened or read, or
                                                  that changed underneath (shrank, closed)
SiffMemoryError     MemoryError                   a request larger than the memory available
SiffCancelled       --                            a long operation cancelled by its caller
==================  ============================  =========================================
"""

from __future__ import annotations


class SiffError(Exception):
    """Base class of every error raised by libsiff."""


class SiffFormatError(SiffError, ValueError):
    """The file (or a sidecar) is not what the format requires."""


class SiffIOError(SiffError, OSError):
    """The file cannot be opened or read, or changed while it was open."""


class SiffCorruptError(SiffFormatError):
    """The file is damaged, truncated or not a ScanImage file at all."""


class SiffArgumentError(SiffError, ValueError):
    """An argument is invalid (its value, type or size), whatever the file holds."""


class SiffShapeError(SiffFormatError, OSError):
    """A mask or frame shape does not match the frames requested.

    Also an OSError: corrosiffpy raises OSError for a mask of the wrong shape in ``sum_roi``
    (and ValueError in ``get_histogram_masked``), so code written for it keeps working."""


class SiffIndexError(SiffError, IndexError, ValueError):
    """A frame index is outside the file (also a ValueError, as in corrosiffpy)."""


class SiffMemoryError(SiffError, MemoryError):
    """A request needs more memory than the system has available."""


class SiffCancelled(SiffError):
    """A long operation was cancelled by its caller."""
