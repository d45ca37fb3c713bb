# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Channels and mailboxes: the message path between actors of one process
(manual: "Communication", "Channels and resources").

emilua/_actor.py builds VMs and process mailboxes on top of it; it plugs in
what needs the Python layer through set_actor_hooks() and VmHooks.

A send is a rendezvous. The sender deep-copies the message (channels
travel as new addresses, IO objects are moved, see _actor.py) and hands it
straight to a receiver parked in receive(), or queues a SendOp and parks
until a receiver takes it, the inbox closes, or it is interrupted (which
withdraws the message). An op of a sender on another thread is "remote".

One lock, _send_lock, guards every piece of mailbox state that more than
one thread touches: a remote op's state (the sender's thread may withdraw
it while the mailbox's thread takes it), the set of remote sends posted
but not offered yet, ``closed`` as remote senders see it, and the count of
senders (tx-channels are created and dropped on any thread). Every other
op is only ever touched by the one thread that runs both sides.
"""

cimport cython

from .scheduler cimport Fiber, Scheduler, VmHooks, current
from libc.errno cimport EBUSY

import errno as _errno
import threading
from collections import deque

from .scheduler import FiberInterrupted


class ChannelClosedError(Exception):
    """The channel (or the inbox it addresses) is closed."""

    errno = _errno.EPIPE

    def __init__(self, msg="channel closed"):
        super().__init__(msg)


class NoSendersError(Exception):
    """inbox.receive() with no live sender anywhere: nothing can ever arrive."""

    def __init__(self, msg="no senders"):
        super().__init__(msg)


cdef enum:
    SEND_PENDING = 0
    SEND_TAKEN = 1
    SEND_WITHDRAWN = 2
    SEND_REJECTED = 3

cdef object _send_lock = threading.Lock()
cdef object _NOTHING = object()     # take_queued(): no message waits

# Set by emilua._actor (set_actor_hooks): the parts of a message's journey
# that are rare and need the Python layer.
cdef object _copy_other = None      # (value, path, moves) -> copy: IO objects, spans, subclasses
cdef object _detach_moves = None    # (moves) -> None: take the fds of moved IO objects
cdef object _restore_moves = None   # (moves) -> None: a send failed, give them back
cdef object _rebuild = None         # (value, proactor) -> message with IO objects rebuilt
cdef object _current_vm = None      # () -> the calling VM (creates the main VM)


def set_actor_hooks(copy_other, detach_moves, restore_moves, rebuild, current_vm):
    global _copy_other, _detach_moves, _restore_moves, _rebuild, _current_vm
    _copy_other = copy_other
    _detach_moves = detach_moves
    _restore_moves = restore_moves
    _rebuild = rebuild
    _current_vm = current_vm


@cython.final
cdef class Carrier:
    """A message carrying moved IO objects; other messages travel unwrapped."""
    cdef public object msg

    def __cinit__(self, msg):
        self.msg = msg


cdef inline bint _is_leaf(object v):
    """An immutable value that a copy may share: exact builtin scalar types."""
    t = type(v)
    return (v is None or t is int or t is str or t is float or t is bool
            or t is bytes)


cdef object _copy_value(object v, set path, list moves):
    """A deep copy of one message value (path: ids of the enclosing containers)."""
    if _is_leaf(v):
        return v
    t = type(v)
    if t is tuple or t is list or t is dict:
        return _copy_container(v, path, moves)
    if t is Channel:
        return (<Channel>v)._clone()
    if v is inbox:
        # Sending the rx-end sends an address: the receiver gets a tx-channel.
        return (<VmHooks>_current_vm()).address()
    if path is None:
        path = set()
    return _copy_other(v, path, moves)


cdef object _copy_container(object v, set path, list moves):
    t = type(v)
    # A container of leaves cannot close a cycle: copy it without bookkeeping.
    # A tuple of leaves is immutable all the way down and is shared.
    if t is dict:
        for k, x in (<dict>v).items():
            if not (_is_leaf(k) and _is_leaf(x)):
                break
        else:
            return (<dict>v).copy()
    else:
        for x in v:
            if not _is_leaf(x):
                break
        else:
            return v if t is tuple else list(<list>v)
    if path is None:
        path = set()
    key = id(v)
    if key in path:
        raise ValueError("a message cannot contain a reference cycle")
    path.add(key)
    try:
        if t is dict:
            return {_copy_value(k, path, moves): _copy_value(x, path, moves)
                    for k, x in (<dict>v).items()}
        items = [_copy_value(x, path, moves) for x in v]
        return tuple(items) if t is tuple else items
    finally:
        path.discard(key)


def copy_message(value, path, list moves):
    """A deep copy of *value* for a channel; moved IO objects go to *moves*.

    For the Python layer (container subclasses found by ``_copy_other``)."""
    return _copy_value(value, path, moves)


cdef inline object _materialize(object msg, Scheduler p):
    """Receiver side: the message, its moved IO objects rebuilt on p."""
    if type(msg) is Carrier:
        return _rebuild((<Carrier>msg).msg, p)
    return msg


def materialize(msg, Scheduler p):
    return _materialize(msg, p)


@cython.final
cdef class SendOp:
    """A message waiting for a receiver, and its sender.

    ``parked`` is true only while the sender is parked for this send; it is
    read and written on the sender's thread only. A message can be taken
    before its sender parks (a receiver was already waiting), and a fiber
    that is not parked must not be made ready: it would resume from whatever
    it parks on next.
    """
    cdef public object msg
    cdef public list moves
    cdef public int state
    cdef public Fiber fiber
    cdef public Scheduler proactor
    cdef public MailboxBase target
    cdef public bint remote
    cdef public bint parked

    cdef bint claim(self, int state) except -1:
        """PENDING -> state. False when the op was settled or withdrawn already."""
        if self.remote:
            with _send_lock:
                if self.state != SEND_PENDING:
                    return False
                self.state = state
            return True
        if self.state != SEND_PENDING:
            return False
        self.state = state
        return True

    def cancel(self, Fiber fiber not None):
        # Waiter protocol of Scheduler.withdraw(): the interrupted sender
        # withdraws its message unless a receiver took it already.
        if not self.claim(SEND_WITHDRAWN):
            return False
        if self.remote:
            self.proactor.keepalive -= 1
        return True

    def settle(self, int state):
        """On the mailbox's thread: the message is taken or rejected."""
        if self.claim(state):
            self.notify()

    cdef int notify(self) except -1:
        """The message was taken or rejected: resume the sender."""
        if self.remote:
            self.proactor.post(self._wake_remote)
        elif self.parked:
            self.proactor.resume(self.fiber, self)
        return 0

    def _wake_remote(self):
        # On the sender's thread.
        self.proactor.keepalive -= 1
        if self.parked:
            self.proactor.resume(self.fiber, self)

    def _offer(self):
        # Posted to the mailbox's thread by a remote sender.
        self.target.offer(self)

    def __repr__(self):
        return "channel send"


@cython.final
cdef class ReceiveOp:
    """A fiber parked in inbox.receive(), and what it is handed."""
    cdef public MailboxBase box
    cdef public object value
    cdef public object error
    cdef public Fiber fiber

    def __cinit__(self, MailboxBase box, Fiber fiber):
        self.box = box
        self.fiber = fiber

    def cancel(self, Fiber fiber not None):
        if self.box.receiver is self:
            self.box.receiver = None
            return True
        return False

    def __repr__(self):
        return "inbox.receive() of %r" % (self.box.vm,)


cdef class MailboxBase:
    """The receiving side of a VM's inbox; lives on the VM's proactor thread.

    ``plain`` is cleared by mailboxes that read sockets too (process
    mailboxes, emilua/_process_actor.py), whose receive() is their own.
    """
    cdef public Scheduler p
    cdef public VmHooks vm
    cdef public bint closed
    cdef public object queue          # deque of SendOp
    cdef public ReceiveOp receiver
    cdef public Py_ssize_t nsenders
    cdef public bint kept_alive
    cdef public set incoming          # remote sends posted, not offered yet
    cdef public bint plain

    def __cinit__(self, *args, **kwargs):
        self.queue = deque()
        self.incoming = set()
        self.plain = True

    def __init__(self, Scheduler p, VmHooks vm):
        self.p = p
        self.vm = vm

    # Sender accounting: tx-channels are created and dropped on any thread.
    # The count changes under _send_lock; what follows from it (keeping the
    # engine alive, waking a receiver with NoSendersError) runs on the
    # mailbox's thread.

    cpdef add_sender(self):
        cdef bint first
        with _send_lock:
            self.nsenders += 1
            first = self.nsenders == 1
        if first:
            self._on_box_thread(self._senders_appeared)

    cpdef drop_sender(self):
        cdef bint last
        with _send_lock:
            self.nsenders -= 1
            last = self.nsenders == 0
        if last:
            self._on_box_thread(self._senders_gone)

    def _on_box_thread(self, fn):
        if current() is self.p:
            fn()
        else:
            try:
                self.p.post(fn)
            except Exception:
                pass

    def _senders_appeared(self):
        if not self.closed and not self.kept_alive and self.nsenders > 0:
            # Tx-channels keep the target's execution context alive (manual,
            # "Channels and resources").
            self.kept_alive = True
            self.p.keepalive += 1

    def _senders_gone(self):
        cdef ReceiveOp r
        if self.nsenders > 0:
            return
        self._release_keepalive()
        r = self.receiver
        if r is not None:
            self.receiver = None
            r.error = NoSendersError()
            self.p.resume(r.fiber, r)
        if self.vm is not None:
            self.vm.senders_gone()

    def _release_keepalive(self):
        if self.kept_alive:
            self.kept_alive = False
            self.p.keepalive -= 1

    def offer(self, SendOp op):
        """On the mailbox's thread: a sender's message arrives."""
        cdef ReceiveOp r
        if op.remote:
            with _send_lock:
                self.incoming.discard(op)
        if self.closed:
            op.settle(SEND_REJECTED)
            return
        r = self.receiver
        if r is not None:
            if not op.claim(SEND_TAKEN):
                return
            self.receiver = None
            r.value = op.msg
            # The sender's op must not keep the message (and the addresses
            # in it) alive once the receiver owns it.
            op.msg = None
            self.p.resume(r.fiber, r)
            op.notify()
            return
        self.queue.append(op)

    cdef object take_queued(self):
        """The first queued send's message (its sender released), or _NOTHING."""
        cdef SendOp op
        queue = self.queue
        while queue:
            op = <SendOp>queue.popleft()
            if not op.claim(SEND_TAKEN):
                continue
            msg = op.msg
            op.msg = None
            op.notify()
            return msg
        return _NOTHING

    def take(self):
        """(True, message) for the first queued send, or (False, None)."""
        msg = self.take_queued()
        if msg is _NOTHING:
            return False, None
        return True, msg

    cdef object receive_in(self, Scheduler p, Fiber f):
        cdef ReceiveOp r
        if f is None:
            raise RuntimeError("inbox.receive() outside of a fiber")
        if self.closed:
            raise ChannelClosedError()
        if self.receiver is not None:
            raise _oserror_msg(EBUSY, "another fiber is already receiving on this inbox")
        # An interruption point even when a message is waiting: a pending
        # interruption raises here and the message stays queued.
        p.check_park(f)
        msg = self.take_queued()
        if msg is not _NOTHING:
            return _materialize(msg, p)
        if self.nsenders == 0:
            raise NoSendersError()
        r = ReceiveOp.__new__(ReceiveOp, self, f)
        self.receiver = r
        try:
            p.park_cancellable(f, r)
        finally:
            if self.receiver is r:
                self.receiver = None
        if r.error is not None:
            err = r.error
            r.error = None
            raise err
        msg = r.value
        r.value = None
        return _materialize(msg, p)

    def receive(self):
        cdef Scheduler p = self.p
        if p is None:
            raise TypeError("this mailbox has no proactor")
        return self.receive_in(p, p.current)

    def close(self):
        cdef SendOp op
        cdef ReceiveOp r
        if self.closed:
            return
        with _send_lock:
            self.closed = True
            incoming = list(self.incoming)
            self.incoming.clear()
        self._release_keepalive()
        for op in incoming:
            op.settle(SEND_REJECTED)
        while self.queue:
            op = <SendOp>self.queue.popleft()
            op.settle(SEND_REJECTED)
        r = self.receiver
        if r is not None:
            self.receiver = None
            r.error = ChannelClosedError()
            self.p.resume(r.fiber, r)


cdef object _oserror_msg(int err, str msg):
    return OSError(err, msg)


cdef class Channel:
    """A tx-channel: the address of an actor (manual: "Communication").

    Copies of an address compare equal. While it exists it keeps the target
    VM's execution context alive; ``close()`` (or the GC) lets it go.
    """
    cdef readonly MailboxBase _box
    cdef readonly bint _open
    cdef object __weakref__

    def __init__(self, MailboxBase box not None):
        self._box = box
        self._open = True
        box.add_sender()

    def _clone(self):
        if not self._open:
            raise ChannelClosedError()
        return Channel(self._box)

    def send(self, msg):
        """Send a deep copy of *msg*; park until a receiver takes it.

        Interruption point: an interrupted send withdraws its message.
        Raises ChannelClosedError if the target's inbox is (or gets) closed,
        TypeError for unsendable values, OSError(EBUSY) for an IO object with
        an operation in flight.
        """
        cdef Scheduler p
        cdef Fiber f
        cdef MailboxBase box
        cdef ReceiveOp r
        cdef SendOp op
        cdef list moves
        if not self._open:
            raise ChannelClosedError()
        p = current()
        if p is None:
            raise RuntimeError(
                "no emilua engine runs in this thread (start one with emilua.run() "
                "or the emilua command)")
        f = p.current
        if f is None:
            raise RuntimeError("send() outside of a fiber")
        # An interruption point even when a receiver takes the message at
        # once: a pending interruption raises before anything is sent.
        p.check_park(f)
        moves = []
        copy = _copy_value(msg, None, moves)
        if moves:
            copy = Carrier(copy)
            _detach_moves(moves)
        box = self._box
        if box.p is p:
            if box.closed:
                if moves:
                    _restore_moves(moves)
                raise ChannelClosedError()
            r = box.receiver
            if r is not None:
                # Immediate delivery: the receiver already waits. It runs
                # before the sender continues (a rendezvous hands over, as
                # in the manual's engine): the sender yields behind it.
                box.receiver = None
                r.value = copy
                p.resume(r.fiber, r)
                p.yield_now(f)
                return
        op = SendOp.__new__(SendOp)
        op.msg = copy
        op.moves = moves
        op.fiber = f
        op.proactor = p
        op.target = box
        op.state = SEND_PENDING
        if box.p is p:
            box.queue.append(op)
        else:
            op.remote = True
            with _send_lock:
                if box.closed:
                    op.state = SEND_REJECTED
                else:
                    box.incoming.add(op)
            if op.state == SEND_PENDING:
                p.keepalive += 1
                box.p.post(op._offer)
        if op.state == SEND_PENDING:
            op.parked = True
            f.cancelled_wait = False
            try:
                p.park(f, op)
            except BaseException:
                # Unwound while parked (the VM ended): withdraw the message.
                if op.claim(SEND_WITHDRAWN):
                    if op.remote:
                        p.keepalive -= 1
                    if moves:
                        _restore_moves(moves)
                elif op.state != SEND_TAKEN and moves:
                    # Withdrawn by an interruption, or rejected by a closing inbox.
                    _restore_moves(moves)
                raise
            finally:
                op.parked = False
            if f.cancelled_wait:
                # Withdrawn by the interruption (SendOp.cancel).
                f.cancelled_wait = False
                if moves:
                    _restore_moves(moves)
                raise FiberInterrupted()
        if op.state == SEND_REJECTED:
            if moves:
                _restore_moves(moves)
            raise ChannelClosedError()

    def close(self):
        """Drop this address (the target may exit once no address is left)."""
        if self._open:
            self._open = False
            self._box.drop_sender()

    def receive(self):
        raise TypeError("receive() is only valid on an inbox (this is a tx-channel)")

    def __del__(self):
        if self._open:
            self._open = False
            try:
                self._box.drop_sender()
            except Exception:
                pass

    def __eq__(self, other):
        return isinstance(other, Channel) and (<Channel>other)._box is self._box

    def __hash__(self):
        return id(self._box)

    def __repr__(self):
        if self._box is None:
            return "<channel to nothing>"
        return "<channel to %r>" % (self._box.vm,)

    def __reduce__(self):
        raise TypeError("channels cannot be pickled; send them over a channel")


@cython.final
cdef class Inbox:
    """The calling VM's inbox (manual: "Communication": ``inbox``)."""

    def receive(self):
        """Receive the next message. Interruption point.

        Checks, in order: inbox closed (ChannelClosedError), another fiber
        already receiving (OSError EBUSY), a queued message, no live sender
        anywhere (NoSendersError), else waits.
        """
        cdef Scheduler p = current()
        cdef Fiber f = p.current if p is not None else None
        cdef VmHooks vm
        if f is not None and f.vm is not None:
            vm = f.vm
        else:
            vm = _current_vm()
        vm.inbox_used = True
        box = vm.mailbox
        if (<MailboxBase>box).plain:
            return (<MailboxBase>box).receive_in((<MailboxBase>box).p, f)
        return box.receive()

    def close(self):
        """Close the inbox: pending and future sends fail with ChannelClosedError."""
        cdef VmHooks vm = _current_vm()
        vm.inbox_used = True
        vm.mailbox.close()

    def send(self, msg):
        raise TypeError("send() is only valid on a tx-channel (this is the inbox)")

    def __repr__(self):
        return "<inbox>"


inbox = Inbox()
