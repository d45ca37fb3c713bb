# The manual's fiber and interruption examples, in Python: op_with_timeout
# ("Cancellable operations"), the sleepsort of "Recap" interrupted by
# SIGUSR1, the ping-sender and reader of "IO objects" sharing a write mutex,
# and the checksum writer of the same section. Each runs as the main fiber of
# a fresh engine, once per backend.
#
# The manual's system.signal set is not available here yet; SignalSet below
# stands in for it with Python's signal module (the handler notifies a
# condition variable, as the manual's "Asynchronous event notification"
# suggests). Delays are scaled down from seconds to milliseconds.
import os
import signal
import threading

from helpers import tcp_pair, wait_until_idle

from emilua import (
    ip,
    scope_cleanup_pop,
    scope_cleanup_push,
    spawn,
    stream,
    this_fiber,
    time,
)
from emilua.byte_span import byte_span
from emilua.condition_variable import condition_variable
from emilua.mutex import mutex


def op_with_timeout(op, timeout):
    f_op = spawn(op)

    def timer():
        time.sleep(timeout)
        f_op.interrupt()

    f_timer = spawn(timer)
    ret = f_op.join()
    f_timer.interrupt()
    return ret


def listening_acceptor():
    acceptor = ip.tcp.acceptor()
    acceptor.open("v4")
    acceptor.set_option("reuse_address", True)
    acceptor.bind(ip.address.loopback_v4(), 0)  # the manual tries 8080 first
    acceptor.listen()
    return acceptor


def test_op_with_timeout_gives_up_on_an_accept(capfd):
    acceptor = listening_acceptor()
    t0 = time.steady_clock.now()
    sock = op_with_timeout(acceptor.accept, 0.02)
    assert sock is None  # the interrupted fiber returns nothing
    assert time.steady_clock.now() - t0 >= 0.02
    wait_until_idle()
    acceptor.close()
    assert capfd.readouterr().err == ""  # interruption is never reported


def test_op_with_timeout_returns_the_result_in_time():
    acceptor = listening_acceptor()
    client = ip.tcp.socket()
    connector = spawn(client.connect, ip.address.loopback_v4(), acceptor.local_port)
    sock = op_with_timeout(acceptor.accept, 3600)  # the timer fiber is interrupted
    assert isinstance(sock, ip.tcp.socket)
    connector.join()
    for s in (sock, client, acceptor):
        s.close()
    wait_until_idle()  # the interrupted timer fiber (detached) unwinds


class SignalSet:
    """Stand-in for the manual's signal set until system.signal lands."""

    def __init__(self, signum):
        self.signum = signum
        self.pending = 0
        self.m = mutex()
        self.cv = condition_variable()
        self.old = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame):
        # Runs in the engine's thread; notify never suspends.
        self.pending += 1
        self.cv.notify_all()

    def wait(self):
        with self.m:
            while not self.pending:
                self.cv.wait(self.m)
            self.pending -= 1

    def close(self):
        signal.signal(self.signum, self.old)


def test_the_recap_sleepsort_stops_on_sigusr1():
    unit = 0.005  # the manual sleeps n seconds
    numbers = [8, 42, 38, 111, 2, 39, 1]
    printed = []
    senders = []

    def send_sigusr1():
        # Another process would do this; a thread of ours is close enough.
        os.kill(os.getpid(), signal.SIGUSR1)

    this_fiber.disable_interruption()

    def sleeper_body():
        children = []

        def interrupt_children():
            for f in children:
                f.interrupt()

        scope_cleanup_push(interrupt_children)
        for n in numbers:

            def child(n=n):
                time.sleep(n * unit)
                printed.append(n)
                if n == 8:
                    senders.append(threading.Thread(target=send_sigusr1))
                    senders[0].start()

            children.append(spawn(child))
        for f in children:
            f.join()

    sleeper = spawn(sleeper_body)

    def sigwaiter_body():
        sigusr1 = SignalSet(signal.SIGUSR1)
        scope_cleanup_push(sigusr1.close)
        sigusr1.wait()
        sleeper.interrupt()

    sigwaiter = spawn(sigwaiter_body)
    sleeper.join()
    sigwaiter.interrupt()
    this_fiber.restore_interruption()
    senders[0].join()
    sigwaiter.join()
    assert sleeper.interruption_caught
    # 1, 2 and 8 were printed before the signal; the next child (38) would
    # have needed 30 more units.
    assert printed == [1, 2, 8]


def test_the_sleepsort_without_a_signal_prints_everything_in_order():
    unit = 0.001
    numbers = [8, 42, 38, 111, 2, 39, 1]
    printed = []

    def sleeper_body():
        children = []
        scope_cleanup_push(lambda: [f.interrupt() for f in children])
        for n in numbers:
            children.append(spawn(lambda n=n: [time.sleep(n * unit), printed.append(n)]))
        for f in children:
            f.join()

    spawn(sleeper_body).join()
    assert printed == sorted(numbers)


class LineReader:
    """Peer side: collects newline-terminated messages until EOF."""

    def __init__(self, sock):
        self.sock = sock
        self.lines = []
        self.m = mutex()
        self.cv = condition_variable()
        self.fiber = spawn(self._run)

    def _run(self):
        pending = b""
        buf = byte_span(65536)
        while True:
            try:
                n = self.sock.read_some(buf)
            except EOFError:
                return self.lines
            pending += bytes(buf.slice(0, n))
            *done, pending = pending.split(b"\n")
            self.lines.extend(done)
            self.cv.notify_all()

    def wait_for(self, line, count):
        with self.m:
            while self.lines.count(line) < count:
                self.cv.wait(self.m)


def test_ping_sender_and_reader_share_a_write_mutex():
    # Manual, "IO objects". Messages are 64 KiB so that writes park halfway
    # and would interleave without the mutex.
    size = 65536
    ping = b"P" * (size - 1) + b"\n"
    stats = b"S" * (size - 1) + b"\n"
    pong = b"Q" * (size - 1) + b"\n"
    with tcp_pair() as (ws, peer):
        write_mutex = mutex()

        def periodic_sender(msg):
            while True:
                time.sleep(0.002)
                write_mutex.lock()
                scope_cleanup_push(write_mutex.unlock)
                try:
                    stream.write_all(ws, msg)
                except Exception:
                    return
                scope_cleanup_pop()

        f1 = spawn(periodic_sender, ping)
        f2 = spawn(periodic_sender, stats)

        received = []

        def on_ws_read(data):
            # The application answers every request, under the same mutex.
            for _ in range(data.count(b"?")):
                write_mutex.lock()
                scope_cleanup_push(write_mutex.unlock)
                stream.write_all(ws, pong)
                scope_cleanup_pop()
            received.append(data)

        def peer_side():
            reader = LineReader(peer)
            reader.wait_for(ping[:-1], 3)
            for _ in range(4):
                peer.write_some(b"?")
            peer.shutdown("send")  # the reader sees the end of the stream
            return reader.fiber.join()

        pf = spawn(peer_side)
        buffer = byte_span(1024)
        while True:
            try:
                nread = ws.read_some(buffer)
                on_ws_read(bytes(buffer.slice(0, nread)))
            except Exception:
                break
        f1.interrupt()
        f2.interrupt()
        this_fiber.disable_interruption()
        f1.join()
        f2.join()
        this_fiber.restore_interruption()
        assert f1.interruption_caught and f2.interruption_caught
        write_mutex.lock()  # the cleanup handlers released it
        write_mutex.unlock()
        ws.shutdown("send")
        lines = pf.join()
    assert b"".join(received) == b"????"
    # Every message arrived whole: no write of one fiber slipped into
    # another's.
    assert lines.count(pong[:-1]) == 4
    assert all(line in (ping[:-1], stats[:-1], pong[:-1]) for line in lines)


def test_an_interrupted_writer_reports_exactly_what_it_sent():
    # Manual, "IO objects": the cleanup handler writes a shutdown message
    # carrying the checksum of everything broadcast; an interruption never
    # leaves a broadcast half-sent, so the peer's count matches.
    with tcp_pair() as (sock, peer):
        broadcast_msg = b"broadcast\n"
        checksum = [0]

        def broadcaster():
            scope_cleanup_push(lambda: stream.write_all(sock, b"shutdown %d\n" % checksum[0]))
            while True:
                time.sleep(0.001)
                assert sock.write_some(broadcast_msg) == len(broadcast_msg)
                checksum[0] += 1

        f = spawn(broadcaster)
        reader = LineReader(peer)
        reader.wait_for(b"broadcast", 5)
        f.interrupt()
        f.join()
        assert f.interruption_caught
        sock.shutdown("send")
        lines = reader.fiber.join()
    assert lines[-1] == b"shutdown %d" % lines.count(b"broadcast")
    assert lines.count(b"broadcast") == checksum[0] >= 5
