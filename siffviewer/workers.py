"""The one pattern for background work in the viewer.

* :class:`LatestLoader`: frame requests where only the newest matters. While one request
  is computed, newer ones replace the pending one, so dragging a slider never queues
  stale work; a result whose key is no longer the newest is dropped.
* :class:`Job`: long work (registration, projections, exports) with progress, cancel and
  a visible error.
* :class:`BackgroundWriter`: saves (autosave) where only the newest snapshot matters and
  an older snapshot must never overwrite a newer one. The work function receives ``progress(done, total)`` and
  ``cancelled() -> bool`` and runs on a Python thread (the C decoder releases the GIL).

Both deliver results on the GUI thread through queued Qt signals. ``sync=True`` runs
everything on the caller's thread, for tests and for ``--screenshot``.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PyQt6 import QtCore

from libsiff import SiffCancelled


class LatestLoader(QtCore.QObject):
    """Computes ``fn(key)`` in a worker thread, newest request first, stale results dropped."""

    loaded = QtCore.pyqtSignal(object, object)  # key, value
    failed = QtCore.pyqtSignal(object, str)     # key, message

    def __init__(self, fn: Callable[[Any], Any], sync: bool = False, parent=None) -> None:
        super().__init__(parent)
        self._fn = fn
        self.sync = sync
        self._lock = threading.Condition()
        self._pending: Any = None
        self._has_pending = False
        self._latest: Any = None
        self._stop = False
        self._thread: threading.Thread | None = None

    def request(self, key: Any, *payload: Any) -> None:
        """Ask for ``fn(key, *payload)``; replaces any request not yet started.

        ``key`` identifies the request (compared to drop stale results); ``payload`` carries
        data taken on the caller's thread (for example a snapshot of the masks), so the
        worker never reads state the GUI is changing."""
        self._latest = key
        if self.sync:
            self._run(key, payload)
            return
        with self._lock:
            self._pending, self._has_pending = (key, payload), True
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="frame-loader",
                                                daemon=True)
                self._thread.start()
            self._lock.notify()

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._has_pending and not self._stop:
                    self._lock.wait()
                if self._stop:
                    return
                (key, payload), self._has_pending = self._pending, False
            self._run(key, payload)

    def _run(self, key: Any, payload: tuple) -> None:
        if self._stop:
            return
        try:
            value = self._fn(key, *payload)
        except Exception as e:  # noqa: BLE001 - reported to the GUI, never lost
            if key == self._latest and not self._stop:  # a stale request's failure is moot
                self.failed.emit(key, f"{type(e).__name__}: {e}")
            return
        if key == self._latest and not self._stop:
            self.loaded.emit(key, value)

    def is_latest(self, key: Any) -> bool:
        """True if ``key`` is the most recent request."""
        return key == self._latest

    def stop(self, wait: bool = True) -> None:
        """Stop the worker; no signal is emitted afterwards."""
        with self._lock:
            self._stop = True
            self._lock.notify()
        if wait and self._thread is not None:
            self._thread.join(timeout=5)


class BackgroundWriter(QtCore.QObject):
    """Writes snapshots with ``write(snapshot)`` on one worker thread, newest first.

    A snapshot submitted while another is pending replaces it; a snapshot is skipped when a
    newer one has already been written (by the worker or by :meth:`write_now`), so the file
    on disk never goes back in time. Signals (GUI thread): ``written(key)``,
    ``failed(key, message)``."""

    written = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(object, str)

    def __init__(self, write: Callable[[Any], Any], sync: bool = False, parent=None) -> None:
        super().__init__(parent)
        self._write = write
        self.sync = sync
        self._cond = threading.Condition()
        self._io = threading.Lock()  # one write at a time, worker or caller
        self._pending: tuple | None = None  # (sequence, key, snapshot)
        self._sequence = 0
        self._written = 0  # sequence number of the newest snapshot on disk
        self._stop = False
        self._thread: threading.Thread | None = None

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence

    def submit(self, key: Any, snapshot: Any) -> None:
        """Write ``snapshot`` in the background (at once when synchronous)."""
        if self.sync:
            try:
                self.write_now(snapshot)
            except Exception as e:  # noqa: BLE001 - reported like the worker's failures
                self.failed.emit(key, f"{type(e).__name__}: {e}")
                return
            self.written.emit(key)
            return
        with self._cond:
            self._pending = (self._next(), key, snapshot)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="background-writer",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def write_now(self, snapshot: Any) -> None:
        """Write ``snapshot`` on the caller's thread, after any write in progress; a pending
        (older) snapshot is dropped. Raises what ``write`` raises."""
        with self._cond:
            sequence = self._next()
            self._pending = None
        with self._io:
            self._write(snapshot)
            self._written = max(self._written, sequence)

    def busy(self) -> bool:
        """True while a snapshot is pending or being written."""
        if self._io.locked():
            return True
        with self._cond:
            return self._pending is not None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                (sequence, key, snapshot), self._pending = self._pending, None
            with self._io:
                if sequence <= self._written:
                    continue
                try:
                    self._write(snapshot)
                except Exception as e:  # noqa: BLE001 - reported to the GUI, never lost
                    self.failed.emit(key, f"{type(e).__name__}: {e}")
                    continue
                self._written = sequence
            self.written.emit(key)

    def stop(self, wait: bool = True) -> None:
        """Finish the write in progress, drop a pending one and stop the worker."""
        with self._cond:
            self._stop = True
            self._pending = None
            self._cond.notify()
        if wait and self._thread is not None:
            self._thread.join(timeout=30)


class Job(QtCore.QObject):
    """One cancellable background task with progress.

    Signals: ``progressed(done, total)``, ``finished_ok(result)``, ``failed(message)``,
    ``cancelled()``; exactly one of the last three fires."""

    progressed = QtCore.pyqtSignal(int, int)
    finished_ok = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(str)
    cancelled = QtCore.pyqtSignal()

    def __init__(self, name: str, fn: Callable[..., Any], sync: bool = False, parent=None):
        super().__init__(parent)
        self.name = name
        self._fn = fn
        self.sync = sync
        self._cancel = threading.Event()
        self._abandoned = False
        self._thread: threading.Thread | None = None
        self.running = False

    def start(self) -> None:
        """Run the job (in a thread, or at once when synchronous)."""
        self.running = True
        if self.sync:
            self._run()
        else:
            self._thread = threading.Thread(target=self._run, name=f"job-{self.name}", daemon=True)
            self._thread.start()

    def cancel(self) -> None:
        """Ask the work to stop at its next check; ``cancelled`` fires when it has."""
        self._cancel.set()

    def abandon(self) -> None:
        """Cancel and emit nothing more (its owner is going away, e.g. another file opens)."""
        self._abandoned = True
        self._cancel.set()

    def is_cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel.is_set()

    def _emit(self, signal, *args) -> None:
        if not self._abandoned:
            signal.emit(*args)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job's thread (up to ``timeout`` s); True if it has finished."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _run(self) -> None:
        try:
            result = self._fn(progress=lambda d, t: self._emit(self.progressed, int(d), int(t)),
                              cancelled=self._cancel.is_set)
        except SiffCancelled:
            self.running = False
            self._emit(self.cancelled)
            return
        except Exception as e:  # noqa: BLE001 - shown to the user
            self.running = False
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            self._emit(self.failed, f"{self.name} failed: {detail}")
            return
        self.running = False
        if self._cancel.is_set():
            self._emit(self.cancelled)
        else:
            self._emit(self.finished_ok, result)
