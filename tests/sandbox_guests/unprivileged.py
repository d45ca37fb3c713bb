"""A main program (not a guest) run by test_sandbox.py without CAP_SYS_ADMIN.

Prints its effective capabilities, what spawn_vm raises for a network
namespace without a user namespace, and then runs the manual's "Full
example" (examples/sandbox_demo.py), which pairs new_user with the others.
"""

import errno
import os
import runpy

from emilua import spawn_vm

with open("/proc/self/status") as f:
    print(next(line for line in f if line.startswith("CapEff:")).replace(":\t", " ").strip())
try:
    spawn_vm(__file__, linux_namespaces={"new_net": True})
except OSError as e:
    print("without new_user:", type(e).__name__, errno.errorcode[e.errno])
    print("message:", e)
else:
    print("without new_user: no error")
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
runpy.run_path(os.path.join(root, "examples", "sandbox_demo.py"), run_name="__main__")
