"""Rigid motion registration of .siff acquisitions: shifts, references, sidecar files.

:func:`register_frames` finds one integer ``(dy, dx)`` per frame so that
``np.roll(frame, (dy, dx), axis=(0, 1))`` lines the frame up with its plane's reference
image, which is the convention :meth:`SiffIO.get_frames` applies photon by photon. It
returns a :class:`RegistrationInfo`; :meth:`RegistrationInfo.save` and
:func:`load_saved_registration` keep it next to the acquisition.

The ``"siffpy"`` method (the default, no extra dependency) keeps SiffPy's outline -- a
reference per plane, per-frame rigid shifts, iterations that rebuild the references from
aligned frames -- but replaces its estimator, which a literal port showed to be several
pixels off on sparse photon data (docs/compatibility.md §8a decision 12):

* **Poisson likelihood instead of phase correlation.** For photon counts ``n`` and a
  reference ``lam`` (expected photons per pixel), the log-likelihood of a shift ``d`` is
  ``sum_p n[p] * log(lam[p + d])`` plus a constant, i.e. a cross-correlation of the counts
  with ``log(lam)``. It is computed for every shift at once with real FFTs (float32,
  ``scipy.fft`` with several workers). Phase correlation whitens the spectrum and so gives
  shot-noise-dominated high frequencies full weight; the likelihood weighs each photon by
  what it says.
* **Evidence pooled where the physics says it is shared.** The planes of one volume are
  acquired milliseconds apart and by default share one shift (``rigid_volume=True``): their
  log-likelihood maps are added (in the Fourier domain, so one inverse FFT per volume).
  Colour channels share shifts exactly: every colour of a plane and timepoint gets the
  shift, and extra colours can also vote (``evidence_colors="all"``; by default only the
  alignment colour does, as in SiffPy, since another channel may hold structure that does
  not move with the sample). Over time, a hidden Markov model (states: integer shifts in
  a ``max_shift`` window; transitions: a Gaussian step of ``sigma`` pixels per timepoint,
  or with probability ``eps`` a jump to where the sample has been) combines neighbouring
  timepoints. ``eps``, ``sigma`` and the jump targets are re-estimated by EM, so fast
  jitter switches the temporal prior off by itself (``eps`` near 1) while slow drift and
  sudden jumps keep it. The shift of a timepoint is its posterior mode; the posterior
  probability of that shift is kept as ``confidence``.
* **References rebuilt from aligned frames**, each cycle, with the decoder's own
  registered sum (photons moved, never resampled), split by timepoint parity: odd
  timepoints are matched against the reference made of even ones, the shifts are updated,
  then even timepoints are matched against a reference rebuilt from the updated odd ones.
  A frame therefore never votes for its own current position (with sparse photons that
  bias is as large as the evidence itself). Frames are placed for the references at their sub-pixel
  estimate, rounded stochastically around a lattice-centred mean (see
  :func:`placements`), which keeps references sharp when the data sit half-way between
  two integer shifts. Cycles stop when at most ``tolerance`` of the shifts change.
  Finally the shifts are re-centred so that their median is (0, 0): the references sit at
  the sample's typical position and the data moves as little as possible.

Sub-pixel estimates (the maximum of the interpolated log-likelihood within 0.6 pixel of
the chosen integer shift, :mod:`.subpixel`) are kept in
:attr:`RegistrationInfo.subpixel_shifts` and in the sidecar; the decoder applies the
integer shifts, since photons are moved, never resampled. Memory does not grow with the
recording beyond a few numbers per timepoint: the per-timepoint likelihood maps spill to
a temporary file when large (:mod:`.spill`).

The ``"suite2p"`` method runs suite2p's rigid registration, plane by plane, on the same
decoded frames (``pip install siffviewer[suite2p]``).

Layout: :mod:`.sidecar` (the result and its file), :mod:`.dispatch` (the entry point),
:mod:`.estimator` with :mod:`.likelihood`, :mod:`.temporal` and :mod:`.options` (the
"siffpy" method), :mod:`.suite2p_adapter`, :mod:`.qc` (quality checks of a registration).
"""

from . import spill  # noqa: F401  (tests and benchmarks tune its limits)
from .dispatch import frame_grid_from_labels, register_frames
from .progress import CancelCallback, ProgressCallback
from .qc import flag_frames, frame_quality, mean_images
from .sidecar import (
    FORMAT_VERSION,
    REGISTRATION_SUFFIX,
    RegistrationInfo,
    RegistrationType,
    default_registration_path,
    file_fingerprint,
    load_saved_registration,
)

__all__ = [
    "RegistrationType", "RegistrationInfo", "register_frames", "frame_grid_from_labels",
    "default_registration_path", "load_saved_registration", "file_fingerprint",
    "REGISTRATION_SUFFIX", "FORMAT_VERSION", "ProgressCallback", "CancelCallback",
    "frame_quality", "flag_frames", "mean_images",
]
