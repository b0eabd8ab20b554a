"""Per-timepoint float32 rows that stay in memory when small and spill to disk when large.

Registration keeps a log-likelihood map per timepoint (and the HMM a forward message per
timepoint): ``T * window`` floats, which grows with the recording. :class:`RowStore` keeps
them in an array up to :data:`IN_MEMORY_BYTES`, beyond that in an unlinked temporary file
read and written with positional I/O (not a mapping, whose touched pages would count as
resident memory), so the estimator streams through them in chunks of
:data:`CHUNK_BYTES` whatever the recording length.
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np

from ..errors import SiffIOError

__all__ = ["RowStore", "IN_MEMORY_BYTES", "CHUNK_BYTES"]

#: Stores up to this size live in memory.
IN_MEMORY_BYTES = 64 << 20
#: Rows handed out per chunk by :meth:`RowStore.chunks` (bytes).
CHUNK_BYTES = 8 << 20


class RowStore:
    """A ``(n_rows, *row_shape)`` float32 table, zero-initialised.

    Parameters
    ----------
    n_rows : int
    row_shape : tuple of int
    in_memory_bytes : int, optional
        Largest size kept in memory (default :data:`IN_MEMORY_BYTES`); larger tables go
        to a temporary file (in ``TMPDIR``).
    """

    def __init__(self, n_rows: int, row_shape: tuple[int, ...],
                 in_memory_bytes: int | None = None):
        self.shape = (int(n_rows), *(int(v) for v in row_shape))
        self._row_items = math.prod(self.shape[1:])
        nbytes = self.shape[0] * self._row_items * 4
        self._array: np.ndarray | None = None
        self._file = None
        if nbytes <= (IN_MEMORY_BYTES if in_memory_bytes is None else in_memory_bytes):
            self._array = np.zeros(self.shape, np.float32)
        else:
            self._file = tempfile.TemporaryFile(prefix="libsiff-registration-")
            os.ftruncate(self._file.fileno(), nbytes)  # a sparse file of zeros

    @property
    def spilled(self) -> bool:
        """True when the rows live in a temporary file."""
        return self._file is not None

    def chunks(self, reverse: bool = False):
        """``(t0, t1)`` row ranges of at most :data:`CHUNK_BYTES`, covering every row."""
        step = max(1, CHUNK_BYTES // max(1, self._row_items * 4))
        starts = list(range(0, self.shape[0], step))
        for t0 in (reversed(starts) if reverse else starts):
            yield t0, min(t0 + step, self.shape[0])

    def read(self, t0: int, t1: int) -> np.ndarray:
        """Rows ``t0:t1`` (a copy when spilled, a view otherwise: do not modify it)."""
        if self._array is not None:
            return self._array[t0:t1]
        out = np.empty((t1 - t0, *self.shape[1:]), np.float32)
        self._pread(memoryview(out).cast("B"), t0 * self._row_items * 4)
        return out

    def write(self, rows: np.ndarray, values: np.ndarray, part: int | None = None) -> None:
        """Set ``table[rows[k]] = values[k]`` (or ``table[rows[k], part]``)."""
        values = np.ascontiguousarray(values, np.float32)
        if self._array is not None:
            if part is None:
                self._array[rows] = values
            else:
                self._array[rows, part] = values
            return
        item = values[0].size if len(values) else 0
        base = 0 if part is None else part * item * 4
        fd = self._file.fileno()
        for k, t in enumerate(np.asarray(rows).tolist()):
            _pwrite(fd, memoryview(values[k]).cast("B"), t * self._row_items * 4 + base)

    def write_block(self, t0: int, values: np.ndarray) -> None:
        """Set the contiguous rows ``t0 : t0 + len(values)``."""
        if self._array is not None:
            self._array[t0:t0 + len(values)] = values
            return
        values = np.ascontiguousarray(values, np.float32)
        _pwrite(self._file.fileno(), memoryview(values).cast("B"), t0 * self._row_items * 4)

    def _pread(self, buf: memoryview, offset: int) -> None:
        fd, done = self._file.fileno(), 0
        while done < len(buf):
            n = os.preadv(fd, [buf[done:]], offset + done)
            if n <= 0:
                raise SiffIOError(f"{self._file.name}: registration scratch file ended early")
            done += n

    def close(self) -> None:
        """Release the memory or delete the temporary file."""
        self._array = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RowStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _pwrite(fd: int, buf: memoryview, offset: int) -> None:
    done = 0
    while done < len(buf):
        done += os.pwrite(fd, buf[done:], offset + done)
