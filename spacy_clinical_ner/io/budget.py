"""Per-note cost budget: a time limit on the pipeline's work on a note.

``deadline(allowance)`` raises :class:`BudgetExceeded` in the thread that runs the pipeline when
it has worked for ``allowance`` seconds (a number, or a function read again when the time
comes, e.g. "the budget times the notes in flight"). The batch runner and the service use it
so that a note the pipeline cannot finish in time gets an ``over_budget`` error record and
the others go on: a run or a service is never stalled by one note.

How the exception arrives:

* in the main thread (``clinical-ner annotate``), by ``SIGALRM`` (``signal.setitimer``): it also
  interrupts a wait on worker processes;
* in any other thread (the service's pipeline thread), by ``PyThreadState_SetAsyncExc`` from
  a watchdog thread.

Either way it is raised when the thread next runs Python code: one long call into compiled
code (a single matrix product) finishes first. ``BudgetExceeded`` is a ``BaseException``, so
that a component's ``except Exception`` cannot swallow it.
"""

from __future__ import annotations

import ctypes
import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Union

#: Default seconds of pipeline work per note (``clinical-ner annotate --budget-s``,
#: ``clinical-ner serve --budget-s``, ``CLINICAL_NER_BUDGET``).
DEFAULT_BUDGET_S = 60.0

Allowance = Union[float, Callable[[], float]]


class BudgetExceeded(BaseException):
    """The pipeline worked longer than its budget on the notes in flight."""

    def __init__(self, seconds: float = 0.0):
        super().__init__(f"over the budget of {seconds:g} s")
        self.seconds = seconds


def _seconds(allowance: Allowance) -> float:
    return float(allowance()) if callable(allowance) else float(allowance)


@contextmanager
def deadline(allowance: Allowance | None, on_expire: Callable[[], None] | None = None) -> Iterator[None]:
    """Raise :class:`BudgetExceeded` in this thread once the block has run ``allowance``
    seconds (``None`` or 0: no limit); ``on_expire`` is called first (e.g. to kill worker
    processes a clean-up would otherwise wait for). Deadlines do not nest: an inner one is ignored."""
    if allowance is None or (not callable(allowance) and allowance <= 0) or getattr(_state, "active", False):
        yield
        return
    _state.active = True
    try:
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            if signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None):
                with _alarm(allowance, on_expire):
                    yield
                return
        with _watchdog(allowance, on_expire):
            yield
    finally:
        _state.active = False


_state = threading.local()


@contextmanager
def shielded() -> Iterator[None]:
    """No :class:`BudgetExceeded` inside the block (it comes right after): for code that must
    not be cut, such as reading the next input note in a generator, which an exception would
    end for good."""
    before = getattr(_state, "shield", False)
    _state.shield = True
    try:
        yield
    finally:
        _state.shield = before


@contextmanager
def _alarm(allowance: Allowance, on_expire: Callable[[], None] | None) -> Iterator[None]:
    started = time.perf_counter()
    armed = True

    def on_alarm(signum, frame) -> None:
        if not armed:
            return
        allowed = _seconds(allowance)
        left = allowed - (time.perf_counter() - started)
        if left > 0.001:  # more notes came in flight since: wait for the rest
            signal.setitimer(signal.ITIMER_REAL, left)
            return
        if getattr(_state, "shield", False):  # try again just after the shielded block
            signal.setitimer(signal.ITIMER_REAL, 0.01)
            return
        if on_expire is not None:
            on_expire()
        raise BudgetExceeded(allowed)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(_seconds(allowance), 0.001))
    try:
        yield
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _watchdog(allowance: Allowance, on_expire: Callable[[], None] | None) -> Iterator[None]:
    target = threading.get_ident()
    target_state = _state.__dict__  # the target thread's thread-local values, read from the watcher
    started = time.perf_counter()
    done = threading.Event()
    lock = threading.Lock()
    fired = False

    def watch() -> None:
        nonlocal fired
        while True:
            allowed = _seconds(allowance)
            left = allowed - (time.perf_counter() - started)
            if done.wait(max(left, 0.0) if left > 0.001 else 0.0):
                return
            if left <= 0.001:
                if target_state.get("shield"):
                    done.wait(0.01)
                    continue
                with lock:
                    if not done.is_set():
                        if on_expire is not None:
                            on_expire()
                        fired = True
                        _async_raise(target, BudgetExceeded)
                return

    watcher = threading.Thread(target=watch, name="clinical-ner-budget", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        with lock:
            done.set()
            if fired:  # raised already, or still pending: a pending one must not escape the block
                _async_raise(target, None)
        watcher.join()


def _async_raise(thread_id: int, exc_type: type | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None)
