"""libsiff: a fast, strict reader and writer for ScanImage-FLIM .siff files."""

from .errors import SiffCancelled, SiffError, SiffFormatError, SiffIndexError, SiffIOError

__version__ = "0.1.0"
from .siffio import SiffIO, get_start_and_end_timestamps, get_start_timestamp, open_file
