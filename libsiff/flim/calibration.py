"""Per-channel FLIM calibration: IRF offset and width, and the phasor correction.

One :class:`Calibration` per colour channel feeds every lifetime number: the empirical
lifetime (mean arrival minus ``offset_bins``), fits with a fixed IRF (:meth:`Calibration.fit`),
calibrated phasors (:meth:`Calibration.calibrate_phasor`) and apparent lifetimes. It is made

* from a fit (:meth:`Calibration.from_fit`): the fitted IRF offset and width;
* from a reference of known lifetime (:meth:`Calibration.from_reference`, or
  :func:`reference_from_file` / :func:`reference_from_roi`): a dye whose lifetime the user
  gives, measured on the same set-up;
* from a measured IRF (:meth:`Calibration.from_irf_histogram`, :func:`irf_from_file`): a
  histogram of a scattering sample (array, ``.npy``/text file, or a ``.siff`` recording).

Phasor convention (harmonic)
----------------------------
Calibrated phasors here are taken at the **laser repetition frequency**: a photon in count
bin ``k`` contributes ``exp(2j*pi*k / P)`` with ``P = Tau_bins`` (the laser period in count
bins, from the header), i.e. ``omega = 2*pi / (Tau_bins * bin_width)``. At this harmonic
uniform background has phasor 0, a pure exponential with a Gaussian IRF has phasor
``irf_phasor / (1 - 1j*omega*tau)`` exactly (folding into the period does not change a
Fourier coefficient of the period), and phasorpy's frequency-based functions apply with
``frequency_mhz = 1e6 / (Tau_bins * bin_width_ps)``.

corrosiffpy's ``SiffIO`` (and libsiff's compatible ``SiffIO.flim_map(flim_method='phasor')``)
uses the histogram length ``L = Tau_bins + 2`` as the period instead; that is not a harmonic
of the laser, so pure exponentials land slightly off the semicircle. That convention stays
in the ``SiffIO`` compatibility layer (:func:`libsiff.flim.histogram_to_phasor` and friends);
everything built on :class:`Calibration` asks the C core for laser-period sums
(``_period_bins``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np
from phasorpy.lifetime import (
    phasor_from_lifetime,
    phasor_to_apparent_lifetime,
    polar_from_reference_phasor,
)
from phasorpy.phasor import phasor_to_polar, phasor_transform

from ..errors import SiffArgumentError, SiffFormatError
from .fit import fit_params_to_data
from .params import Exp, FLIMParams, Irf
from .units import FlimUnits, convert_flimunits

__all__ = ["Calibration", "histogram_phasor", "irf_from_file", "reference_from_file",
           "reference_from_roi"]

SOURCES = ("none", "fit", "reference", "irf")


def histogram_phasor(histogram, period_bins: float, axis: int = -1) -> Tuple[Any, Any, Any]:
    """Uncalibrated laser-period phasor of arrival histograms along ``axis``.

    Parameters
    ----------
    histogram : array_like
        Counts per count bin (bin ``k`` contributes ``exp(2j*pi*k / period_bins)``).
    period_bins : float
        Laser period in count bins (the header's ``Tau_bins``).
    axis : int
        The arrival-time axis.

    Returns
    -------
    counts, real, imag : numpy.ndarray or float
        Photons and phasor coordinates (NaN where there are no photons).
    """
    h = np.moveaxis(np.asarray(histogram, dtype=np.float64), axis, -1)
    phase = np.exp(2j * np.pi * np.arange(h.shape[-1]) / float(period_bins))
    counts = h.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (h @ phase) / counts
    return counts, z.real, z.imag


def _load_histogram(path: os.PathLike) -> np.ndarray:
    """The counts of a histogram file (``.npy``, or text with one or two columns).

    Raises SiffFormatError naming the file when it holds no such histogram."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            # mapped: a header claiming more than the file holds fails instead of allocating
            data = np.load(path, allow_pickle=False, mmap_mode="r")
        else:
            data = np.loadtxt(path, delimiter="," if path.suffix.lower() == ".csv" else None)
        data = np.asarray(data, dtype=np.float64)
    except (ValueError, TypeError, EOFError, UnicodeDecodeError) as exc:
        raise SiffFormatError(f"{path}: not an arrival-time histogram ({exc})") from None
    if data.ndim == 2 and 1 in data.shape:
        data = data.ravel()
    if data.ndim == 2 and data.shape[1] == 2:  # (time, counts) columns
        data = data[:, 1]
    if data.ndim != 1 or data.size < 4 or not np.all(np.isfinite(data)) or np.any(data < 0):
        raise SiffFormatError(f"{path}: not an arrival-time histogram (one column of "
                              "non-negative counts)")
    return data


@dataclass
class Calibration:
    """FLIM calibration of one colour channel. All times in count bins unless named ``_ns``.

    Attributes
    ----------
    period_bins : float
        Laser period in count bins (``Tau_bins``); sets the phasor harmonic.
    bin_width_ps : float
        Picoseconds per count bin.
    offset_bins : float
        IRF offset (mean arrival of the instrument response).
    irf_sigma_bins : float or None
        IRF width (standard deviation), None when unknown.
    phase_zero, modulation_zero : float
        Phasor correction: calibrated phasor = raw phasor rotated by ``phase_zero`` (radians)
        and scaled by ``modulation_zero`` (phasorpy's ``phasor_transform``).
    source : str
        ``'none'``, ``'fit'``, ``'reference'`` or ``'irf'``.
    channel : int or None
        0-based colour channel it belongs to.
    reference_tau_ns : float or None
        Lifetime the user gave for a reference.
    note : str
        Where it came from (file name, ROI), for the session and export headers.
    """

    period_bins: float
    bin_width_ps: float
    offset_bins: float = 0.0
    irf_sigma_bins: Optional[float] = None
    phase_zero: float = 0.0
    modulation_zero: float = 1.0
    source: str = "none"
    channel: Optional[int] = None
    reference_tau_ns: Optional[float] = None
    note: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not (np.isfinite(self.period_bins) and self.period_bins > 0):
            raise SiffArgumentError(f"period_bins must be positive, got {self.period_bins}")
        if not (np.isfinite(self.bin_width_ps) and self.bin_width_ps > 0):
            raise SiffArgumentError(f"bin_width_ps must be positive, got {self.bin_width_ps}")
        if self.source not in SOURCES:
            raise SiffArgumentError(f"source must be one of {SOURCES}, got {self.source!r}")

    # ------------------------------------------------------------------ derived values
    @property
    def frequency_mhz(self) -> float:
        """Laser repetition frequency in MHz (``1e6 / (period_bins * bin_width_ps)``)."""
        return 1e6 / (self.period_bins * self.bin_width_ps)

    @property
    def period_ns(self) -> float:
        """Laser period in nanoseconds."""
        return self.period_bins * self.bin_width_ps / 1000.0

    @property
    def omega_per_bin(self) -> float:
        """Angular frequency of the phasor harmonic, radians per count bin."""
        return 2.0 * np.pi / self.period_bins

    def irf(self) -> Irf:
        """The Gaussian IRF in nanoseconds (ValueError when the width is unknown)."""
        if self.irf_sigma_bins is None:
            raise SiffArgumentError("this calibration has no IRF width")
        conv = self.bin_width_ps / 1000.0
        return Irf(tau_offset=self.offset_bins * conv, tau_g=self.irf_sigma_bins * conv,
                   units=FlimUnits.NANOSECONDS, bin_width_ps=self.bin_width_ps)

    # ------------------------------------------------------------------ constructors
    @staticmethod
    def _fit_irf(histogram, tau_ns: float, period_bins: float, bin_width_ps: float) -> FLIMParams:
        """IRF offset, width and noise of a histogram whose lifetime is known (held fixed)."""
        tau_ns = max(float(tau_ns), 0.1 * bin_width_ps / 1000.0)  # an IRF: a tenth of a bin
        guess = FLIMParams(Exp(tau=tau_ns, frac=1.0, units=FlimUnits.NANOSECONDS),
                           Irf(tau_offset=0.0, tau_g=0.1, units=FlimUnits.NANOSECONDS),
                           noise=0.01, bin_width_ps=bin_width_ps)
        h = np.asarray(histogram, dtype=np.float64)
        peak_ns = float(np.argmax(h[: int(round(period_bins))])) * bin_width_ps / 1000.0
        guess.tau_offset = max(peak_ns - min(tau_ns, 0.5), 0.0)
        return fit_params_to_data(h, initial_guess=guess, fixed=("taus",), n_exps=1,
                                  period_bins=period_bins, bin_width_ps=bin_width_ps,
                                  units=FlimUnits.COUNTBINS)

    @classmethod
    def from_fit(cls, params: FLIMParams, period_bins: float, channel: Optional[int] = None,
                 note: str = "") -> "Calibration":
        """From a fitted ``FLIMParams``: its IRF offset and width (Gaussian IRF phasor).

        Parameters
        ----------
        params : FLIMParams
            A fit of this channel (any units; its ``bin_width_ps`` is used).
        period_bins : float
            Laser period in count bins (``Tau_bins``).
        """
        bw = params.bin_width_ps
        mu = float(convert_flimunits(params.tau_offset, params.units, FlimUnits.COUNTBINS, bw))
        sigma = float(convert_flimunits(params.tau_g, params.units, FlimUnits.COUNTBINS, bw))
        omega = 2.0 * np.pi / float(period_bins)
        return cls(period_bins=float(period_bins), bin_width_ps=float(bw), offset_bins=mu,
                   irf_sigma_bins=sigma, phase_zero=-omega * mu,
                   modulation_zero=float(np.exp(0.5 * (omega * sigma) ** 2)), source="fit",
                   channel=channel if channel is not None else params.color_channel, note=note)

    @classmethod
    def from_reference(cls, histogram, tau_ns: float, period_bins: float, bin_width_ps: float,
                       channel: Optional[int] = None, note: str = "") -> "Calibration":
        """From the arrival histogram of a reference of known lifetime ``tau_ns``.

        The reference's measured phasor is mapped onto the semicircle at ``tau_ns``
        (phasorpy's ``polar_from_reference_phasor``) after removing the reference's uniform
        background; that background and the IRF offset and width come from a fit of the
        histogram with the lifetime held at ``tau_ns``.
        """
        tau_ns = float(tau_ns)
        if not (np.isfinite(tau_ns) and tau_ns >= 0):
            raise SiffArgumentError(f"the reference lifetime must be >= 0 ns, got {tau_ns}")
        n, re, im = histogram_phasor(histogram, period_bins)
        if not n > 0:
            raise SiffArgumentError("the reference histogram has no photons")
        freq = 1e6 / (float(period_bins) * float(bin_width_ps))
        known_re, known_im = phasor_from_lifetime(freq, tau_ns)
        fit = cls._fit_irf(histogram, tau_ns, period_bins, bin_width_ps)
        signal = max(1.0 - fit.noise, 1e-3)  # the reference's own uniform background
        phase, mod = polar_from_reference_phasor(re / signal, im / signal, float(known_re),
                                                 float(known_im))
        return cls(period_bins=float(period_bins), bin_width_ps=float(bin_width_ps),
                   offset_bins=float(fit.tau_offset), irf_sigma_bins=float(fit.tau_g),
                   phase_zero=float(phase), modulation_zero=float(mod), source="reference",
                   channel=channel, reference_tau_ns=tau_ns, note=note,
                   extra={"background_fraction": float(fit.noise)})

    @classmethod
    def from_irf_histogram(cls, histogram, period_bins: float, bin_width_ps: float,
                           channel: Optional[int] = None, note: str = "") -> "Calibration":
        """From a measured instrument response (scattering sample, lifetime 0).

        The offset, width and uniform background come from a fit of a Gaussian plus
        background (:func:`libsiff.flim.fit_params_to_data`, lifetime held at 0.1 bin); the
        phasor correction maps the recording's phasor, with the background removed (at the
        laser harmonic it only shrinks the modulation), onto ``(1, 0)``.
        """
        n, re, im = histogram_phasor(histogram, period_bins)
        if not n > 0:
            raise SiffArgumentError("the IRF histogram has no photons")
        fit = cls._fit_irf(histogram, 0.0, period_bins, bin_width_ps)
        irf_phasor = complex(re, im) / max(1.0 - fit.noise, 1e-3)
        return cls(period_bins=float(period_bins), bin_width_ps=float(bin_width_ps),
                   offset_bins=float(fit.tau_offset), irf_sigma_bins=float(fit.tau_g),
                   phase_zero=float(-np.angle(irf_phasor)),
                   modulation_zero=float(1.0 / abs(irf_phasor)), source="irf",
                   channel=channel, note=note, extra={"background_fraction": float(fit.noise)})

    # ------------------------------------------------------------------ use
    def calibrate_phasor(self, real, imag, out=None) -> Tuple[np.ndarray, np.ndarray]:
        """Calibrated ``(g, s)`` from raw laser-period phasor coordinates (phasorpy's
        ``phasor_transform``); ``out=(real, imag)`` works in place."""
        kwargs = {} if out is None else {"out": out}
        return phasor_transform(real, imag, self.phase_zero, self.modulation_zero, **kwargs)

    def apparent_lifetime_ns(self, real, imag) -> Tuple[np.ndarray, np.ndarray]:
        """Phase and modulation lifetimes (ns) of **calibrated** phasor coordinates."""
        return phasor_to_apparent_lifetime(real, imag, self.frequency_mhz)

    def polar(self, real, imag) -> Tuple[np.ndarray, np.ndarray]:
        """Phase (radians) and modulation of calibrated phasor coordinates (phasorpy)."""
        return phasor_to_polar(real, imag)

    def lifetime_phasor(self, tau_ns, fraction=None) -> Tuple[np.ndarray, np.ndarray]:
        """Phasor coordinates of lifetimes (ns) at this harmonic (phasorpy)."""
        return phasor_from_lifetime(self.frequency_mhz, tau_ns, fraction)

    def empirical_lifetime_ns(self, mean_bins):
        """Empirical lifetime in ns: ``(mean arrival bin - offset_bins) * bin width``."""
        return (np.asarray(mean_bins, dtype=float) - self.offset_bins) * self.bin_width_ps / 1000.0

    def fit(self, histogram, n_exps: int = 2, fix_irf: bool = True, **kwargs) -> FLIMParams:
        """Fit lifetimes to a histogram with this calibration's IRF (held fixed by default).

        ``kwargs`` go to :func:`libsiff.flim.fit_params_to_data`. Returns ``FLIMParams`` in
        nanoseconds with ``color_channel`` set to this channel.
        """
        n_exps = int(n_exps)
        taus = np.linspace(0.5, 3.0, n_exps) if n_exps > 1 else np.array([2.0])
        exps = [Exp(tau=float(t), frac=1.0 / n_exps, units=FlimUnits.NANOSECONDS) for t in taus]
        guess = FLIMParams(*exps, self.irf(), noise=0.01, bin_width_ps=self.bin_width_ps,
                           color_channel=self.channel)
        kwargs.setdefault("period_bins", self.period_bins)
        kwargs.setdefault("color_channel", self.channel)
        fixed = tuple(kwargs.pop("fixed", ())) + (("tau_offset", "tau_g") if fix_irf else ())
        return fit_params_to_data(histogram, initial_guess=guess, n_exps=n_exps, fixed=fixed,
                                  **kwargs)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> Dict[str, Any]:
        """JSON-compatible dict (every field)."""
        out = asdict(self)
        out["class"] = type(self).__name__
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Calibration":
        """Build from :meth:`to_dict` output."""
        data = dict(data)
        stored = data.pop("class", cls.__name__)
        if stored != cls.__name__:
            raise SiffArgumentError(f"a {stored} is not a {cls.__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise SiffArgumentError(f"unknown calibration fields {sorted(unknown)}")
        return cls(**data)


# ---------------------------------------------------------------- from files and ROIs
def _channel_histogram(path: os.PathLike, channel: int) -> Tuple[np.ndarray, float, float]:
    from ..reader import SiffReader

    with SiffReader(path) as sr:
        tau_bins = sr.siffio.tau_bins
        if tau_bins is None:
            raise SiffFormatError(f"{path}: the header has no Tau_bins (not a FLIM recording)")
        frames = sr.im_params.framelist_by_color(int(channel))
        return sr.get_histogram(frames), float(tau_bins), sr.picoseconds_per_bin


def irf_from_file(path: os.PathLike, channel: int = 0, period_bins: Optional[float] = None,
                  bin_width_ps: Optional[float] = None) -> Calibration:
    """Calibration from a measured IRF: a ``.siff`` recording, or a histogram file.

    A ``.siff``/``.tif(f)`` gives its own laser period and bin width (one colour channel,
    0-based). A histogram file (``.npy``, ``.csv``, ``.txt``: one column of counts, or
    time and counts) needs ``period_bins`` and ``bin_width_ps``.
    """
    path = Path(path)
    if path.suffix.lower() in (".siff", ".tif", ".tiff"):
        hist, period, bw = _channel_histogram(path, channel)
    else:
        if period_bins is None or bin_width_ps is None:
            raise SiffArgumentError(f"{path}: a histogram file needs period_bins and bin_width_ps")
        hist, period, bw = _load_histogram(path), float(period_bins), float(bin_width_ps)
    return Calibration.from_irf_histogram(hist, period, bw, channel=channel, note=str(path))


def reference_from_file(path: os.PathLike, tau_ns: float, channel: int = 0) -> Calibration:
    """Calibration from a ``.siff`` of a reference dye of known lifetime ``tau_ns``."""
    hist, period, bw = _channel_histogram(path, channel)
    return Calibration.from_reference(hist, tau_ns, period, bw, channel=channel,
                                      note=str(path))


def reference_from_roi(reader, mask, frames, tau_ns: float, channel: Optional[int] = None,
                       registration_dict=None) -> Calibration:
    """Calibration from the photons of an ROI (``mask``, 2-D or per plane) of known ``tau_ns``.

    ``reader`` is a :class:`libsiff.SiffReader`; ``frames`` its file frames to pool.
    """
    hist = np.asarray(reader.get_histogram_masked(mask, frames, registration_dict)).sum(axis=0)
    tau_bins = reader.siffio.tau_bins
    if tau_bins is None:
        raise SiffFormatError(f"{reader.filename}: the header has no Tau_bins")
    return Calibration.from_reference(hist, tau_ns, float(tau_bins), reader.picoseconds_per_bin,
                                      channel=channel, note="ROI")
