"""The one bounded ``.npz`` reader (``libsiff.safe_npz``) behind every sidecar: the
registration's and siffviewer's session/masks files get the same checks, and errors that
name the file; damaged files are set aside by one helper."""

import io
import zipfile

import numpy as np
import pytest

import libsiff
from libsiff.atomic import set_aside_damaged
from libsiff.safe_npz import read_npz
from siffviewer.model import sidecar


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_reads_what_numpy_wrote(tmp_path):
    arrays = {"a": np.arange(12, dtype=np.int16).reshape(3, 4), "b": np.array("text"),
              "c": np.asfortranarray(np.eye(3, dtype=bool))}
    path = _npz(tmp_path / "x.npz", **arrays)
    out = read_npz(path)
    with np.load(path) as ref:  # numpy's own reader is the truth for well-formed files
        assert sorted(out) == sorted(ref.files)
        for name in ref.files:
            assert out[name].dtype == ref[name].dtype
            np.testing.assert_array_equal(out[name], ref[name])
    assert sorted(read_npz(path, ("a", "missing"))) == ["a"]


@pytest.mark.parametrize("reader", ["libsiff", "session"])
def test_hostile_archives_are_format_errors_naming_the_file(tmp_path, reader):
    def read(path):
        if reader == "libsiff":
            return read_npz(path, required=("a",))
        return sidecar.read_npz(path, ("a",))

    many = tmp_path / "many.npz"
    _npz(many, **{f"m{i}": np.zeros(1) for i in range(65)})
    huge = tmp_path / "huge.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (1 << 40,)})
    with zipfile.ZipFile(huge, "w") as zf:
        zf.writestr("a.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\0" * 64)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    text = tmp_path / "text.npz"
    text.write_text("not an archive")
    lacking = _npz(tmp_path / "lacking.npz", b=np.zeros(2))
    for path, why in [(many, "65 members"), (huge, "claims"), (empty, "an empty file"),
                      (text, "not a .npz archive"), (lacking, "no 'a' array"),
                      (tmp_path / "absent.npz", "no such file")]:
        with pytest.raises(libsiff.SiffFormatError, match=why) as err:
            read(path)
        assert str(path) in str(err.value)
        assert not isinstance(err.value, OSError)
        if reader == "session":
            assert isinstance(err.value, sidecar.SidecarError)


def test_missing_text_member_is_a_sidecar_error(tmp_path):
    with pytest.raises(sidecar.SidecarError, match="no 'document' text value"):
        sidecar.json_text({}, "document", tmp_path / "s.npz")


def test_set_aside_keeps_the_bytes_under_a_new_name(tmp_path):
    path = tmp_path / "acq.siffsession.npz"
    path.write_bytes(b"damaged")
    first = set_aside_damaged(path)
    path.write_bytes(b"damaged again")
    second = sidecar.set_aside(path)
    assert not path.exists() and first != second
    assert first.name.startswith("acq.siffsession.npz.damaged-")
    assert second.name.startswith("acq.siffsession.npz.damaged-")
    assert first.read_bytes() == b"damaged" and second.read_bytes() == b"damaged again"
    with pytest.raises(OSError):
        set_aside_damaged(tmp_path / "absent")
