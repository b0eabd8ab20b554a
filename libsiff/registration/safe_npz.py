"""Re-export: the bounded ``.npz`` reader moved to :mod:`libsiff.safe_npz` (it reads every
sidecar, not only the registration)."""

from ..safe_npz import MAX_MEMBER_BYTES, read_npz

__all__ = ["read_npz", "MAX_MEMBER_BYTES"]
