"""Report what this actor's entry module sees."""

from actors import _probe
from emilua import inbox

# A fresh namespace per actor: every spawn of this module starts from zero.
runs = globals().get("runs", 0) + 1

reply_to = inbox.receive()
reply_to.send(
    {
        "context": _CONTEXT,  # noqa: F821 - set by spawn_vm
        "name": __name__,
        "runs": runs,
        "submodule_sees_context": _probe.SEES_CONTEXT,
    }
)
