"""Re-export of :func:`libsiff.scanimage.matlab.parse_value` (its old home)."""

from .scanimage.matlab import parse_value

__all__ = ["parse_value"]
