# A fiber's Python frames start on a small data-stack chunk of its own and
# spill into chunks CPython allocates; its greenlet is taken when it first
# runs. Each engine test runs as the main fiber of a fresh engine, once per
# backend.
import pytest

from emilua import spawn, this_fiber, time


def descend(depth, at_bottom):
    """Recurse *depth* Python frames, call at_bottom() there, return depth."""
    if depth == 0:
        at_bottom()
        return 0
    return descend(depth - 1, at_bottom) + 1


def test_deep_calls_park_and_return():
    # Frames far past the first chunk, parked while other fibers run on
    # theirs, come back intact.
    fibers = [spawn(descend, 400 + i, this_fiber.yield_) for i in range(20)]
    assert [f.join() for f in fibers] == [400 + i for i in range(20)]


def test_depth_oscillating_across_a_chunk_boundary():
    def body():
        total = 0
        for depth in range(200):
            total += descend(depth % 40, lambda: None)
            if depth % 50 == 0:
                time.sleep(0)
        return total

    fibers = [spawn(body) for _ in range(5)]
    assert [f.join() for f in fibers] == [sum(d % 40 for d in range(200))] * 5


def test_error_raised_deep_in_a_parked_fiber_reaches_join():
    def boom():
        this_fiber.yield_()
        raise ValueError("deep")

    f = spawn(descend, 300, boom)
    with pytest.raises(ValueError, match="deep"):
        f.join()


def test_many_fibers_spawned_at_once_each_joined():
    fibers = [spawn(lambda i=i: i * 2) for i in range(5000)]
    assert sum(f.join() for f in fibers) == 2 * sum(range(5000))


def test_sleepers_spawned_at_once_all_wake():
    woke = []

    def sleeper(i):
        time.sleep(0.001 * (i % 7))
        woke.append(i)

    fibers = [spawn(sleeper, i) for i in range(700)]
    for f in fibers:
        f.join()
    assert sorted(woke) == list(range(700))
