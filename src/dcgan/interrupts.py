"""Ctrl-C and SIGTERM: a flag checked between training steps, and critical sections.

While a checkpoint is written, SIGINT and SIGTERM are held back and delivered when it is
complete, so a second Ctrl-C (or a SIGTERM from a scheduler) never cuts a save short. The
exit code of a run stopped by a signal follows the shell convention: 128 + the signal
number (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum: int) -> int:
    """The shell's exit status of a process stopped by `signum`."""
    return 128 + int(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class StopSignal:
    """Turns SIGINT/SIGTERM into `received` (the first signal), checked between steps.

    `message` is printed on stderr the moment the first signal arrives, so a user who
    pressed Ctrl-C learns at once what happens next (a save may take a while)."""

    def __init__(self, message: str | None = None) -> None:
        self.received: int | None = None
        self.message = message
        self._old: dict[int, object] = {}

    def __enter__(self) -> StopSignal:
        if _main_thread():  # handlers can only be set from the main thread
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum
            if self.message:
                print(self.message, file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def deferred_signals(what: str = "a checkpoint") -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while the block runs; deliver them once it completed.

    The earlier handlers (e.g. a `StopSignal`, or Python's KeyboardInterrupt) then see
    them as if they had just arrived. When the block fails, the error is what is reported.
    """
    if not _main_thread() or getattr(signal.getsignal(signal.SIGINT), "deferring", False):
        yield  # not ours to handle, or already inside a critical section
        return
    pending: list[int] = []

    def hold(signum: int, frame: object) -> None:
        if not pending:
            print(f"dcgan: finishing {what} before stopping", file=sys.stderr, flush=True)
        pending.append(signum)

    hold.deferring = True  # type: ignore[attr-defined]

    old = {sig: signal.signal(sig, hold) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if pending:
        signal.raise_signal(pending[0])
