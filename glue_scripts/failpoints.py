"""Named points where a fault-injection test can kill the process, as a crash or an OOM kill would.

`LAKEHOUSE_FAILPOINT=<name>` makes the process group receive SIGKILL when the pipeline reaches that
point; `<name>+<seconds>` arms a timer instead, so the kill lands while the next operation runs
(e.g. in the middle of a Delta write). SIGKILL leaves no chance to clean up: no `finally`, no
shutdown hook, the Spark JVM (same process group) dies with the Python driver. Unset, which is
always the case outside the tests (`tests/glue_scripts/test_faults.py`), a failpoint costs one
environment lookup.
"""

from __future__ import annotations

import os
import signal
import threading

FAILPOINT_ENV = "LAKEHOUSE_FAILPOINT"


def failpoint(name: str) -> None:
    armed = os.environ.get(FAILPOINT_ENV)
    if not armed:
        return
    point, _, delay = armed.partition("+")
    if point != name:
        return
    if delay:
        threading.Timer(float(delay), _kill).start()
    else:
        _kill()


def _kill() -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)
