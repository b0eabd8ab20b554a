"""libsiff: a fast, strict reader and writer for ScanImage-FLIM .siff files.

``libsiff.open_file`` gives a corrosiffpy-compatible :class:`SiffIO`."""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    SiffArgumentError,
    SiffCancelled,
    SiffCorruptError,
    SiffError,
    SiffFormatError,
    SiffIndexError,
    SiffIOError,
    SiffMemoryError,
    SiffShapeError,
)
from .reader import SiffReader  # noqa: E402
from .siffio import (  # noqa: E402
    SiffIO,
    get_start_and_end_timestamps,
    get_start_timestamp,
    open_file,
)
from .tiff_export import siff_to_tiff  # noqa: E402

__all__ = [
    "SiffArgumentError", "SiffCancelled", "SiffCorruptError", "SiffError", "SiffFormatError",
    "SiffIndexError", "SiffIOError", "SiffMemoryError", "SiffShapeError", "SiffIO", "SiffReader",
    "open_file", "get_start_timestamp", "get_start_and_end_timestamps", "siff_to_tiff",
    "__version__",
]
