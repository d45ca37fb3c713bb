"""Report whether this VM holds the master role, and whether a guarded call passes."""

import os

from emilua import inbox, system
from emilua._actor import is_master

reply_to = inbox.receive()
try:
    system.kill(os.getpid(), 0)  # signal 0: only the checks, nothing is sent
    refused = False
except PermissionError:
    refused = True
reply_to.send((is_master(), refused))
