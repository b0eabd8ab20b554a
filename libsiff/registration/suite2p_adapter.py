"""The "suite2p" method: suite2p's rigid registration, plane by plane, on decoded frames."""

from __future__ import annotations

import inspect
import json

import numpy as np

from .frames import build_result
from .options import _SIFFPY_IGNORED
from .progress import Ticker
from .sidecar import RegistrationInfo, RegistrationType, _signed


def _import_suite2p():
    try:
        import suite2p  # noqa: F401
        from suite2p.registration import register
    except ImportError as exc:
        raise ImportError(
            "registration_method='suite2p' needs suite2p, which is not installed: "
            "pip install siffviewer[suite2p]  (or use registration_method='siffpy', "
            "which needs nothing extra)") from exc
    return register


def register_suite2p(io, grid: np.ndarray, alignment_color: int, ticker: Ticker,
                      opts: dict) -> RegistrationInfo:
    """suite2p's rigid registration of each plane (docs/compatibility.md §4.2), on the decoded frames.

    As SiffPy: frames of the alignment colour are read unregistered as float32 and scaled
    by 100 (suite2p averages, then casts to int16), the reference is suite2p's ``refImg /
    100``, and suite2p's offsets are negated to become np.roll shifts. Unlike SiffPy the
    shifts reach every colour of the plane and timepoint (docs/compatibility.md §8a
    decision 2). Missing frames are left out of suite2p's input and get the shift of the
    previous timepoint."""
    register = _import_suite2p()
    H, W = io.frame_shape()
    T, Z, C = grid.shape
    wrapper = register.registration_wrapper
    params = inspect.signature(wrapper).parameters
    for name in _SIFFPY_IGNORED:
        opts.pop(name, None)
    ticker.total = 2 * int((grid[:, :, alignment_color] >= 0).sum())
    shifts = np.zeros((T, Z, 2), np.int64)
    references = np.zeros((Z, H, W), np.float32)
    for z in range(Z):
        ticker.check()
        rows = np.flatnonzero(grid[:, z, alignment_color] >= 0)
        if rows.size == 0:
            continue
        raw = io.get_frames(grid[rows, z, alignment_color]).astype(np.float32) * 100
        ticker.add(rows.size)
        registered = np.zeros_like(raw)
        if "settings" in params:  # suite2p >= 1.0 (torch)
            default = _default_of(params["settings"], "default_settings")
            # suite2p 1.x's wrapper reads the "registration" section of its settings
            default = default.get("registration", default)
            kwargs = {"settings": {**default, **opts, "nonrigid": False}}
            if "device" in params:
                import torch
                kwargs["device"] = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:  # suite2p 0.x
            default = _default_of(params.get("ops"), "default_ops")
            kwargs = {"ops": {**default, **opts, "nonrigid": False}}
        if "settings" in params:  # 1.x tests `not f_raw`, which arrays refuse: register in place
            out = wrapper(raw, **kwargs)
        else:
            out = wrapper(registered, f_raw=raw, **kwargs)
        if isinstance(out, dict):
            ref, yoff, xoff = out["refImg"], out["yoff"], out["xoff"]
        else:
            ref, (yoff, xoff) = out[0], out[4][:2]
        ticker.add(rows.size)
        references[z] = np.asarray(ref, np.float32) / 100
        s = -np.stack([np.rint(yoff), np.rint(xoff)], axis=1).astype(np.int64)
        filled = np.zeros((T, 2), np.int64)
        filled[rows] = s
        # carry the last known shift into timepoints without a frame
        have = np.zeros(T, bool)
        have[rows] = True
        last = np.maximum.accumulate(np.where(have, np.arange(T), 0))
        shifts[:, z, 0] = _signed(filled[last, 0], H)
        shifts[:, z, 1] = _signed(filled[last, 1], W)
        del raw, registered
    subpixel = shifts.astype(np.float64)
    return build_result(io, grid, alignment_color, RegistrationType.Suite2p, shifts, subpixel,
                   None, references, {"suite2p_options": _jsonable(opts)})


def _default_of(param, factory: str) -> dict:
    """The default dict of suite2p's ``ops``/``settings`` parameter, or ``suite2p.<factory>()``."""
    if param is not None and isinstance(param.default, dict):
        return dict(param.default)
    import suite2p
    return dict(getattr(suite2p, factory)())


def _jsonable(d: dict) -> dict:
    """Keep the JSON-serialisable entries of an options dict (for the sidecar)."""
    out = {}
    for k, v in d.items():
        try:
            json.dumps(v)
            out[str(k)] = v
        except TypeError:
            out[str(k)] = repr(v)
    return out
