"""Named points in the stages where a fault-injection test stops the pipeline, as a crash would.

The stages call `failpoint(name)` at the moments worth crashing at (a table written but its ledger
entry not yet, one file archived of several, ...). Nothing happens unless a test installed a hook
(`install_hook`): the tests' hooks raise there, or SIGKILL the process (tests/glue_scripts/test_faults.py
and fault_driver.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

FailpointHook = Callable[[str], None]

_hook: FailpointHook | None = None


def failpoint(name: str) -> None:
    if _hook is not None:
        _hook(name)


@contextmanager
def install_hook(hook: FailpointHook) -> Iterator[None]:
    """Call `hook(name)` at every failpoint reached while the context is open."""
    global _hook
    previous, _hook = _hook, hook
    try:
        yield
    finally:
        _hook = previous
