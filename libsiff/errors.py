"""The SiffError family: every error libsiff raises derives from SiffError and from the
builtin a caller would naturally catch (OSError, ValueError, IndexError, MemoryError)."""

from __future__ import annotations


class SiffError(Exception):
    """Base class of every error raised by libsiff."""


class SiffFormatError(SiffError, ValueError):
    """The file, or an argument describing its contents, is not what the format requires."""


class SiffIOError(SiffError, OSError):
    """The file cannot be opened or read."""


class SiffCorruptError(SiffFormatError, SiffIOError):
    """The file is damaged, truncated or not a ScanImage file at all.

    Both a ValueError and an OSError: corrosiffpy raises OSError where libsiff finds a
    damaged structure, so code written for either keeps working."""


class SiffShapeError(SiffFormatError, SiffIOError):
    """A mask or frame shape does not match the frames requested.

    Both a ValueError and an OSError: corrosiffpy raises OSError here."""


class SiffIndexError(SiffError, IndexError, ValueError):
    """A frame index is outside the file (also a ValueError, as in corrosiffpy)."""


class SiffMemoryError(SiffError, MemoryError):
    """The C core could not allocate memory for a request."""


class SiffCancelled(SiffError):
    """A long operation was cancelled by its caller."""
