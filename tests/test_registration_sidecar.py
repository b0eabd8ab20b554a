"""The registration sidecar (.siffreg.npz) read as untrusted input.

Truth: the bytes a test writes itself (a valid sidecar, then truncated, corrupted or
crafted copies of it). A damaged sidecar never stops ``SiffReader(path)``: it is set aside
under a new name with its bytes intact, a warning names it, and the file opens
unregistered. Reading never unpickles and never allocates what a header merely claims.
"""

from __future__ import annotations

import io as _io
import json
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import libsiff
from libsiff.registration import (
    RegistrationInfo,
    default_registration_path,
    frame_grid_from_labels,
    register_frames,
)
from libsiff.simulate import SimulationSpec, simulate

SPEC = dict(height=32, width=32, slices=2, flyback_planes=1, colors=1, timepoints=24,
            photons_per_pixel=2.0, motion="jitter", max_shift_px=3, keep_photons=False, seed=3)


@pytest.fixture(scope="module")
def registered_file(tmp_path_factory):
    """A small acquisition, its registration and the sidecar's bytes."""
    root = tmp_path_factory.mktemp("sidecar")
    path = root / "acq.siff"
    truth = simulate(path, SimulationSpec(**SPEC))
    grid = frame_grid_from_labels(truth.timepoint, truth.plane, truth.color)
    with libsiff.open_file(path) as io:
        info = register_frames(io, grid, 0)
    sidecar = info.save()
    return path, info, sidecar.read_bytes()


def _copy_acquisition(registered_file, tmp_path, sidecar_bytes: bytes):
    path, info, _ = registered_file
    target = tmp_path / "acq.siff"
    target.write_bytes(path.read_bytes())
    default_registration_path(target).write_bytes(sidecar_bytes)
    return target


def test_valid_sidecar_opens_registered(registered_file, tmp_path):
    path = _copy_acquisition(registered_file, tmp_path, registered_file[2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reader = libsiff.SiffReader(path)
    try:
        assert reader.registration_dict == registered_file[1].yx_shifts
    finally:
        reader.close()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_sidecar_is_set_aside_and_file_opens(registered_file, tmp_path, damage):
    good = registered_file[2]
    bad = {"truncated": good[: len(good) // 2], "garbage": b"\x00junk" * 100,
           "empty": b""}[damage]
    path = _copy_acquisition(registered_file, tmp_path, bad)
    sidecar = default_registration_path(path)
    with pytest.warns(UserWarning, match=r"acq\.siffreg\.npz") as record:
        reader = libsiff.SiffReader(path)
    try:
        assert reader.registration_dict is None
        assert reader.get_frames([0]).shape == (1, 32, 32)
    finally:
        reader.close()
    assert not sidecar.exists()
    aside = list(tmp_path.glob("acq.siffreg.npz.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == bad  # kept, byte for byte
    assert str(aside[0]) in str(record[0].message)
    # Registering again writes a fresh sidecar next to the one set aside.
    with libsiff.SiffReader(path) as reader:
        assert reader.registration_dict is None


def _npz_bytes(**arrays) -> bytes:
    buf = _io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _members(data: bytes) -> dict:
    with zipfile.ZipFile(_io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def _zip(members: dict) -> bytes:
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, payload in members.items():
            z.writestr(name, payload)
    return buf.getvalue()


def test_huge_npy_header_does_not_allocate(registered_file, tmp_path):
    """A member whose header claims 2 TiB (with a few bytes of data) is refused up front."""
    members = _members(registered_file[2])
    header = {"descr": "<f8", "fortran_order": False, "shape": (1 << 38,)}
    npy = _io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, header)
    members["shift_values.npy"] = npy.getvalue() + b"\0" * 64
    target = tmp_path / "huge.siffreg.npz"
    target.write_bytes(_zip(members))
    tracemalloc.start()
    try:
        with pytest.raises(libsiff.SiffFormatError, match="shift_values"):
            RegistrationInfo.load(target)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_pickled_member_is_refused(registered_file, tmp_path):
    members = _members(registered_file[2])
    obj = _io.BytesIO()
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    members["frame_index.npy"] = obj.getvalue()
    target = tmp_path / "pickle.siffreg.npz"
    target.write_bytes(_zip(members))
    with pytest.raises(libsiff.SiffFormatError, match="object"):
        RegistrationInfo.load(target)


@pytest.mark.parametrize("name, value, match", [
    ("shift_values", np.zeros((3, 3), np.int64), "shift_values has shape"),
    ("frame_index", np.zeros(5, np.float64), "frame_index has dtype"),
    ("confidence", np.zeros((2, 2)), "confidence has shape"),
    ("subpixel_shifts", None, "subpixel_shifts holds NaN"),
    ("meta", np.array('{"format": "libsiff-registration", "registration_type": 5}'),
     "registration_type"),
    ("meta", np.array("[" * 100_000), "not JSON"),
    ("meta", np.zeros(3), "metadata"),
])
def test_inconsistent_arrays_are_refused(registered_file, tmp_path, name, value, match):
    with np.load(_io.BytesIO(registered_file[2])) as data:
        arrays = {k: data[k] for k in data.files}
    if value is None:  # NaN in a float array of the right shape
        value = arrays[name].copy()
        value[0, 0, 0] = np.nan
    arrays[name] = value
    target = tmp_path / "bad.siffreg.npz"
    target.write_bytes(_npz_bytes(**arrays))
    with pytest.raises(libsiff.SiffFormatError, match=match):
        RegistrationInfo.load(target)


def test_frame_index_outside_the_acquisition_is_refused(registered_file, tmp_path):
    with np.load(_io.BytesIO(registered_file[2])) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["frame_index"] = arrays["frame_index"] + meta["n_frames"]
    target = tmp_path / "bad.siffreg.npz"
    target.write_bytes(_npz_bytes(**arrays))
    with pytest.raises(libsiff.SiffFormatError, match="outside"):
        RegistrationInfo.load(target)


def _load_or_format_error(target, blob: bytes):
    """Load ``blob`` written to ``target``: a registration, or None after a SiffFormatError
    naming the file (any other exception fails the test)."""
    target.write_bytes(blob)
    try:
        return RegistrationInfo.load(target)
    except libsiff.SiffFormatError as exc:
        assert str(target) in str(exc)
        return None


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_sidecar_reads_or_raises_format_error(registered_file, tmp_path, data):
    """Truncations, byte flips and splices of a valid sidecar: load returns a registration
    or raises SiffFormatError, never anything else."""
    good = bytearray(registered_file[2])
    cut = data.draw(st.integers(0, len(good)), label="cut")
    blob = good[:cut]
    for _ in range(data.draw(st.integers(0, 8), label="flips")):
        if blob:
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] = data.draw(st.integers(0, 255))
    blob += data.draw(st.binary(max_size=64), label="tail")
    info = _load_or_format_error(tmp_path / "fuzz.siffreg.npz", bytes(blob))
    if info is not None:
        assert set(info.yx_shifts) <= set(range(info.n_frames))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.fixed_dictionaries({
    "descr": st.sampled_from(["<f8", "<i8", "|O", "<U5", "|b1", "<c16", "V8"]),
    "fortran_order": st.booleans(),
    "shape": st.lists(st.integers(-3, 1 << 40), max_size=4).map(tuple)}),
    payload=st.binary(max_size=256), member=st.sampled_from(
        ["meta.npy", "frame_index.npy", "shift_values.npy", "shifts.npy", "reference_frames.npy"]))
def test_fuzzed_npy_headers(registered_file, tmp_path, header, payload, member):
    members = _members(registered_file[2])
    npy = _io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(npy, header)
    except ValueError:
        return  # numpy will not even write this header
    members[member] = npy.getvalue() + payload
    info = _load_or_format_error(tmp_path / "hdr.siffreg.npz", _zip(members))
    if info is not None:  # only a header that still describes valid contents may load
        assert len(info.yx_shifts) == len(registered_file[1].yx_shifts)


def test_more_shifts_than_frames_is_refused(registered_file, tmp_path):
    """The shift dict is bounded by the acquisition's frame count, whatever meta says."""
    with np.load(_io.BytesIO(registered_file[2])) as data:
        arrays = {k: data[k] for k in data.files}
    n = json.loads(str(arrays["meta"]))["n_frames"]
    arrays["frame_index"] = np.zeros(n + 1, np.int64)
    arrays["shift_values"] = np.zeros((n + 1, 2), np.int64)
    target = tmp_path / "many.siffreg.npz"
    target.write_bytes(_npz_bytes(**arrays))
    with pytest.raises(libsiff.SiffFormatError, match="more than"):
        RegistrationInfo.load(target)
    arrays["frame_index"] = np.arange(n, dtype=np.int64)
    arrays["shift_values"] = np.zeros((n, 2), np.int64)
    target.write_bytes(_npz_bytes(**arrays))
    assert len(RegistrationInfo.load(target).yx_shifts) == n
    with pytest.raises(libsiff.SiffFormatError, match="more than"):
        RegistrationInfo.load(target, max_frames=n - 1)
