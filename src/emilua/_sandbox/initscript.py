"""The init.script runner (manual: "Linux namespaces", "The init.script").

The init.script is Python source that prepares a sandboxed process after its
namespaces exist and before the actor starts. It runs in a fresh namespace
that holds exactly the names the manual gives the Lua script:

- ``C``: the functions and constants of "The C API exposed to init.script"
  (an ``emilua._core.initscript.CTable``); each function returns
  ``(result, errno)``.
- ``fdarg``: the file descriptor passed as ``init.fd``, or None.
- ``errexit``: True when the script starts. While it is true, a failing
  function of ``C`` (or helper) writes the failed call and errno to stderr and
  ends the process with status 1. The script turns it off with
  ``errexit = False`` (``global errexit`` inside a function).
- ``mode(user, group, other)``, ``send_with_fd(fd, data, fd_to_send)`` and
  ``receive_with_fd(fd, size)``: the manual's helpers.
"""

from __future__ import annotations

import builtins
import os
import sys
import traceback

from emilua._core.initscript import CTable, Helpers, mode

__all__ = ["make_namespace", "run_init_script"]


def make_namespace(fdarg: int | None) -> dict[str, object]:
    """Return a fresh global namespace for one init.script run."""
    namespace: dict[str, object] = {"__name__": "__init_script__", "__builtins__": builtins}
    helpers = Helpers(namespace)
    namespace.update(
        C=CTable(namespace),
        fdarg=fdarg,
        errexit=True,
        mode=mode,
        send_with_fd=helpers.send_with_fd,
        receive_with_fd=helpers.receive_with_fd,
    )
    return namespace


def run_init_script(source: str, fdarg: int | None, comm_fd: int) -> bool:
    """Run the init.script *source* in this (sandboxed) process.

    *fdarg* is the ``init.fd`` the script sees as ``fdarg``. *comm_fd* is the
    runtime's own socket to its parent; it is not shown to the script and is
    made close-on-exec first, so a script that ends in ``C.execve`` does not
    hand the runtime's channel to the new program.

    Returns True when the script ran to its end. A Python exception from the
    script (SyntaxError and SystemExit included: the actor must not start
    after a partial setup) is printed to stderr with its traceback and False
    is returned; the caller then ends the process with a failure status. A
    failing C call under ``errexit`` never returns here: the process ends
    inside the call.
    """
    os.set_inheritable(comm_fd, False)
    namespace = make_namespace(fdarg)
    try:
        code = compile(source, "<init.script>", "exec")
        exec(code, namespace)
    except BaseException as exc:  # the script's failure, whatever its kind, is reported
        _flush_stdout()
        print("emilua init.script: the script raised an exception", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
        _flush_stderr()
        return False
    finally:
        # Drop what the script left in its globals (and the cycle through
        # C/helpers back to the namespace) before the actor starts.
        namespace.clear()
    _flush_stdout()
    return True


def _flush_stdout() -> None:
    if sys.stdout is not None:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass


def _flush_stderr() -> None:
    if sys.stderr is not None:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
