"""Ctrl-C and SIGTERM end a command the same way: one line, a shell-style exit code.

SIGTERM is what ``timeout``, systemd and cluster schedulers send. Python's default
ends the process on the spot, skipping ``finally`` blocks, so worker processes are left
behind and temporary files stay. ``stop_signals`` turns it into ``Terminated`` (a
KeyboardInterrupt), so both signals unwind through the same clean-up code.
"""
from __future__ import annotations

import signal
import sys
from contextlib import contextmanager
from typing import Iterator

INTERRUPTED = 128 + signal.SIGINT   # 130, as the shell reports a Ctrl-C
TERMINATED = 128 + signal.SIGTERM   # 143


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


class StopSignals:
    """Which stop signal arrived, if any; ``exit_code`` is the matching shell code."""

    def __init__(self) -> None:
        self.received: int | None = None

    @property
    def fired(self) -> bool:
        return self.received is not None

    @property
    def exit_code(self) -> int:
        return TERMINATED if self.received == signal.SIGTERM else INTERRUPTED

    def raise_if_fired(self) -> None:
        """KeyboardInterrupt if a stop signal was recorded: the handler's own exception can be lost
        (raised inside a finalizer, or swallowed by TensorFlow's native code), the record is not."""
        if self.fired:
            raise KeyboardInterrupt

    def __call__(self, signum: int, frame: object) -> None:
        self.received = signum
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


@contextmanager
def stop_signals() -> Iterator[StopSignals]:
    """Within the block, SIGINT raises KeyboardInterrupt and SIGTERM raises Terminated.

    A signal that arrives while Python runs a finalizer (a ``__del__`` or weakref callback)
    raises there, where Python ignores the exception and prints it as a traceback. Within
    the block such an ignored interrupt is not printed: the handler has recorded it
    (``fired``), and the commands check that at their next step.
    """
    handler = StopSignals()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous_hook = sys.unraisablehook

    def quiet_interrupts(unraisable) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous_hook(unraisable)

    sys.unraisablehook = quiet_interrupts
    try:
        yield handler
    finally:
        sys.unraisablehook = previous_hook
        for sig, old in previous.items():
            signal.signal(sig, old)


def ignore_in_worker() -> None:
    """Worker processes leave Ctrl-C to the main process and die at once on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
