"""The ``emilua`` command: run a program as the main VM of a new engine.

Start-up order matters: the sandbox supervisor must be forked before the
user's program is imported and before any thread exists, so nothing here
imports user code or starts a thread before ``_start_supervisor()``.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import traceback

USAGE = """\
usage: emilua [options] PROGRAM.py [--] [ARGS...]

Run PROGRAM.py as the main actor of an emilua engine: its code runs in the
main fiber, with _CONTEXT == 'main'.

options:
  -h, --help         show this help and exit
  --version          print the version and exit
  --backend=NAME     io_uring (default) or epoll; also EMILUA_BACKEND
"""


def _parse(argv: list[str]) -> tuple[dict[str, str], str | None, list[str]]:
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            opts["help"] = "1"
        elif a == "--version":
            opts["version"] = "1"
        elif a.startswith("--backend="):
            opts["backend"] = a.split("=", 1)[1]
        elif a == "--backend" and i + 1 < len(argv):
            i += 1
            opts["backend"] = argv[i]
        elif a == "--":
            i += 1
            break
        elif a.startswith("-") and a != "-":
            raise SystemExit(f"emilua: unknown option {a!r}\n\n{USAGE}")
        else:
            break
        i += 1
    if i >= len(argv):
        return opts, None, []
    program = argv[i]
    rest = argv[i + 1 :]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return opts, program, rest


def _start_supervisor() -> None:
    """Fork the process-actor supervisor (before any thread or user code)."""
    try:
        from emilua._supervisor import start
    except ImportError:
        return
    start()


def _line_buffered_stdio() -> None:
    """Make print() flush at each newline, as the manual's print does.

    print() goes through Python's buffered sys.stdout while system.out writes
    to the fd at once; flushing per line keeps the two in order when stdout
    is a pipe or a file (Python buffers those by blocks).
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass


def _on_sigint(signum: int, frame: object) -> None:
    from emilua._core.proactor import current

    p = current()
    if p is None or p.current_fiber is None:
        raise KeyboardInterrupt  # in the hub: it ends the loop
    # Python runs the handler in whichever fiber is running. A
    # KeyboardInterrupt there would end that fiber only (a detached fiber's
    # error is printed and the program goes on), so end the VM instead, with
    # the status a shell gives to a program killed by SIGINT.
    p.exit_vm(128 + signum)


def _end_the_vm_on_sigint() -> None:
    # An inherited SIG_IGN (a background job of a non-interactive shell) or a
    # handler set by whoever embeds us stays as it is.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    opts, program, rest = _parse(argv)
    if "help" in opts:
        sys.stdout.write(USAGE)
        return 0
    if "version" in opts:
        from emilua import __version__

        sys.stdout.write(f"emilua {__version__}\n")
        return 0
    if program is None:
        sys.stderr.write(USAGE)
        return 2
    if not os.path.exists(program):
        sys.stderr.write(f"emilua: {program}: {os.strerror(2)}\n")
        return 2

    _start_supervisor()
    _line_buffered_stdio()
    _end_the_vm_on_sigint()

    import emilua
    from emilua import _context, system

    program = os.path.abspath(program)
    _context.entry_module = program
    system.arguments[:] = [sys.argv[0], program, *rest]
    sys.argv[:] = [program, *rest]
    sys.path.insert(0, os.path.dirname(program))

    def run_program() -> None:
        from emilua._actor import current_vm

        vm = current_vm()
        vm.module = program
        vm.namespace = runpy.run_path(
            program, init_globals={"_CONTEXT": "main"}, run_name="__main__"
        )

    try:
        try:
            emilua.run(run_program, backend=opts.get("backend"))
        finally:
            from emilua._actor import join_threads

            join_threads()
    except SystemExit as e:
        code = e.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        sys.stderr.write(f"{code}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        try:
            sys.stdout.flush()
        except Exception:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
