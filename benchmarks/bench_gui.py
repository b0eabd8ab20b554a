"""siffviewer responsiveness on >= 500 MB files: time to first frame, and slider change to
new frame painted (median and 95th percentile over 200 random jumps), for 256x128 and
512x512 frames. Runs the real window (offscreen) with its background frame loader."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))
from _common import cached_acquisition  # noqa: E402

FILES = {
    "256x128": dict(height=128, width=256, slices=6, flyback_planes=1, colors=2, timepoints=720,
                    photons_per_pixel=0.9, background=0.05, encoding="auto", seed=7),
    "512x512": dict(height=512, width=512, slices=3, flyback_planes=1, colors=2, timepoints=110,
                    photons_per_pixel=0.6, background=0.05, encoding="auto", seed=8),
}


def wait_for(app, predicate, timeout=10.0) -> None:
    end = time.perf_counter() + timeout
    while not predicate():
        app.processEvents()
        if time.perf_counter() > end:
            raise TimeoutError("the frame never arrived")
        time.sleep(0.0002)


DAB_FILE = dict(height=1024, width=1024, slices=1, flyback_planes=0, colors=2, timepoints=12,
                photons_per_pixel=0.3, background=0.05, encoding="auto", seed=9)


def _clean(path: Path) -> None:
    """Remove session/masks/registration files a previous run left next to the cached file."""
    for suffix in (".siffmasks.npz", ".siffmasks.autosave.npz", ".siffreg.npz",
                   ".siffsession.npz", ".siffsession.autosave.npz"):
        path.with_name(path.stem + suffix).unlink(missing_ok=True)


def measure(path: Path, jumps: int = 200) -> dict:
    from PyQt6 import QtCore, QtWidgets

    _clean(path)
    from siffviewer.qt.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    settings = QtCore.QSettings(str(path.with_suffix(".ini")), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show()
    app.processEvents()
    shown = []
    window.frame_shown.connect(shown.append)
    t0 = time.perf_counter()
    window.open_path(path)
    wait_for(app, lambda: bool(shown))
    window.frame_view.graphics.viewport().repaint()
    first = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    state = window.state
    latencies = []
    for _ in range(jumps):
        t = int(rng.integers(0, state.n_timepoints))
        z = int(rng.integers(0, state.n_planes))
        if t == state.timepoint and z == state.plane:
            t = (t + 1) % state.n_timepoints
        shown.clear()
        start = time.perf_counter()
        window.navigation.time.slider.setValue(t)  # as a drag would
        window.navigation.plane.slider.setValue(z)
        key = state.key()
        wait_for(app, lambda key=key: bool(shown) and shown[-1] == key)
        window.frame_view.graphics.viewport().repaint()
        latencies.append(time.perf_counter() - start)
    # 10 ROIs, then brush strokes: time from the end of a stroke to updated traces
    from siffviewer.model.masks import ellipse_mask

    masks, editor, panel = window.masks, window.editor, window.traces_panel
    H, W = masks.shape[1:]
    for r in range(10):
        roi = masks.add_roi(f"roi {r}", all_planes=True)
        cx, cy = (r % 5 + 0.5) * W / 5, (r // 5 + 0.5) * H / 2
        masks.apply_region(roi.roi_id, 0, ellipse_mask((H, W), cx - 8, cy - 8, cx + 8, cy + 8))
    ready = []
    panel.traces_ready.connect(ready.append)
    wait_for(app, lambda: bool(ready) and ready[-1].mask_version == masks.version, 30)
    stroke_ms = []
    for k in range(10):
        editor.roi_id = masks.rois[k].roi_id
        editor.tool = "brush"
        ready.clear()
        editor.press(H / 2, 5 + k)
        editor.drag(H / 2 + 6, 15 + k)
        editor.release(H / 2 + 6, 15 + k)
        t_end = time.perf_counter()
        version = masks.version
        wait_for(app, lambda version=version: bool(ready) and ready[-1].mask_version == version, 30)
        stroke_ms.append((time.perf_counter() - t_end) * 1000)
    window.close()
    _clean(path)
    lat = np.array(latencies) * 1000
    return {"first_s": first, "median_ms": float(np.median(lat)),
            "p95_ms": float(np.percentile(lat, 95)), "stroke_ms": np.array(stroke_ms)}


def measure_dabs(path: Path, tab: str, dabs: int = 150) -> np.ndarray:
    """Brush dab -> overlay painted (ms per dab) with every panel open and ``tab`` (Traces or
    Lifetime) in front, 10 ROIs drawn."""
    from PyQt6 import QtCore, QtWidgets

    _clean(path)
    from siffviewer.model.masks import ellipse_mask
    from siffviewer.qt.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    settings = QtCore.QSettings(str(path.with_suffix(".ini")), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(1920, 1080)
    window.show()
    shown = []
    window.frame_shown.connect(shown.append)
    window.open_path(path)
    wait_for(app, lambda: bool(shown), 30)
    window.docks["Masks"].raise_()
    window.show_analysis(tab)
    masks, editor = window.masks, window.editor
    H, W = masks.shape[1:]
    for r in range(10):
        roi = masks.add_roi(f"roi {r}", all_planes=True)
        cx, cy = (r % 5 + 0.5) * W / 5, (r // 5 + 0.5) * H / 2
        masks.apply_region(roi.roi_id, 0, ellipse_mask((H, W), cx - 40, cy - 40, cx + 40, cy + 40))
    window.masks_panel.select(masks.rois[0].roi_id)
    end = time.perf_counter() + 3
    while time.perf_counter() < end:  # let the panels' first background results land
        app.processEvents()
        time.sleep(0.01)
    editor.roi_id = masks.rois[0].roi_id
    editor.tool = "brush"
    editor.brush_radius = 6
    overlay = window.frame_view.overlay_item
    times = []
    editor.press(H / 4, W / 4)
    app.processEvents()
    for k in range(dabs):
        row, col = H / 4 + 200 * np.sin(k / 15), W / 4 + k * 3
        painted = overlay.paint_count
        start = time.perf_counter()
        editor.drag(row, col)  # as a mouse move would: the dab, then Qt paints what changed
        wait_for(app, lambda painted=painted: overlay.paint_count > painted)
        times.append(time.perf_counter() - start)
    editor.release(row, col)
    window.keep_session_files = False
    window.close()
    app.processEvents()
    _clean(path)
    return np.array(times) * 1000


# ---- overview (issue 16.3): all ROIs at a glance on a long recording ---------------------------

def measure_overview(n_rois: int = 50, n_timepoints: int = 10_000, repeats: int = 5) -> dict:
    """Time (ms, median of ``repeats``) from new values to painted for the heatmap and the
    all-traces plot of ``n_rois`` x ``n_timepoints``, and for one peri-event average."""
    from PyQt6 import QtWidgets

    from siffviewer.model.peri_event import peri_event_average
    from siffviewer.model.view_state import ViewState
    from siffviewer.qt.overview_panel import AllTracesView, HeatmapView

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    rng = np.random.default_rng(16)
    t = np.arange(n_timepoints) / 30.0
    names = [f"ROI {i}" for i in range(n_rois)]
    colors = [tuple(int(v) for v in rng.integers(60, 255, 3)) for _ in range(n_rois)]
    state = ViewState(n_timepoints, 1, 1)
    out = {}
    for kind, view in (("heatmap", HeatmapView(state)), ("traces", AllTracesView(state))):
        view.resize(1280, 400)
        view.show()
        app.processEvents()
        times = []
        for _ in range(repeats):
            values = rng.poisson(100, (n_rois, n_timepoints)).astype(float)
            t0 = time.perf_counter()
            if kind == "heatmap":
                view.show_values(t, values, names, "photons")
            else:
                view.show_values(t, values, names, colors, "photons")
            view.graphics.viewport().repaint()  # paint now, not at the next event loop turn
            app.processEvents()
            times.append(time.perf_counter() - t0)
        out[kind] = float(np.median(times)) * 1000
        view.close()
        view.deleteLater()
    values = rng.poisson(100, (n_rois, n_timepoints)).astype(float)
    t0 = time.perf_counter()
    peri_event_average(values, t, np.linspace(10, t[-1] - 10, 100), 2.0, 5.0)
    out["peri_event"] = (time.perf_counter() - t0) * 1000
    return out


# ---- review: local-correlation image of a 512 x 512 x 10,000-frame plane (issue 16.2) ----
CORR_FRAMES = 10_000
CORR_SHAPE = (512, 512)


def correlation_acquisition() -> Path:
    """Write (once) one plane, one colour, 10,000 frames of 512 x 512 into benchmarks/.cache:
    sparse photons (~0.06 per pixel and frame) from the simulator's sample structures whose
    brightness follows slow, block-wise oscillations (so neighbouring pixels co-vary). The
    frames are streamed to the writer: memory stays one frame."""
    from libsiff.testing import SimulationSpec
    from libsiff.testing.sample import sample_images
    from libsiff.testing.simulate import _header_settings
    from libsiff.writer import SiffWriter, build_nvfd, build_roi_json, make_description

    from _common import CACHE

    path = CACHE / "bench_gui_corr_512x512x10000.siff"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    h, w = CORR_SHAPE
    spec = SimulationSpec(height=h, width=w, slices=1, flyback_planes=0, colors=1,
                          timepoints=CORR_FRAMES, frame_rate_hz=30.0)
    rng = np.random.default_rng(16)
    base = sample_images(rng, 1, 1, h, w)[0, 0]
    base = base / base.mean()
    phase = np.kron(rng.uniform(0, 2 * np.pi, (8, 8)), np.ones((h // 8, w // 8)))
    t0 = time.perf_counter()
    tmp = path.with_suffix(".partial")
    with SiffWriter(tmp, build_nvfd(**_header_settings(spec)), build_roi_json(h, w)) as writer:
        for f in range(CORR_FRAMES):
            lam = (0.01 + 0.05 * base * (1 + 0.8 * np.sin(2 * np.pi * f / 300 + phase))).ravel()
            cdf = np.cumsum(lam)
            n = rng.poisson(cdf[-1])
            idx = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1]), h * w - 1)
            y, x = np.divmod(idx, w)
            tau = rng.integers(0, spec.tau_bins, n)
            writer.add_frame(y, x, tau, (h, w), "raw",
                             make_description(f + 1, (f + 1) / 30.0, 1713382945000000000
                                              + int((f + 1) * 1e9 / 30)))
    tmp.rename(path)
    print(f"wrote {path.name}: {path.stat().st_size / 1e6:.0f} MB, {CORR_FRAMES} frames in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    return path


def measure_correlation(path: Path) -> tuple[float, float, float, float, float]:
    """Seconds to the local-correlation image: in the window (Draw on ▸ Local correlation,
    computed in the background, until it is on screen), by the model function alone, and
    the floor of any method reading frames: decoding them (``get_frames``, same chunks);
    then the CPU seconds (all threads) of the model pass and of the decoding, a ratio that a
    busy machine disturbs less than wall-clock time."""
    from PyQt6 import QtCore, QtWidgets

    from libsiff import SiffReader
    from siffviewer.model.projections import plane_projections
    from siffviewer.qt.main_window import MainWindow

    _clean(path)
    with SiffReader(path) as sr:  # warm the page cache: both timings read a cached file
        frames = [int(f) for f in sr.frame_grid()[:, 0, 0]]
        t0, c0 = time.perf_counter(), time.process_time()
        for start in range(0, len(frames), 64):
            sr.siffio.get_frames(frames[start:start + 64])
        decode_s, decode_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        plane_projections(sr.siffio, frames)
        model_s, model_cpu = time.perf_counter() - t0, time.process_time() - c0
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    settings = QtCore.QSettings(str(path.with_suffix(".ini")), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.keep_session_files = False
    window.show()
    shown = []
    window.frame_shown.connect(shown.append)
    window.open_path(path)
    wait_for(app, lambda: bool(shown), 30)
    t0 = time.perf_counter()
    window.state.update(source="correlation")
    while not (shown[-1].source == "correlation" and not window.projection_source.missing()
               and window.frame_view.image.dtype == np.float32):
        app.processEvents()  # an idle GUI: poll gently, the worker needs the cores
        time.sleep(0.01)
        if time.perf_counter() - t0 > 600:
            raise TimeoutError("the local-correlation image never arrived")
    window.frame_view.graphics.viewport().repaint()
    gui_s = time.perf_counter() - t0
    window.close()
    _clean(path)
    return gui_s, model_s, decode_s, model_cpu, decode_cpu


def main() -> None:
    ov = measure_overview()
    print(f"overview, 50 ROIs x 10,000 timepoints, new values -> painted: heatmap "
          f"{ov['heatmap']:.0f} ms, all traces (stacked) {ov['traces']:.0f} ms "
          f"(traces / heatmap = {ov['traces'] / ov['heatmap']:.1f}x; target < 1000 ms each); "
          f"peri-event average of 100 events {ov['peri_event']:.1f} ms", flush=True)
    if os.environ.get("BENCH_GUI_OVERVIEW_ONLY"):
        return
    gui_s, model_s, decode_s, model_cpu, decode_cpu = measure_correlation(
        correlation_acquisition())
    print(f"512x512x{CORR_FRAMES} plane: local-correlation image on screen {gui_s:.1f} s in "
          f"the background (target < 5 s); the model pass alone {model_s:.1f} s = "
          f"{model_s / decode_s:.1f} x decoding the frames ({decode_s:.1f} s, the floor); "
          f"CPU time {model_cpu:.1f} s = {model_cpu / decode_cpu:.1f} x decoding's "
          f"({decode_cpu:.1f} s)", flush=True)
    if os.environ.get("BENCH_GUI_CORRELATION_ONLY"):
        return
    dab_path = cached_acquisition("bench_gui_1024", **DAB_FILE)
    for tab in ("Traces", "Lifetime"):
        ms = measure_dabs(dab_path, tab)
        print(f"1024x1024, every panel open, {tab} tab in front: brush dab -> overlay painted "
              f"p50 {np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms (target p95 <= 16)",
              flush=True)
    if os.environ.get("BENCH_GUI_DABS_ONLY"):
        return
    for name, spec in FILES.items():
        path = cached_acquisition(f"bench_gui_{name}", **spec)
        r = measure(path)
        size = path.stat().st_size / 1e6
        print(f"{name}: {size:.0f} MB file; first frame {r['first_s'] * 1000:.0f} ms "
              f"(target < 1000); slider to paint median {r['median_ms']:.1f} ms, "
              f"p95 {r['p95_ms']:.1f} ms (target p95 < 30 for 512x512)", flush=True)
        st = r["stroke_ms"]
        print(f"{name}: brush stroke end -> traces of 10 ROIs updated: median {np.median(st):.0f} ms, "
              f"max {st.max():.0f} ms (includes the 150 ms edit debounce; target < 1000)",
              flush=True)


if __name__ == "__main__":
    main()
