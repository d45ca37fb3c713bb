"""A TCP port scanner: many connects at once, each with a deadline.

usage: emilua examples/port_scanner.py HOST FIRST_PORT LAST_PORT [TIMEOUT] [PARALLEL]
Prints the open ports in order, then a summary line. A port whose connect
is refused is closed; one that neither accepts nor refuses within TIMEOUT
seconds (default 1) is filtered. At most PARALLEL (default 100) connects
are in flight at once.
"""

import emilua
from emilua import ip, spawn, stream, system

args = system.arguments[2:]
if len(args) < 3:
    stream.write_all(system.err, __doc__.split("\n\n")[1].split("\n")[0] + "\n")
    system.exit(2)
host = ip.address(args[0])
first, last = int(args[1]), int(args[2])
deadline = float(args[3]) if len(args) > 3 else 1.0
parallel = int(args[4]) if len(args) > 4 else 100

results = {}
ports = iter(range(first, last + 1))


def probe(port):
    sock = ip.tcp.socket()
    try:
        with emilua.timeout(deadline):
            sock.connect(host, port)
        results[port] = "open"
    except TimeoutError:
        results[port] = "filtered"
    except ConnectionRefusedError:
        results[port] = "closed"
    except OSError as e:
        results[port] = f"error: {e.strerror}"
    finally:
        if sock.is_open:
            sock.close()


def worker():
    for port in ports:  # the workers share one iterator: each port once
        probe(port)


workers = [spawn(worker) for _ in range(min(parallel, last - first + 1))]
for w in workers:
    w.join()

for port in sorted(results):
    if results[port] == "open":
        print(f"{port}/tcp open")
counts = {}
for state in results.values():
    counts[state] = counts.get(state, 0) + 1
print(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
