"""The SiffPy introduction (../shared/seed-siffpy-intro.rst) run on libsiff with only its
import line changed, on a file with the seed's geometry (6 planes + 1 flyback, 2 channels,
256x128 frames, the seed-like ScanImage header). Every printed output that does not depend
on image content is asserted; registration cells are in test_registration_seed."""

import contextlib
import io

import numpy as np
import pytest

from libsiff import _bindings
from libsiff.writer import SiffWriter, make_description
from test_imparams import SEED_HEADER, SEED_PRINT_FASTZ, SEED_PRINT_IM_PAR, SEED_ROIS

TIMEPOINTS = 12
FRAMES = TIMEPOINTS * 14  # (6 planes + 1 flyback) x 2 colours per volume


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory):
    """A seed-geometry acquisition: channel 0 has signal, channel 1 is nearly empty (as in
    the seed, "two color channels but only one with signal")."""
    path = tmp_path_factory.mktemp("seed") / "FB_1.siff"
    rng = np.random.default_rng(5)
    H, W = 256, 128
    yy, xx = np.mgrid[0:H, 0:W]
    with SiffWriter(path, SEED_HEADER, SEED_ROIS) as w:
        for f in range(FRAMES):
            color, in_volume = f % 2, (f // 2) % 7
            level = 0.02 if color or in_volume == 6 else 0.3 + 0.2 * np.sin(xx / 9 + in_volume)
            counts = rng.poisson(np.broadcast_to(level, (H, W)))
            y, x = np.repeat(yy.ravel(), counts.ravel()), np.repeat(xx.ravel(), counts.ravel())
            tau = rng.integers(0, 627, len(y))
            w.add_frame(y, x, tau, (H, W), "auto",
                        make_description(f + 1, f / 600, 1716800000 * 10**9 + f * 10**6,
                                         1716800000 * 10**9))
    return path


def run(code: str, namespace: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<seed cell>", "exec"), namespace)
    return out.getvalue()


def test_seed_notebook_cells(seed_file):
    ns = {"file_path": str(seed_file)}
    # --- File I/O (the import line is the only change) ---
    run("from libsiff import SiffReader\n"
        "sr = SiffReader(file_path)\n"
        "first_few_frame_indices = list(range(8))\n"
        "first_frames = sr.get_frames(frames = first_few_frame_indices)\n", ns)
    assert ns["first_frames"].shape == (8, 256, 128) and ns["first_frames"].dtype == np.uint16
    sr2 = run("sr2 = SiffReader()\nsr2.open(file_path)\nprint(sr2)", ns)
    assert sr2 == f"SIFFREADER object:\n\nOpen file: {seed_file}\n\n"
    # --- ImParams ---
    printed = run("im_par = sr.im_params\nprint(im_par)", ns)
    assert printed == SEED_PRINT_IM_PAR.replace(": 94306", f": {FRAMES}") + "\n"
    assert run("print(im_par.FastZ)", ns) == SEED_PRINT_FASTZ + "\n"
    out = run("print(im_par.flatten_by_timepoints(timepoint_start = 0, timepoint_end = 10))", ns)
    seed_list = [0, 2, 4, 6, 8, 10] + [x for v in range(1, 10) for x in range(14 * v, 14 * v + 11, 2)]
    assert eval(out) == seed_list and len(seed_list) == 60 and seed_list[-1] == 136
    out = run("print(im_par.flatten_by_timepoints(timepoint_start = 0, timepoint_end = 10, "
              "reference_z = 3))", ns)
    assert out.strip() == "[6, 20, 34, 48, 62, 76, 90, 104, 118, 132]"
    out = run('print ("All frames with color channel 0:")\n'
              "print(im_par.framelist_by_color(color_channel = 0, lower_bound_timepoint = 0, "
              "upper_bound_timepoint=10))\n"
              'print("All frames in timepoint < 5 in the third slice:")\n'
              "print(im_par.framelist_by_slices(color_channel=0, lower_bound = 0, upper_bound=5, "
              "slices = [2]))", ns)
    lines = out.splitlines()
    assert lines[0] == "All frames with color channel 0:" and eval(lines[1]) == seed_list
    assert lines[3] == "[4, 18, 32, 46, 60]"
    out = run("slice_frames = sr.get_frames(frames = im_par.framelist_by_slices(color_channel=0, "
              "slices = [3]))\nprint(slice_frames.shape)", ns)
    assert out.strip() == f"({TIMEPOINTS}, 256, 128)"
    out = run("full_session = (\n    sr\n    .get_frames(frames=sr.im_params.flatten_by_timepoints("
              "color_channel=None))\n    .reshape(sr.im_params.array_shape)\n)\n"
              "print([\n    f\"{dim_name}: {dim_val}\"\n    for dim_name, dim_val in zip(("
              "\"timepoints\", \"slices\", \"channels\", \"rows\", \"columns\"),full_session.shape)\n"
              "    ]\n)", ns)
    assert eval(out) == [f"timepoints: {TIMEPOINTS}", "slices: 6", "channels: 2", "rows: 256",
                         "columns: 128"]
    means = ns["full_session"][:, :, 0].mean(axis=0)  # the seed's per-plane mean images
    assert means.shape == (6, 256, 128) and (means.mean(axis=(1, 2)) > 0.1).all()
    # --- Masking methods ---
    run("import numpy as np\nmask = np.ones(sr.im_params.shape, dtype=bool)\n"
        "mask[mask.shape[0]//2:, ...] = False\n", ns)
    out = run("collapsed = sr.sum_mask(mask)\nprint(collapsed.shape, collapsed)", ns)
    assert out.startswith(f"({TIMEPOINTS * 6},)")  # a 2-D mask: one value per frame
    run("framewise = sr.sum_mask(mask)\n"
        "from_raw = (\n    sr.get_frames(\n        frames = sr.im_params.flatten_by_timepoints(),\n"
        "        registration_dict = sr.registration_dict\n    )\n    * mask\n"
        ").sum(axis=(-1,-2))\n", ns)
    assert run("print((from_raw == framewise).all())", ns).strip() == "True"
    run("base_mask = np.zeros(sr.im_params.single_channel_volume, dtype=bool)\n"
        "base_mask[..., :base_mask.shape[-1]//10] = True\n"
        "masks = [\n    np.roll(base_mask, i*base_mask.shape[-1]//10, axis=-1)\n"
        "    for i in range(10)\n]\n", ns)
    calls = []
    original = _bindings.NativeFile.run

    def counting(self, kind, frames, *args, **kw):
        calls.append((kind, len(frames), None if len(args) < 2 or args[1] is None else args[1].shape))
        return original(self, kind, frames, *args, **kw)

    _bindings.NativeFile.run = counting
    try:
        summed = run("result = sr.sum_masks(masks)\nprint(result.shape)", ns)
    finally:
        _bindings.NativeFile.run = original
    assert summed.strip() == f"(10, {TIMEPOINTS})"
    # one read of the file for all ten masks: a single kernel call with 10 masks
    assert calls == [(_bindings.Kind.MASK_SUMS, TIMEPOINTS * 6, (10, 6, 256, 128))]
    run("frames = (\n    sr.get_frames(frames = sr.im_params.flatten_by_timepoints())\n"
        "    .reshape(-1, *sr.im_params.single_channel_volume)\n)\n"
        "by_hand = np.array(\n    [\n        frames[:, submask]\n        .sum(axis=(-1,-2))\n"
        "        for submask in masks\n    ]\n)\n", ns)
    np.testing.assert_array_equal(ns["by_hand"], ns["result"].sum(axis=1))
    per_tp = np.array([[(ns["frames"][t] * m).sum() for t in range(TIMEPOINTS)] for m in ns["masks"]])
    np.testing.assert_array_equal(ns["result"], per_tp)


def test_seed_registration_cells(seed_file, tmp_path):
    import shutil

    path = tmp_path / seed_file.name
    shutil.copy(seed_file, path)  # registration is saved next to the file
    ns = {"file_path": str(path)}
    run("from libsiff import SiffReader\nsr = SiffReader(file_path)\n"
        "first_few_frame_indices = list(range(8))\n", ns)
    run("registration_dict = sr.register(registration_method='siffpy', "
        "alignment_color_channel=0)\nsr.registration_info\n", ns)
    out = run("reg_info = sr.registration_info\nprint(reg_info)\nprint(reg_info.yx_shifts)", ns)
    first, second = out.splitlines()[:2]
    assert first == f"RegistrationType.Siffpy RegistrationInfo for {path}"
    shifts = eval(second)
    assert shifts == ns["registration_dict"] and ns["sr"].registration_dict is ns["reg_info"].yx_shifts
    flyback = set(ns["sr"].im_params.flyback_frames)
    assert set(shifts) == set(range(FRAMES)) - flyback  # every frame of both colours
    refs = ns["reg_info"].reference_frames
    assert len(refs) == 6 and refs[0].squeeze().shape == (256, 128)
    out = run("registered_frames = sr.get_frames(frames = first_few_frame_indices, "
              "registration_dict = reg_info.yx_shifts)\nprint(registered_frames.shape)", ns)
    assert out.strip() == "(8, 256, 128)"
    try:
        import suite2p  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="suite2p"):
            run("sr.register(registration_method='suite2p', alignment_color_channel=0)", ns)
        assert ns["sr"].registration_info is ns["reg_info"]  # the previous one stays
