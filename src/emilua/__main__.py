"""The ``emilua`` command: run a program as the main VM of a new engine.

Start-up order matters: the sandbox supervisor must be forked before the
user's program is imported and before any thread exists, so nothing here
imports user code or starts a thread before ``_start_supervisor()``.
"""

from __future__ import annotations

import gc
import logging
import os
import runpy
import signal
import sys

from emilua._traceback import print_exception

_log = logging.getLogger("emilua")

USAGE = """\
usage: emilua [options] PROGRAM.py|DIR|- [--] [ARGS...]
"""

HELP = (
    USAGE
    + """
Run PROGRAM.py as the main actor of an emilua engine: its code runs in the
main fiber, with _CONTEXT == 'main'. A directory (or zip file) runs its
__main__.py, as with python; '-' reads the program from standard input.

options:
  -h, --help         show this help and exit
  --version          print the version, the backends this kernel offers, and exit
  --backend=NAME     io_uring or epoll (also EMILUA_BACKEND). Without it the
                     engine uses io_uring and falls back to epoll where the
                     kernel refuses io_uring; naming io_uring makes that an error
  -v, --verbose      log the engine's decisions (backend, fallbacks) to stderr

environment:
  EMILUA_BACKEND     the default backend
  EMILUA_DEBUG=1     show the engine's own frames in tracebacks
  EMILUA_SLOW_FIBER_MS=N  warn when a fiber runs N ms without suspending
  EMILUA_DUMP_ON_SIGUSR2=1  print every fiber's stack on SIGUSR2
"""
)

BACKENDS = ("io_uring", "epoll")


class UsageError(Exception):
    """A bad command line: one line on stderr, the usage, exit status 2."""


def _parse(argv: list[str]) -> tuple[dict[str, str], str | None, list[str]]:
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            opts["help"] = "1"
        elif a == "--version":
            opts["version"] = "1"
        elif a in ("-v", "--verbose"):
            opts["verbose"] = "1"
        elif a.startswith("--backend="):
            opts["backend"] = a.split("=", 1)[1]
        elif a == "--backend":
            if i + 1 >= len(argv):
                raise UsageError("option --backend needs a value (io_uring or epoll)")
            i += 1
            opts["backend"] = argv[i]
        elif a == "--":
            i += 1
            break
        elif a.startswith("-") and a != "-":
            raise UsageError(f"unknown option {a!r}")
        else:
            break
        i += 1
    if "backend" in opts and opts["backend"] not in BACKENDS:
        raise UsageError(f"unknown backend {opts['backend']!r} (choose io_uring or epoll)")
    if i >= len(argv):
        return opts, None, []
    program = argv[i]
    rest = argv[i + 1 :]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return opts, program, rest


def _kernel() -> str:
    u = os.uname()
    return f"{u.sysname} {u.release} {u.machine}"


def _probe_backend(name: str) -> str:
    """The backend an engine asking for *name* gets on this kernel."""
    from emilua._core.proactor import Proactor

    return str(Proactor(name).backend)


def _version() -> str:
    from emilua import __version__

    uring = "available" if _probe_backend("io_uring") == "io_uring" else "refused by the kernel"
    return (
        f"emilua {__version__}\n"
        f"Python {sys.version.split()[0]} ({sys.implementation.name})\n"
        f"kernel: {_kernel()}\n"
        f"backends: io_uring ({uring}), epoll (available)\n"
    )


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


def _dump_on_signal(signum: int, frame: object) -> None:
    from emilua._diagnostics import dump_fibers

    try:
        dump_fibers()
    except RuntimeError:  # the engine has not started or has ended
        pass


def _end_the_vm_on_sigint() -> None:
    # An inherited SIG_IGN (a background job of a non-interactive shell) or a
    # handler set by whoever embeds us stays as it is.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def _usage_error(msg: str) -> int:
    sys.stderr.write(f"emilua: {msg}\n{USAGE}")
    return 2


def _check_program(program: str) -> str | None:
    """Why *program* cannot run (a message for stderr), or None."""
    if program == "-":
        return None
    if not os.path.exists(program):
        return f"can't open file {program!r}: [Errno 2] {os.strerror(2)}"
    if os.path.isdir(program) and not os.path.exists(os.path.join(program, "__main__.py")):
        return f"can't find '__main__.py' in {program!r}"
    return None


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    try:
        opts, program, rest = _parse(argv)
        env_backend = os.environ.get("EMILUA_BACKEND") or None
        if env_backend is not None and env_backend not in BACKENDS:
            raise UsageError(
                f"unknown backend {env_backend!r} in EMILUA_BACKEND (choose io_uring or epoll)"
            )
    except UsageError as e:
        return _usage_error(str(e))
    if "help" in opts:
        sys.stdout.write(HELP)
        return 0
    if "version" in opts:
        sys.stdout.write(_version())
        return 0
    if program is None:
        return _usage_error("no program given")
    why = _check_program(program)
    if why is not None:
        sys.stderr.write(f"emilua: {why}\n")
        return 2 if not os.path.exists(program) else 1
    backend = opts.get("backend") or env_backend
    if "verbose" in opts:
        _log.setLevel(logging.INFO)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("emilua: %(message)s"))
        _log.addHandler(handler)
    if backend == "io_uring" and _probe_backend("io_uring") != "io_uring":
        # Asked for by name: falling back silently would measure the wrong engine.
        sys.stderr.write(
            "emilua: the io_uring backend is unavailable: the kernel refused "
            "io_uring_setup(2) (disabled by sysctl or seccomp?); "
            "use --backend=epoll\n"
        )
        return 1

    _start_supervisor()
    _line_buffered_stdio()
    _end_the_vm_on_sigint()
    if os.environ.get("EMILUA_DUMP_ON_SIGUSR2", "") not in ("", "0"):
        signal.signal(signal.SIGUSR2, _dump_on_signal)

    import emilua
    from emilua import _context, system

    source: str | None = None
    if program == "-":
        source = sys.stdin.read()
        path = "<stdin>"
        sys.path.insert(0, "")
        argv0 = "-"
    else:
        path = os.path.abspath(program)
        sys.path.insert(0, path if os.path.isdir(path) else os.path.dirname(path))
        argv0 = path
    _context.entry_module = path
    system.arguments[:] = [sys.argv[0], argv0, *rest]
    sys.argv[:] = [argv0, *rest]

    def run_program() -> None:
        from emilua._actor import current_vm
        from emilua._core.proactor import current

        engine = current()
        if engine is not None:
            if backend is None and engine.backend != "io_uring":
                _log.info("io_uring refused by the kernel: falling back to epoll")
            _log.info("running %s on the %s backend", path, engine.backend)
        vm = current_vm()
        vm.module = path
        if source is None:
            vm.namespace = runpy.run_path(
                path, init_globals={"_CONTEXT": "main"}, run_name="__main__"
            )
        else:
            vm.namespace = _run_source(source, path)

    status = 0
    try:
        emilua.run(run_program, backend=backend)
    except SystemExit as e:
        code = e.code
        if isinstance(code, int):
            status = code
        elif code is not None:
            sys.stderr.write(f"{code}\n")
            status = 1
    except KeyboardInterrupt:
        status = 130
    except BaseException as e:
        # Said now, not after the other actors end: they may wait for a
        # message from the program that just failed.
        print_exception(e)
        if isinstance(e, BrokenPipeError):
            _silence_stdout()
        status = 1
        _release_traceback(e)
        del e
    # The program's globals may hold channels to thread and process actors;
    # once they are gone those actors see NoSendersError and can end.
    gc.collect()
    from emilua._actor import join_threads

    join_threads()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except Exception:
        pass
    return status


def _release_traceback(exc: BaseException) -> None:
    """Drop the frames (and so the globals) an exception's traceback holds."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        tb = e.__traceback__
        while tb is not None:
            try:
                tb.tb_frame.clear()
            except RuntimeError:  # a frame still running
                pass
            tb = tb.tb_next
        e.__traceback__ = None
        todo += [e.__cause__, e.__context__]


def _run_source(source: str, path: str) -> dict[str, object]:
    """Run program text read from stdin as ``__main__``, as ``python -`` does."""
    import types

    code = compile(source, path, "exec")
    module = types.ModuleType("__main__")
    namespace = module.__dict__
    namespace.update(_CONTEXT="main", __file__=path, __builtins__=__builtins__)
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    try:
        exec(code, namespace)
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved
    return namespace


def _silence_stdout() -> None:
    """After EPIPE on stdout, send what is still buffered nowhere (as Python's
    documentation advises) so that the exit flush raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
