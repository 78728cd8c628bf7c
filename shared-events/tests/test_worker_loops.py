"""LoopThreads runs a service's own loops beside the relay and the consumer."""

import threading
import time

from shared_events.runtime.threads import LoopThreads


def test_a_service_loop_runs_until_stop_and_counts_for_alive() -> None:
    started, stopped = threading.Event(), threading.Event()

    def loop(stop: threading.Event) -> None:
        started.set()
        stop.wait()
        stopped.set()

    worker = LoopThreads(None, None, {"saga-deadline": loop})
    worker.start()

    assert started.wait(5)
    assert worker.alive
    assert worker.readiness() == {}  # loops are no readiness parts
    assert worker.stop(timeout=5)
    assert stopped.is_set()


def test_a_crashed_loop_makes_the_worker_not_alive() -> None:
    def crashing(stop: threading.Event) -> None:
        raise RuntimeError("boom")

    worker = LoopThreads(None, None, {"crashing": crashing})
    worker.start()
    deadline = time.monotonic() + 5
    while worker.alive and time.monotonic() < deadline:
        time.sleep(0.01)

    assert not worker.alive
    assert worker.stop(timeout=1)
