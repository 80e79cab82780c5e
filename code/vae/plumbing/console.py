"""The process around a command: signals that always stop it, and a log that never kills it.

Ctrl-C: Python raises KeyboardInterrupt wherever the main thread happens to be. If that is a
`__del__` method or a weakref callback (torch and matplotlib run many), Python prints
"Exception ignored ..." and the command runs on, to exit 0. So the handler here also records
the signal (and keeps Python from printing the swallowed exception), and the command checks the
record at safe points (every log line: after each epoch, after each report run) and once more
before it exits. SIGTERM and SIGHUP (the terminal closed) are handled the same way.

The log: `train ... | head -1` closes stdout after one line. A lost log line must not cost a
training run, so once stdout fails the log goes to /dev/null and the work carries on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def signals_recorded() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP are recorded and raise KeyboardInterrupt."""
    _received.clear()
    try:
        previous = {signum: signal.signal(signum, _on_signal) for signum in SIGNALS}
    except ValueError:          # not the main thread: signals cannot be handled here at all
        previous = {}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: (
        None if isinstance(unraisable.exc_value, KeyboardInterrupt) and _received else previous_hook(unraisable))
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def interrupted_by() -> int | None:
    """The first signal received in the last `signals_recorded` block, or None."""
    return _received[0] if _received else None


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if a signal arrived, even one whose exception was swallowed."""
    if _received:
        raise KeyboardInterrupt(signal.Signals(_received[0]).name)


def log(message: str) -> None:
    """print() that survives a closed or full stdout, and a safe point for interrupts."""
    check_interrupt()
    try:
        print(message, flush=True)
    except UnicodeEncodeError:      # a non-ASCII path on an ASCII terminal: escape, do not fail
        encoding = getattr(sys.stdout, "encoding", None) or "ascii"
        log(message.encode(encoding, "backslashreplace").decode(encoding))
    except (BrokenPipeError, OSError):
        _silence_stdout()
    check_interrupt()


def _silence_stdout() -> None:
    # Point file descriptor 1 at /dev/null: later prints and the flush at exit succeed silently.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    sys.stdout = open(os.devnull, "w", encoding="utf-8")
