"""Every framelist function and frame-bookkeeping property, for random geometries, against
a brute-force table built by walking the acquisition in file order (docs/format.md §3.1):
volume by volume; in each, plane by plane, repeat by repeat, colour by colour; then the
flyback planes, colour by colour (only with FastZ enabled and discardFlybackFrames).

Headers are the derived seed-like header with its ``SI.*`` geometry lines edited."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libsiff.imparams import ImParams

HEADERS = Path(__file__).parent / "data" / "headers"
BASE_HEADER = (HEADERS / "derived_seedlike_fastz_6planes_2ch_header.txt").read_text()
BASE_ROIS = (HEADERS / "derived_seedlike_fastz_roigroups.json").read_text()
CHANNEL_SAVES = ["1", "2", "[2]", "[1;2]", "[1;3]", "[2;3]", "[1;2;3]", "[3;1]", "[1;2;3;4]"]


@dataclass(frozen=True)
class Geometry:
    """What the header says, plus the file's length."""

    stack_module: bool  # SI.hStackManager.* present
    stack_on: bool
    z_start_equals_end: bool
    slices: int  # actualNumSlices
    frames_per_slice: int
    fastz_module: bool  # SI.hFastZ.* present
    fastz_enable: bool
    discard: bool
    flyback_planes: int  # numDiscardFlybackFrames
    channel_save: str
    volumes: int  # complete volumes written
    extra: int  # frames of an incomplete final volume

    # --- what the acquisition really is (derived from the header's meaning, not the code) ---
    @property
    def S(self) -> int:
        on = self.stack_module and self.stack_on
        return self.slices if on and not self.z_start_equals_end else 1

    @property
    def R(self) -> int:
        return self.frames_per_slice if self.stack_module and self.stack_on else 1

    @property
    def channels(self) -> list[int]:
        return [int(c) for c in self.channel_save.strip("[]").split(";")]

    @property
    def C(self) -> int:
        return len(self.channels)

    @property
    def Fb(self) -> int:
        stored = self.fastz_module and self.fastz_enable and self.discard
        return self.flyback_planes if stored else 0

    @property
    def per_volume(self) -> int:
        return (self.S * self.R + self.Fb) * self.C

    @property
    def N(self) -> int:
        return self.volumes * self.per_volume + self.extra


def set_line(lines: list[str], key: str, value: str) -> None:
    hits = [i for i, line in enumerate(lines) if line.startswith(key + " = ")]
    assert len(hits) == 1, key
    lines[hits[0]] = f"{key} = {value}"


def make_header(g: Geometry) -> str:
    """The base header with the geometry lines of ``g`` written in."""
    lines = BASE_HEADER.split("\n")
    sm = "SI.hStackManager."
    set_line(lines, sm + "enable", "true" if g.stack_on else "false")
    set_line(lines, sm + "actualNumSlices", str(g.slices))
    set_line(lines, sm + "framesPerSlice", str(g.frames_per_slice))
    set_line(lines, sm + "stackZStartPos", "-45")
    set_line(lines, sm + "stackZEndPos", "-45" if g.z_start_equals_end else "-20")
    fz = "SI.hFastZ."
    set_line(lines, fz + "enable", "true" if g.fastz_enable else "false")
    set_line(lines, fz + "discardFlybackFrames", "true" if g.discard else "false")
    set_line(lines, fz + "numDiscardFlybackFrames", str(g.flyback_planes))
    set_line(lines, "SI.hChannels.channelSave", g.channel_save)
    if not g.stack_module:
        lines = [line for line in lines if not line.startswith(sm)]
    if not g.fastz_module:
        lines = [line for line in lines if not line.startswith(fz)]
    return "\n".join(lines)


@dataclass(frozen=True)
class Row:
    frame: int
    volume: int
    slice: int  # -1 for flyback
    repeat: int  # -1 for flyback
    color: int  # 0-based position within channelSave
    flyback: bool


def brute_force_table(g: Geometry) -> list[Row]:
    """Walk the acquisition in file order until the file ends."""
    rows: list[Row] = []
    volume = 0
    while len(rows) < g.N:
        for s in range(g.S):
            for r in range(g.R):
                for c in range(g.C):
                    rows.append(Row(len(rows), volume, s, r, c, False))
        for _ in range(g.Fb):
            for c in range(g.C):
                rows.append(Row(len(rows), volume, -1, -1, c, True))
        volume += 1
    return rows[:g.N]


@st.composite
def geometries(draw) -> Geometry:
    g = Geometry(
        stack_module=draw(st.sampled_from([True, True, True, False])),
        stack_on=draw(st.booleans()),
        z_start_equals_end=draw(st.sampled_from([False, False, False, True])),
        slices=draw(st.integers(1, 5)),
        frames_per_slice=draw(st.integers(1, 3)),
        fastz_module=draw(st.sampled_from([True, True, True, False])),
        fastz_enable=draw(st.booleans()),
        discard=draw(st.booleans()),
        flyback_planes=draw(st.integers(0, 2)),
        channel_save=draw(st.sampled_from(CHANNEL_SAVES)),
        volumes=draw(st.integers(0, 6)),
        extra=0,
    )
    extra = draw(st.integers(0, g.per_volume - 1))  # an incomplete final volume, or none
    return Geometry(**{**g.__dict__, "extra": extra})


SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def build(g: Geometry) -> ImParams:
    return ImParams.from_header(make_header(g), BASE_ROIS, g.N)


def complete_volumes(g: Geometry, rows: list[Row]) -> int:
    """Volumes with every one of their file frames (flyback included) in the file."""
    counts = np.bincount([row.volume for row in rows], minlength=1)
    return int(np.sum(counts == g.per_volume))


def default_color(g: Geometry) -> int:
    """Position of the lowest saved channel within channelSave (docs/compatibility.md §8a decision 6)."""
    return g.channels.index(min(g.channels))


def pick(rows, **want) -> list[int]:
    """File frames of the non-flyback rows matching every condition, in file order."""
    out = []
    for row in rows:
        if row.flyback:
            continue
        if all(cond(getattr(row, key)) if callable(cond) else getattr(row, key) == cond
               for key, cond in want.items()):
            out.append(row.frame)
    return out


# ---- properties -------------------------------------------------------------------------------

@SETTINGS
@given(geometries())
def test_geometry_properties(g):
    im_par, rows = build(g), brute_force_table(g)
    T = complete_volumes(g, rows)
    P = g.S * g.R * g.C
    assert im_par.num_frames == g.N
    assert (im_par.num_slices, im_par.frames_per_slice, im_par.num_colors) == (g.S, g.R, g.C)
    assert im_par.frames_per_volume == P
    assert im_par.num_timepoints == im_par.num_volumes == T
    expected_volume = (g.S, *([g.R] if g.R > 1 else []), g.C, 256, 128)
    assert im_par.volume == expected_volume
    assert im_par.array_shape == (T, *expected_volume)
    assert im_par.discard_frames == (g.fastz_module and g.fastz_enable and g.discard)
    assert im_par.num_discard_flyback_frames == g.Fb * g.C
    assert im_par.flyback_frames == [row.frame for row in rows if row.flyback]
    assert im_par.all_frames == [row.frame for row in rows if not row.flyback]
    # the spec's formula (docs/compatibility.md §1.7), truncated
    assert im_par.num_true_frames == int(g.N * P // (P + g.Fb * g.C))


@SETTINGS
@given(geometries(), st.data())
def test_frame_table_and_frame_index(g, data):
    im_par, rows = build(g), brute_force_table(g)
    table = im_par.frame_table()
    assert table.timepoint.tolist() == [row.volume for row in rows]
    assert table.slice.tolist() == [row.slice for row in rows]
    assert table.repeat.tolist() == [row.repeat for row in rows]
    assert table.color.tolist() == [row.color for row in rows]
    assert table.is_flyback.tolist() == [row.flyback for row in rows]
    image = [row for row in rows if not row.flyback]
    if image:
        found = im_par.frame_index([r.volume for r in image], [r.slice for r in image],
                                   [r.color for r in image], [r.repeat for r in image])
        assert found.tolist() == [r.frame for r in image]
        row = data.draw(st.sampled_from(image))
        assert im_par.frame_index(row.volume, row.slice, row.color, row.repeat) == row.frame


# ---- SiffPy's framelist functions --------------------------------------------------------------

@SETTINGS
@given(geometries(), st.data())
def test_flatten_by_timepoints(g, data):
    im_par, rows = build(g), brute_force_table(g)
    T = complete_volumes(g, rows)
    assert im_par.flatten_by_timepoints() == pick(rows, volume=lambda v: v < T, color=0)
    assert im_par.flatten_by_timepoints(color_channel=None) == pick(rows, volume=lambda v: v < T)
    start = data.draw(st.integers(0, T + 1), label="start")
    end = data.draw(st.integers(0, T) | st.none(), label="end")
    z = data.draw(st.integers(0, g.S - 1) | st.none(), label="reference_z")
    c = data.draw(st.integers(0, g.C - 1) | st.none(), label="color")
    stop = T if end is None else end
    want = {"volume": lambda v: start <= v < stop}
    if z is not None:
        want["slice"] = z
    if c is not None:
        want["color"] = c
    assert im_par.flatten_by_timepoints(start, end, z, c) == pick(rows, **want)
    # reshaping all colours to array_shape puts every frame where frame_table says it is
    frames = np.array(im_par.flatten_by_timepoints(color_channel=None), dtype=np.int64)
    if T:
        grid = frames.reshape(im_par.array_shape[:-2])
        table = im_par.frame_table()
        t_idx = np.indices(grid.shape)
        assert (table.timepoint[grid] == t_idx[0]).all()
        assert (table.slice[grid] == t_idx[1]).all()
        assert (table.color[grid] == t_idx[-1]).all()
        if g.R > 1:
            assert (table.repeat[grid] == t_idx[2]).all()


@SETTINGS
@given(geometries())
def test_flatten_clamps_with_a_warning(g):
    im_par, rows = build(g), brute_force_table(g)
    T = complete_volumes(g, rows)
    with pytest.warns(RuntimeWarning, match="timepoint_end"):
        frames = im_par.flatten_by_timepoints(0, T + 1, color_channel=None)
    assert frames == pick(rows, volume=lambda v: v < T)


@SETTINGS
@given(geometries(), st.data())
def test_framelist_by_slice(g, data):
    im_par, rows = build(g), brute_force_table(g)
    T = complete_volumes(g, rows)
    c0 = default_color(g)
    assert im_par.framelist_by_slice() == [
        pick(rows, volume=lambda v: v < T, slice=s, color=c0) for s in range(g.S)]
    c = data.draw(st.integers(0, g.C - 1))
    s = data.draw(st.integers(0, g.S - 1))
    expected = pick(rows, volume=lambda v: v < T, slice=s, color=c)
    assert im_par.framelist_by_slice(c, s) == expected
    assert len(expected) == T * g.R  # never more entries than timepoints (× repeats)
    with pytest.raises(ValueError):
        im_par.framelist_by_slice(g.C, 0)
    with pytest.raises(ValueError):
        im_par.framelist_by_slice(0, g.S)


@SETTINGS
@given(geometries(), st.data())
def test_framelist_by_slices(g, data):
    im_par, rows = build(g), brute_force_table(g)
    T = complete_volumes(g, rows)
    c = data.draw(st.integers(0, g.C - 1) | st.none(), label="color")
    color = default_color(g) if c is None else c
    lower = data.draw(st.integers(-T - 1, T + 1), label="lower")
    upper = data.draw(st.integers(-T - 1, T + 1) | st.none(), label="upper")
    slices = data.draw(st.lists(st.integers(0, g.S - 1), max_size=4)
                       | st.integers(0, g.S - 1) | st.none(), label="slices")
    kept = set(range(T)[lower:T if upper is None else upper])  # Python slice on timepoints
    order = range(g.S) if slices is None else ([slices] if isinstance(slices, int) else slices)
    expected = []
    for s in order:
        expected += pick(rows, volume=lambda v: v in kept, slice=s, color=color)
    assert im_par.framelist_by_slices(c, lower, upper, slices) == expected


@SETTINGS
@given(geometries(), st.data())
def test_framelist_by_color(g, data):
    im_par, rows = build(g), brute_force_table(g)
    T = complete_volumes(g, rows)
    P = g.S * g.R * g.C
    true_frames = g.N * P // (P + g.Fb * g.C)  # the spec's num_true_frames
    logical = {row.frame: i for i, row in enumerate(r for r in rows if not r.flyback)}
    c = data.draw(st.integers(0, g.C - 1), label="color")
    lower = data.draw(st.integers(0, T + 1), label="lower")
    upper = data.draw(st.integers(0, T + 2) | st.none(), label="upper")
    got = im_par.framelist_by_color(c, lower, upper)
    if upper is None:
        expected = [f for f in pick(rows, color=c, volume=lambda v: v >= lower)
                    if logical[f] < true_frames]
    else:
        expected = pick(rows, color=c, volume=lambda v: lower <= v < upper)
    assert got == expected
    with pytest.raises(ValueError):
        im_par.framelist_by_color(g.C)


@SETTINGS
@given(geometries(), st.data())
def test_framelist_by_timepoint(g, data):
    im_par, rows = build(g), brute_force_table(g)
    T = complete_volumes(g, rows)
    c0 = default_color(g)
    assert im_par.framelist_by_timepoint() == [
        pick(rows, volume=t, color=c0) for t in range(T)]
    c = data.draw(st.integers(0, g.C - 1), label="color")
    start = data.draw(st.integers(0, T + 1), label="start")
    end = data.draw(st.integers(0, T + 1) | st.none(), label="end")
    stop = T if end is None else min(end, T)
    assert im_par.framelist_by_timepoint(c, start, end) == [
        pick(rows, volume=t, color=c) for t in range(start, stop)]
    s = data.draw(st.integers(0, g.S - 1), label="slice")
    assert im_par.framelist_by_timepoint(c, start, end, slice_idx=s) == pick(
        rows, volume=lambda v: start <= v < stop, slice=s, color=c)


def test_every_geometry_kind_is_drawn():
    """The strategy reaches the corners the brief lists (checked on a fixed sample)."""
    seen = set()

    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(geometries())
    def collect(g):
        seen.update({
            "flyback" if g.Fb else "no flyback",
            "flyback declared but not stored" if g.flyback_planes and not g.Fb else "",
            "repeats" if g.R > 1 else "", "no FastZ module" if not g.fastz_module else "",
            "no StackManager" if not g.stack_module else "",
            "start == end" if g.stack_on and g.z_start_equals_end and g.slices > 1 else "",
            "incomplete final volume" if g.extra else "", "empty file" if g.N == 0 else "",
            f"channelSave {g.channel_save}",
        })

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collect()
    for kind in ["flyback", "no flyback", "flyback declared but not stored", "repeats",
                 "no FastZ module", "no StackManager", "start == end",
                 "incomplete final volume", "empty file"]:
        assert kind in seen, kind
    assert {f"channelSave {c}" for c in CHANNEL_SAVES} <= seen
