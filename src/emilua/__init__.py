"""emilua: an execution engine for IO-heavy Python programs.

Blocking-looking code runs in fibers; a suspending call parks only the calling
fiber while the proactor (io_uring, or epoll) drives the kernel.
"""

from emilua import condition_variable, mutex
from emilua._actor import ChannelClosedError, NoSendersError, inbox
from emilua._core.proactor import DeadlockError, FiberInterrupted
from emilua._diagnostics import dump_fibers, stats
from emilua._engine import run, spawn_vm
from emilua._fiber import (
    scope,
    scope_cleanup_pop,
    scope_cleanup_push,
    spawn,
    this_fiber,
)
from emilua._offload import run_blocking as to_thread
from emilua._timeout import timeout

__version__ = "0.4.0"

__all__ = [
    "ChannelClosedError",
    "NoSendersError",
    "inbox",
    "spawn_vm",
    "DeadlockError",
    "dump_fibers",
    "stats",
    "FiberInterrupted",
    "__version__",
    "condition_variable",
    "mutex",
    "run",
    "scope",
    "scope_cleanup_pop",
    "scope_cleanup_push",
    "spawn",
    "this_fiber",
    "timeout",
    "to_thread",
]

# Manual: "Errors". Error categories; generic_error and asio_error are modules.
from emilua import asio_error, generic_error  # noqa: E402
from emilua._errors import (  # noqa: E402
    CategoryError,
    error_category,
    generic_category,
    system_category,
    togeneric,
)

__all__ += [
    "CategoryError",
    "asio_error",
    "error_category",
    "generic_category",
    "generic_error",
    "system_category",
    "togeneric",
]

# Manual: "RDF error categories": a category read from a Turtle (.ttl) file.
from emilua._errors_ttl import load_category  # noqa: E402

__all__ += ["load_category"]
