"""cffi out-of-line API-mode builder for libsiff's C core (run by setup.py's cffi_modules).

Paths are relative to the project root, where the build runs."""

import re
import sys
from pathlib import Path

from cffi import FFI

CSRC = "libsiff/csrc"
SOURCES = ["container.c", "decode.c", "fields.c", "io.c", "kernels.c", "projections.c", "text.c"]


def _cdef_text() -> str:
    """The public header, without preprocessor lines, in the C subset cffi parses."""
    text = Path(CSRC, "siff.h").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return re.sub(r"(\d+)u\b", r"\1", "\n".join(lines))


ffibuilder = FFI()
ffibuilder.cdef(_cdef_text())
_args = ["/O2"] if sys.platform == "win32" else ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wshadow"]
ffibuilder.set_source(
    "libsiff._siff",
    '#include "siff.h"',
    sources=[f"{CSRC}/{name}" for name in SOURCES],
    include_dirs=[CSRC],
    libraries=[] if sys.platform == "win32" else ["m", "pthread"],
    extra_compile_args=_args,
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir="build/cffi", verbose=True)
