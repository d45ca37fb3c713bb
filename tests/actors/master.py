"""Report whether this VM holds the master role."""

from emilua import inbox
from emilua._actor import is_master, require_master

reply_to = inbox.receive()
try:
    require_master("chdir")
    refused = False
except PermissionError:
    refused = True
reply_to.send((is_master(), refused))
