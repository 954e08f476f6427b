"""The landing's relaxed garbage collection: raised while landings run, the previous threshold back after
the last one, also when a landing fails."""

import gc
import threading

import pytest

from c360.collector import LANDING_GC_THRESHOLD, fewer_collections


@pytest.fixture
def default_threshold():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_threshold_raised_inside_and_restored_after_a_failure(default_threshold):
    with pytest.raises(RuntimeError):
        with fewer_collections():
            assert gc.get_threshold() == (LANDING_GC_THRESHOLD, 10, 10)
            raise RuntimeError("a landing that fails")
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_landings_restore_only_after_the_last(default_threshold):
    first_inside, second_may_leave = threading.Event(), threading.Event()
    seen = {}

    def first() -> None:
        with fewer_collections():
            first_inside.set()
            second_may_leave.wait(10)
        seen["after first"] = gc.get_threshold()

    worker = threading.Thread(target=first)
    worker.start()
    first_inside.wait(10)
    with fewer_collections():
        second_may_leave.set()
        worker.join(10)
        seen["second still inside"] = gc.get_threshold()
    assert seen["after first"][0] == LANDING_GC_THRESHOLD
    assert seen["second still inside"][0] == LANDING_GC_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_already_set_is_kept(default_threshold):
    gc.set_threshold(500_000, 10, 10)
    with fewer_collections():
        assert gc.get_threshold()[0] == 500_000
    assert gc.get_threshold() == (500_000, 10, 10)
