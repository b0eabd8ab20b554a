"""Options of the "siffpy" estimator: defaults, validation, SiffPy keywords ignored."""

from __future__ import annotations

import os
import warnings

import numpy as np

#: SiffPy keyword arguments accepted for compatibility and ignored by the "siffpy" method
#: (its estimator has no such knobs; ``align_z`` warns, as in SiffPy).
_SIFFPY_IGNORED = ("nimg_init", "seed_ref_count", "regularize_sigma", "tqdm", "subpx",
                   "nowarn", "discard_bins", "align_z")


def estimator_options(opts: dict, H: int, W: int, C: int, alignment_color: int) -> dict:
    """Validated options of the ``siffpy`` estimator for ``H`` x ``W`` frames and ``C`` colours.

    Fills the defaults, clamps ``max_shift`` (pixels) to less than half a frame, warns about
    SiffPy options that do not apply and raises ``ValueError``/``TypeError`` for bad or
    unknown ones. ``opts`` is consumed."""
    for name in _SIFFPY_IGNORED:
        if name in opts:
            value = opts.pop(name)
            if name == "align_z" and value:
                warnings.warn("align_z is ignored: planes are registered together "
                              "(rigid_volume=True) or independently", UserWarning, stacklevel=4)
    max_shift = opts.pop("max_shift", None)
    if max_shift is None:
        max_shift = (H // 4, W // 4)
    elif np.isscalar(max_shift):
        max_shift = (int(max_shift), int(max_shift))
    max_shift = (max(0, min(int(max_shift[0]), (H - 1) // 2)),
                 max(0, min(int(max_shift[1]), (W - 1) // 2)))
    colors = opts.pop("evidence_colors", None)
    if colors is None:
        colors = [alignment_color]
    elif isinstance(colors, str):
        if colors != "all":
            raise ValueError("evidence_colors must be None, 'all' or a list of colour indices")
        colors = list(range(C))
    else:
        colors = sorted({int(c) for c in colors} | {alignment_color})
        if min(colors) < 0 or max(colors) >= C:
            raise ValueError(f"evidence_colors must lie in 0..{C - 1}")
    out = {
        "num_cycles": max(1, int(opts.pop("num_cycles", 8))),
        "tolerance": float(opts.pop("tolerance", 0.002)),
        "max_shift": list(max_shift),
        "rigid_volume": bool(opts.pop("rigid_volume", True)),
        "evidence_colors": colors,
        "temporal": str(opts.pop("temporal", "hmm")),
        "step_sigma": float(opts.pop("step_sigma", 1.0)),
        "jump_probability": float(opts.pop("jump_probability", 0.1)),
        "em_iterations": max(1, int(opts.pop("em_iterations", 2))),
        "reference_sigma": float(opts.pop("reference_sigma", 1.0)),
        "subpixel_references": bool(opts.pop("subpixel_references", True)),
        "coarse_cycles": bool(opts.pop("coarse_cycles", True)),
        "batch_frames": max(1, int(opts.pop("batch_frames", 256))),
        "workers": max(1, int(opts.pop("workers", os.cpu_count() or 1))),
    }
    if out["temporal"] not in ("hmm", "none"):
        raise ValueError("temporal must be 'hmm' or 'none'")
    if not 0.0 < out["jump_probability"] < 1.0:
        raise ValueError("jump_probability must lie strictly between 0 and 1")
    if opts:
        raise TypeError(f"unknown option(s) for registration_method='siffpy': "
                        f"{', '.join(sorted(opts))}")
    return out

