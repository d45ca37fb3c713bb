"""Copy a file without blocking the engine: reads and writes park the
copying fiber only, so other fibers keep running (here, a progress ticker).

usage: emilua examples/file_copy.py SOURCE DESTINATION
"""

from emilua import file, spawn, stream, system, time
from emilua.byte_span import byte_span

args = system.arguments[2:]
if len(args) != 2:
    stream.write_all(system.err, "usage: emilua examples/file_copy.py SOURCE DESTINATION\n")
    system.exit(2)
source, destination = args

src = file.stream()
src.open(source, file.open_flag.read_only)
dst = file.stream()
dst.open(
    destination,
    file.open_flag.write_only | file.open_flag.create | file.open_flag.truncate,
)

copied = 0


def ticker():
    while True:
        time.sleep(0.5)
        stream.write_all(system.err, f"{copied} bytes copied\n")


progress = spawn(ticker)
buf = byte_span(256 * 1024)
try:
    while True:
        try:
            n = src.read_some(buf)
        except EOFError:
            break
        stream.write_all(dst, buf[:n])
        copied += n
finally:
    progress.interrupt()
    src.close()
    dst.close()
print(f"copied {copied} bytes from {source} to {destination}")
