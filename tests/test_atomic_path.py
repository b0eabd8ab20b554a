"""``libsiff.atomic.atomic_path``: the by-name form of the one atomic writer, for libraries
that write by file name (tifffile, HDF5, ffmpeg). Same guarantees as ``atomic_open``: the
data then the folder are fsynced, a replaced file keeps its mode, a failure leaves the old
file and no temporary file. Checked by reading the result back with tifffile."""

import os
import stat

import numpy as np
import pytest
import tifffile

from libsiff.atomic import atomic_path


def test_replaces_the_file_with_what_the_library_wrote(tmp_path, fsynced_modes):
    target = tmp_path / "maps.ome.tif"
    target.write_bytes(b"old")
    target.chmod(0o640)
    synced = fsynced_modes
    data = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".tif") and tmp != target
        tifffile.imwrite(tmp, data)
        assert target.read_bytes() == b"old"  # nothing replaced before the clean exit
    np.testing.assert_array_equal(tifffile.imread(target), data)
    assert target.stat().st_mode & 0o777 == 0o640
    assert [stat.S_ISREG(m) for m in synced] == [True, False] and stat.S_ISDIR(synced[1])
    assert os.listdir(tmp_path) == ["maps.ome.tif"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "labels.tif"
    tifffile.imwrite(target, np.ones((2, 2), np.uint8))
    with pytest.raises(ZeroDivisionError):
        with atomic_path(target) as tmp:
            tifffile.imwrite(tmp, np.zeros((5, 5), np.uint8))
            1 / 0
    np.testing.assert_array_equal(tifffile.imread(target), np.ones((2, 2), np.uint8))
    assert os.listdir(tmp_path) == ["labels.tif"]


def test_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "new.tif") as tmp:
            tifffile.imwrite(tmp, np.zeros((2, 2), np.uint8))
    finally:
        os.umask(old)
    assert (tmp_path / "new.tif").stat().st_mode & 0o777 == 0o640
