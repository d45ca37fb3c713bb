"""Hello World, twice: with print() and with the streams API."""

from emilua import spawn, stream, system, time

print("Hello World")


def world():
    # Timers are not for synchronising fibers; this only shows post semantics.
    time.sleep(0.1)
    stream.write_all(system.out, "World\n")


spawn(world).detach()
stream.write_all(system.out, "Hello ")
