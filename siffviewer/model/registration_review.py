"""What the registration QC views show, Qt-free: the per-frame quality trace (from the
registration sidecar, or computed with :func:`libsiff.registration.qc.frame_quality`),
its flagged timepoints and how to step between them, and the raw and registered images of
one view."""

from __future__ import annotations

import numpy as np

from libsiff.registration import flag_frames, frame_quality


def registration_quality(session, info, progress=None, cancel=None) -> np.ndarray:
    """Quality (T, Z) of ``info`` on ``session``: the stored trace when the sidecar holds
    one, else computed (``progress``/``cancel`` as for ``frame_quality``)."""
    if info.quality is not None:
        return np.asarray(info.quality, np.float64)
    grid = info.frame_grid if info.frame_grid is not None else session.grid
    return frame_quality(session.io, info, frame_grid=grid, progress=progress, cancel=cancel)


def flagged_timepoints(quality: np.ndarray, plane: int, k: float = 4.0) -> np.ndarray:
    """Sorted timepoints whose quality in ``plane`` dropped (``qc.flag_frames``)."""
    q = np.asarray(quality, np.float64)
    q = q if q.ndim == 2 else q[:, None]
    flags = flag_frames(q, k=k)
    return np.flatnonzero(flags[:, min(int(plane), q.shape[1] - 1)])


def step_flagged(flagged: np.ndarray, timepoint: int, direction: int) -> int | None:
    """The next (direction > 0) or previous flagged timepoint from ``timepoint``; None when
    there is none that way."""
    flagged = np.asarray(flagged)
    later = flagged[flagged > timepoint] if direction > 0 else flagged[flagged < timepoint]
    if later.size == 0:
        return None
    return int(later[0] if direction > 0 else later[-1])


def raw_and_registered(session, timepoint: int, plane: int, color: int, average: int = 1
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The image of one view read without and with the session's registration."""
    return (session.read_image(timepoint, plane, color, average, registered=False),
            session.read_image(timepoint, plane, color, average, registered=True))
