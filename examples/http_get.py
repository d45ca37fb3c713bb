"""Fetch a page over HTTP/1.1 and print its status, headers and body.

usage: emilua examples/http_get.py URL
(http:// URLs; the host is resolved with ip.tcp.get_address_info and tried
address by address with ip.connect).
"""

import sys
from urllib.parse import urlsplit

from emilua import http, ip, system

args = system.arguments[2:]
if not args:
    print("usage: emilua examples/http_get.py URL", file=sys.stderr)
    system.exit(2)
url = urlsplit(args[0])
if url.scheme != "http" or not url.hostname:
    print("only http:// URLs", file=sys.stderr)
    system.exit(2)

sock = ip.tcp.socket()
ip.connect(sock, ip.tcp.get_address_info(url.hostname, str(url.port or 80)))
s = http.socket(sock)

req = http.request("GET", url.path or "/")
if url.query:
    req.target += "?" + url.query
req.headers["host"] = url.netloc
req.headers["connection"] = "close"
s.write_request(req)

res = http.response()
s.read_response(res)
while s.read_state != "empty":
    s.read_some(res)
s.close()

print(res.status, res.reason)
for name, value in res.headers.fields():
    print(f"{name}: {value}")
print()
sys.stdout.buffer.write(res.body)
sys.stdout.flush()
