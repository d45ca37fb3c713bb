"""Answers questions about the process it runs in.

The first message is the address to answer to. Every later message is a
question: a str, or a dict ``{"q": name, ...arguments}``. Each answer is sent
to that address as ``{"q": name, "a": answer}`` (or a dict of its own for
questions whose answer has many parts). When no sender is left, the probe
says ``{"q": "no senders"}`` and ends.
"""

import errno
import fcntl
import os
import signal
import socket
import struct
import sys

from emilua import NoSendersError, inbox


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    return ""


def fd_kind(fd):
    try:
        link = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None  # the fd listdir() itself used
    for prefix in ("socket:", "pipe:"):
        if link.startswith(prefix):
            return prefix[:-1]
    return link[:64]


def fds():
    kinds = {fd: fd_kind(fd) for fd in sorted(os.listdir("/proc/self/fd"), key=int)}
    return {fd: kind for fd, kind in kinds.items() if kind is not None}


def try_import(name):
    try:
        __import__(name)
    except ImportError as e:
        return f"{type(e).__name__}: {e}"
    return "ok"


def exe_write():
    try:
        fd = os.open("/proc/self/exe", os.O_WRONLY)
    except OSError as e:
        return errno.errorcode[e.errno]
    os.close(fd)
    return "opened"


def read_stdin():
    try:
        return "data:" + os.read(0, 200).decode()
    except OSError as e:
        return errno.errorcode[e.errno]


def write_std(fd, data):
    try:
        return os.write(fd, data.encode())
    except OSError as e:
        return errno.errorcode[e.errno]


def std_ids():
    out = {}
    for fd in (0, 1, 2):
        st = os.fstat(fd)
        out[str(fd)] = f"{st.st_dev}:{st.st_ino}"
    return out


def write_fd(fd, data):
    os.write(fd._fileno(), data.encode())
    fd.close()
    return "written"


def orphan(fd):
    """Leave a grandchild holding *fd*, reparented to PID 1, asleep."""
    child = os.fork()
    if child == 0:
        try:
            if os.fork() == 0:
                os.closerange(3, fd._fileno())
                os.closerange(fd._fileno() + 1, 1 << 16)
                while True:
                    signal.pause()
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    fd.close()
    return "orphaned"


def lo_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        res = fcntl.ioctl(s, 0x8913, struct.pack("16sh22x", b"lo", 0))  # SIOCGIFFLAGS
    return bool(struct.unpack("16sh22x", res)[1] & 1)  # IFF_UP


def answer(msg):
    q = msg if isinstance(msg, str) else msg["q"]
    simple = {
        "pid": os.getpid,
        "ppid": os.getppid,
        "uid": os.getuid,
        "nspid": lambda: status("NSpid"),
        "hostname": socket.gethostname,
        "root": lambda: " ".join(sorted(os.listdir("/"))),
        "proc_pids": lambda: " ".join(
            sorted((e for e in os.listdir("/proc") if e.isdigit()), key=int)
        ),
        "interfaces": lambda: " ".join(name for _, name in socket.if_nameindex()),
        "exe_write": exe_write,
        "stdin": read_stdin,
        "uid_map": lambda: open("/proc/self/uid_map").read().strip(),
        "lo_up": lo_up,
    }
    if q in simple:
        return {"q": q, "a": simple[q]()}
    if q == "status":
        return {"q": q, "a": status(msg["field"])}
    if q == "exists":
        return {"q": q, "a": os.path.exists(msg["path"])}
    if q == "address":
        return {"q": q, "a": inbox}
    if q == "import":
        return {"q": q, "a": try_import(msg["name"])}
    if q == "write_std":
        return {"q": q, "a": write_std(int(msg["fd"]), msg["data"])}
    if q == "write":
        return {"q": q, "a": write_fd(msg["fd"], msg["data"])}
    if q == "send":
        msg["to"].send(msg["data"])
        return {"q": q, "a": "sent"}
    if q == "orphan":
        return {"q": q, "a": orphan(msg["fd"])}
    if q == "exit":
        sys.exit(int(msg["status"]))
    if q == "fds":
        return fds()
    if q == "env":
        return dict(os.environ) or {"q": "env", "a": "empty"}
    if q == "std_ids":
        return std_ids()
    if q == "ns":
        return {
            n: os.readlink(f"/proc/self/ns/{n}")
            for n in ("uts", "ipc", "pid", "user", "net", "mnt")
        }
    return {"q": q, "a": "unknown question"}


reply = inbox.receive()
while True:
    try:
        msg = inbox.receive()
    except NoSendersError:
        reply.send({"q": "no senders"})
        break
    reply.send(answer(msg))
