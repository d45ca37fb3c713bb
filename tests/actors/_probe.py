"""An ordinary module imported by actors.

Python modules are shared by every VM of the process (sys.modules is
process-wide); only an actor's entry module gets a namespace of its own.
"""

# Manual: _CONTEXT "is not propagated to imported submodules within the actor".
SEES_CONTEXT = "_CONTEXT" in globals()

# Set by a test before it spawns no_inbox.py: where that actor connects to.
gate_port = 0
