"""Interrupts its own receive(), then receives normally.

The first message is the address to answer to. The guest starts a fiber in
inbox.receive(), lets it park (its read is then in flight), interrupts it,
says ``"interrupted"`` and echoes the next two messages.
"""

from emilua import inbox, spawn, this_fiber

reply = inbox.receive()
fib = spawn(inbox.receive)
for _ in range(10):
    this_fiber.yield_()
fib.interrupt()
fib.join()
reply.send("interrupted" if fib.interruption_caught else "not interrupted")
reply.send(inbox.receive())
reply.send(inbox.receive())
