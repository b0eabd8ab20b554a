"""Re-export of :class:`libsiff.flim.trace.FlimTrace` (its home is the ``flim`` package)."""

from .flim.trace import FlimTrace

__all__ = ["FlimTrace"]
