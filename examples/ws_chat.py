"""A WebSocket chat room with the browser page it serves itself.

usage: emilua examples/ws_chat.py [PORT] [HOST]
Open http://HOST:PORT/ in a few browser tabs: each line typed in one appears
in all of them. Any other WebSocket client can join at ws://HOST:PORT/chat.
One fiber per connection; a message is sent to the other members one after
another (a member whose socket is slow delays the sender only).
"""

from emilua import http, ip, spawn, system, websocket
from emilua.byte_span import byte_span

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>emilua chat</title>
<ul id="log"></ul>
<form id="f"><input id="line" autofocus autocomplete="off"><button>send</button></form>
<script>
const ws = new WebSocket(`ws://${location.host}/chat`);
const log = document.getElementById("log");
ws.onmessage = (e) => {
  const li = document.createElement("li");
  li.textContent = e.data;
  log.appendChild(li);
};
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault();
  const line = document.getElementById("line");
  ws.send(line.value);
  line.value = "";
};
</script>
"""

args = system.arguments[2:]
port = int(args[0]) if args else 8080
host = args[1] if len(args) > 1 else "127.0.0.1"

acceptor = ip.tcp.acceptor()
addr = ip.address(host)
acceptor.open(addr)
acceptor.set_option("reuse_address", True)
acceptor.bind(addr, port)
acceptor.listen()
print("Listening on " + ip.tostring(acceptor.local_address, acceptor.local_port), flush=True)

members = set()


def broadcast(text, sender=None):
    for ws in list(members):
        if ws is not sender:
            try:
                ws.write(text)
            except (OSError, EOFError):
                members.discard(ws)


def chat(ws, name):
    broadcast(f"* {name} joined")
    members.add(ws)
    buf = byte_span(4096)
    try:
        while True:
            line = b""
            while True:
                n, status = ws.read_some(buf)
                line += bytes(buf.slice(0, n))
                if status != "partial":
                    break
            if status == "text":
                broadcast(f"{name}: {line.decode()}", ws)
    except (EOFError, ConnectionError):
        pass
    finally:
        members.discard(ws)
        ws.close()
        broadcast(f"* {name} left")


def serve(sock):
    name = ip.tostring(sock.remote_address, sock.remote_port)
    s = http.socket(sock)
    req = http.request()
    res = http.response()
    try:
        while True:
            s.read_request(req)
            while s.read_state != "finished":
                s.read_some(req)
            if req.target == "/chat" and websocket.is_websocket_upgrade(req):
                return chat(websocket.websocket(s, req), name)
            if req.target == "/":
                res.status = 200
                res.headers = {"content-type": "text/html; charset=utf-8"}
                res.body = PAGE
            else:
                res.status = 404
                res.headers = {"content-type": "text/plain"}
                res.body = "not found"
            s.write_response(res)
    except (EOFError, ConnectionError, http.protocol_error):
        pass
    finally:
        s.close()


while True:
    sock = acceptor.accept()
    sock.set_option("tcp_no_delay", True)
    spawn(serve, sock).detach()
