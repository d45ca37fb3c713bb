"""The manual's "Full example" (Linux namespaces), in Python.

A guest actor runs in six new namespaces with an empty "/" (only /proc and
/tmp), its own hostname, PID 2, only a loopback interface and no
capabilities. The host writes the guest's program into the sandbox through
an fd, sends the guest its own address, and prints what the guest answers:
the sandbox's host name.

    emilua examples/sandbox_demo.py
"""

import os

from emilua import inbox, sandbox, spawn_vm

GUEST_CODE = """
import os
from emilua import inbox, ip

def fds():
    # What this process holds, but the directory listing's own fd.
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass
    return " ".join(f"{fd}={t}" for fd, t in sorted(out.items()) if not t.endswith("/fd"))

ch = inbox.receive()["dest"]
ch.send({
    "hostname": ip.host_name(),
    "pid": os.getpid(),
    "root": " ".join(sorted(os.listdir("/"))),
    "interfaces": " ".join(sorted(os.listdir("/proc/self/net/dev_snmp6")))
        if os.path.exists("/proc/self/net/dev_snmp6") else "",
    "capabilities": [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1],
    "fds": fds(),
})
"""

# Every fd the script opens is closed once sent or used: no execve(2) runs
# between the script and the guest, so the guest would inherit it.
INIT_SCRIPT = """
uidmap = C.open('/proc/self/uid_map', C.O_WRONLY)[0]
send_with_fd(fdarg, '.', uidmap)
setgroups = C.open('/proc/self/setgroups', C.O_WRONLY)[0]
C.write(setgroups, 'deny')
gidmap = C.open('/proc/self/gid_map', C.O_WRONLY)[0]
send_with_fd(fdarg, '.', gidmap)
for fd in (uidmap, setgroups, gidmap):
    C.close(fd)
# sync point #1: tmpfs refuses mkdir() (EOVERFLOW) until the maps exist
C.read(fdarg, 1)

userns = C.open('/proc/self/ns/user', C.O_RDONLY)[0]
send_with_fd(fdarg, '.', userns)
netns = C.open('/proc/self/ns/net', C.O_RDONLY)[0]
send_with_fd(fdarg, '.', netns)
C.close(userns)
C.close(netns)

# unshare propagation events
C.mount(None, '/', None, C.MS_PRIVATE | C.MS_REC)
C.umask(0)
C.mount(None, '/mnt', 'tmpfs', 0)
C.mkdir('/mnt/proc', mode(7, 5, 5))
C.mount(None, '/mnt/proc', 'proc', 0)
C.mkdir('/mnt/tmp', mode(7, 7, 7))
# pivot root: pivot_root(2)'s "new_root and put_old may be the same
# directory": the old root is stacked on the new one and detached there,
# so no directory is left behind for it
C.chdir('/mnt')
C.pivot_root('.', '.')
C.umount2('.', C.MNT_DETACH)
C.chdir('/')

modulefd = C.open('/app.py', C.O_WRONLY | C.O_CREAT, mode(6, 0, 0))[0]
send_with_fd(fdarg, '.', modulefd)
C.close(modulefd)
# sync point #2: wait for the loopback device and /app.py
C.read(fdarg, 1)
C.sethostname('mycoolhostname')
C.setdomainname('mycooldomainname')
# drop all root privileges
C.cap_set_proc('=')
"""

host, guest = sandbox.socket_pair()
my_channel = spawn_vm(
    "/app.py",
    linux_namespaces={
        "new_user": True,
        "new_net": True,
        "new_mount": True,
        "new_pid": True,
        "new_uts": True,
        "new_ipc": True,
        "stdout": "share",
        "stderr": "share",
        "init": {"script": INIT_SCRIPT, "fd": guest},
    },
)
guest.close()

_, uidmap = host.receive_with_fd()
sandbox.write_id_map(uidmap, 0, os.getresuid()[1])
_, gidmap = host.receive_with_fd()
sandbox.write_id_map(gidmap, 0, os.getresgid()[1])
host.send()  # sync point #1

_, userns = host.receive_with_fd()
_, netns = host.receive_with_fd()
sandbox.loopback_up(netns, userns)
userns.close()
netns.close()

_, module = host.receive_with_fd()
os.write(module._fileno(), GUEST_CODE.encode())
module.close()
host.close()  # sync point #2 (the guest's C.read returns at EOF)

my_channel.send({"dest": inbox})
answer = inbox.receive()
print(answer["hostname"])
if os.environ.get("EMILUA_DEMO_VERBOSE"):
    print(answer)
