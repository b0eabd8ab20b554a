import os
import stat
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))  # tests/reference.py and tests/checks.py

import numpy as np  # noqa: E402
import pytest  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ---- no test may leak an open file --------------------------------------------------------------

_FD_DIR = Path("/proc/self/fd")
_REPO = Path(__file__).resolve().parents[1]


def _open_user_files(roots: tuple[Path, ...]) -> dict[int, str]:
    """fd → path of every open regular file under ``roots`` (the test's data and temp dirs).

    Files elsewhere (fonts, shared libraries, pytest's capture files, caches) belong to the
    interpreter, Qt or pytest and are ignored."""
    out = {}
    for entry in _FD_DIR.iterdir():
        try:
            target = os.readlink(entry)
            if not stat.S_ISREG(os.stat(entry).st_mode):
                continue
        except OSError:  # closed between listing and reading: not open any more
            continue
        if target.startswith(tuple(str(root) + os.sep for root in roots)):
            out[int(entry.name)] = target
    return out


@pytest.fixture(autouse=True)
def no_leaked_files(tmp_path_factory):
    """Fail a test that leaves a file it opened (under the temp or repository folders) open.

    Compares /proc/self/fd before and after the test (Linux only). No garbage collection is
    forced (it would destroy Qt wrappers mid-teardown): a file left for the collector to close
    counts as leaked, as it should."""
    if not _FD_DIR.is_dir():
        yield
        return
    roots = (tmp_path_factory.getbasetemp().resolve(), _REPO)
    before = _open_user_files(roots)
    yield
    leaked = {fd: path for fd, path in _open_user_files(roots).items()
              if before.get(fd) != path}
    if leaked:
        pytest.fail("the test left files open: " + ", ".join(sorted(set(leaked.values()))),
                    pytrace=False)
