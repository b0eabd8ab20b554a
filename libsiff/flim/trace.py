"""FlimTrace: lifetimes with their photon counts, as SiffPy's notebooks use them.

A FlimTrace is a float (or complex, for phasors) numpy array of lifetimes with an
``intensity`` array of the same shape (photons). Reshaping and indexing keep the two
aligned; ``sum`` pools photon-weighted: ``lifetime = nansum(lifetime * intensity) /
sum(intensity)`` and ``intensity = sum(intensity)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FlimTrace"]

_PER_BIN = {"countbins": lambda ps: 1.0, "picoseconds": lambda ps: ps,
            "nanoseconds": lambda ps: ps / 1000.0}


class FlimTrace(np.ndarray):
    """Lifetime array (in ``units``) with photon counts in ``.intensity``.

    ``units`` is ``'countbins'`` (arrival bins), ``'picoseconds'`` or ``'nanoseconds'``;
    ``bin_width_ps`` converts between them (the file's own bin width)."""

    def __new__(cls, lifetime, intensity=None, params=None, method="empirical lifetime",
                units="countbins", bin_width_ps: float = 20.0, info_string: str = ""):
        obj = np.asarray(lifetime).view(cls)
        obj.intensity = (np.zeros(obj.shape, np.uint64) if intensity is None
                         else np.asarray(intensity))
        if obj.intensity.shape != obj.shape:
            raise ValueError(f"intensity shape {obj.intensity.shape} != lifetime {obj.shape}")
        obj.FLIMParams = params
        obj.method = method
        obj.units = units
        obj.bin_width_ps = float(bin_width_ps)
        obj.info_string = info_string
        return obj

    def __array_finalize__(self, obj):
        if obj is None:
            return
        for name, default in (("FLIMParams", None), ("method", "empirical lifetime"),
                              ("units", "countbins"), ("bin_width_ps", 20.0),
                              ("info_string", "")):
            setattr(self, name, getattr(obj, name, default))
        inten = getattr(obj, "intensity", None)
        self.intensity = inten if inten is not None and inten.shape == self.shape else None

    def _like(self, lifetime, intensity) -> FlimTrace:
        return FlimTrace(np.asarray(lifetime), intensity, self.FLIMParams, self.method,
                         self.units, self.bin_width_ps, self.info_string)

    @property
    def lifetime(self) -> np.ndarray:
        """The lifetimes as a plain ndarray (in ``units``)."""
        return np.asarray(self)

    def __getitem__(self, key):
        out = np.asarray(self)[key]
        if np.ndim(out) == 0:
            return out
        return self._like(out, np.asarray(self.intensity)[key])

    def reshape(self, *shape, **kw) -> FlimTrace:
        """Reshape lifetimes and intensities together (``numpy.reshape`` arguments)."""
        return self._like(np.asarray(self).reshape(*shape, **kw),
                          np.asarray(self.intensity).reshape(*shape, **kw))

    def sum(self, axis=None, **kw) -> FlimTrace:
        """Photon-weighted pooling: lifetimes averaged by intensity, intensities summed."""
        inten = np.asarray(self.intensity)
        life = np.asarray(self)
        weights = inten.astype(np.float64)
        weighted = np.where(weights > 0, life * weights, 0)
        total = weights.sum(axis=axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = weighted.sum(axis=axis) / total
        return self._like(np.asarray(pooled), np.asarray(inten.sum(axis=axis)))

    def convert_units(self, units: str) -> FlimTrace:
        """Convert the lifetimes in place to ``units`` (phasors are unitless); returns self."""
        if units not in _PER_BIN:
            raise ValueError(f"units must be one of {sorted(_PER_BIN)}")
        if self.method != "phasor" and units != self.units:
            factor = _PER_BIN[units](self.bin_width_ps) / _PER_BIN[self.units](self.bin_width_ps)
            np.multiply(self, factor, out=np.asarray(self), casting="unsafe")
        self.units = units
        return self

    def subtract_noise(self, max_arrival_time: float, noise: float | None = None) -> FlimTrace:
        """Remove a uniform-noise fraction: ``(lifetime - noise*max/2) / (1 - noise)``,
        intensity scaled by ``1 - noise``. ``max_arrival_time`` is in ``units``; the noise
        fraction defaults to the FLIMParams' ``noise``."""
        if noise is None:
            noise = float(getattr(self.FLIMParams, "noise", 0.0) or 0.0)
        life = (np.asarray(self) - noise * max_arrival_time / 2) / (1 - noise)
        return self._like(life, np.asarray(self.intensity) * (1 - noise))

    def __repr__(self) -> str:
        return (f"FlimTrace({np.asarray(self)!r}, units={self.units!r}, method={self.method!r}, "
                f"intensity={np.asarray(self.intensity)!r})")
