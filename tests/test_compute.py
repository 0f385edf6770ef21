"""The compute door: the time limit inside every computation, the memory budget before any allocation,
and a client that leaves a whole answer stops its work."""

from __future__ import annotations

import time

import anyio
import pytest

from app.services.compute import Budget, Busy, Cancelled, Work, run_all
from app.services.validation import Invalid
from app.settings import Settings
from test_api import client_with, lines, post

import core

# One sweep of 200,000 cells x 5,000 steps: far past any limit, and a single sweep, so a check made only
# between whole sweeps would not stop it.
ONE_HUGE_SWEEP = {"surface": "rastrigin", "optimizers": [{"optimizer": "nadam"}], "steps": 5000, "num": 200_000}
LONG_STREAM = {"surface": "beale", "steps": 100_000, "runs": [{"optimizer": "adam"}] * 24}


class KeptComputing(Exception):
    """Ends a sweep that ignores its limit, which would otherwise compute for minutes."""


def test_a_tune_past_the_limit_starts_no_piece_after_it_and_is_a_413(monkeypatch):
    """The limit is checked between the sweep's bounded pieces, not after the whole sweep.

    Counted, not timed: the compute door's clock is replaced by one that only the sweep's pieces move,
    a second each, so the deadline the door checks falls inside a known piece however fast the machine.
    The piece in progress when the limit passes may finish; none may start after it. How long a
    limit-breaking request takes is measured in bench/api_bench.py.
    """
    import core.explore
    from app.services import compute

    class PieceClock:
        now = 0.0

        def perf_counter(self) -> float:
            return self.now

    clock = PieceClock()
    monkeypatch.setattr(compute, "time", clock)
    limit = 2.5  # within the third piece, so the door has two checks to pass before the one that stops it
    starts = []
    real = core.explore.sweep_rows

    def one_second_pieces(*args, **kwargs):
        pieces = real(*args, **kwargs)
        while True:
            starts.append(clock.now)
            if sum(t > limit for t in starts) > 3:
                raise KeptComputing
            try:
                rows = next(pieces)
            except StopIteration:
                return
            clock.now += 1.0
            yield rows

    monkeypatch.setattr(core.explore, "sweep_rows", one_second_pieces)
    with client_with(max_compute_seconds=limit) as c:
        try:
            r = post(c, "/api/tune", ONE_HUGE_SWEEP)
        except KeptComputing:
            r = None
    late = [t for t in starts if t > limit]
    assert not late, f"pieces started after the limit of {limit} s had passed, at {late} s of computing"
    assert r.status_code == 413 and r.json()["detail"][0]["type"] == "limit_exceeded"
    assert clock.now > limit, "the tune was refused before its computation reached the limit"


@pytest.mark.parametrize("num", ["1", None, [], {}, True, 2.5, "nan", 1e300])
def test_a_tune_num_that_is_not_a_whole_number_is_a_422_naming_it(num):
    with client_with() as c:
        r = post(c, "/api/tune", {**ONE_HUGE_SWEEP, "steps": 10, "num": num})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "num"]


@pytest.mark.parametrize("path", ["/api/trajectories/stream", "/api/trajectories"])
def test_runs_past_the_memory_budget_are_a_413_naming_steps_before_anything_is_allocated(path):
    with client_with(max_request_memory_mb=16, max_answer_steps=10**7, inline_steps=0) as c:
        r = post(c, path, LONG_STREAM)
        assert r.status_code == 413, r.text
        error = r.json()["detail"][0]
        assert error["loc"] == ["body", "steps"] and "MB" in error["msg"]
        assert c.app.state.compute_budget.used == 0


def test_a_stream_gives_its_memory_back_when_it_ends():
    with client_with() as c:
        r = post(c, "/api/trajectories/stream", {**LONG_STREAM, "steps": 1000})
        assert lines(r)[-1]["type"] == "done"
        assert c.app.state.compute_budget.used == 0


def ten_mb_budget(seconds: float) -> tuple[Settings, Budget]:
    settings = Settings(warm_on_startup=False, max_compute_seconds=seconds, max_request_memory_mb=10,
                        max_compute_memory_mb=10)
    return settings, Budget(10 << 20)


def test_a_request_that_fits_alone_waits_for_memory_then_is_refused_with_a_503():
    settings, budget = ten_mb_budget(0.2)

    async def main():
        held = await budget.reserve(8 << 20, settings, ["body"], "these runs")
        t0 = time.perf_counter()
        # A refusal that never came would hang the suite: a generous bound, not a measure of speed.
        with anyio.fail_after(60), pytest.raises(Busy):
            await budget.reserve(4 << 20, settings, ["body"], "these runs")
        waited = time.perf_counter() - t0
        held.release()
        return waited

    # It waited for memory (a timer cannot fire early), however slow the machine is.
    waited = anyio.run(main)
    assert waited > 0.15 and budget.used == 0


def test_a_waiting_request_gets_the_memory_once_it_is_given_back():
    settings, budget = ten_mb_budget(5)
    got = []

    async def main():
        held = await budget.reserve(8 << 20, settings, ["body"], "these runs")

        async def second():
            got.append(await budget.reserve(4 << 20, settings, ["body"], "these runs"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(second)
            await anyio.sleep(0.1)
            assert got == []  # waiting, not refused
            held.release()

    anyio.run(main)
    assert got[0].nbytes == 4 << 20 and budget.used == 4 << 20


def test_work_stops_at_its_next_check_once_its_client_has_left_or_its_time_is_spent():
    runs = [core.Run("beale", "adam", (1.0, 1.5), 100_000)]
    work = Work(Settings(warm_on_startup=False))
    work.cancelled.set()
    with pytest.raises(Cancelled):
        run_all(runs, work)
    assert 0 < runs[0].done_steps < 100_000
    with pytest.raises(Invalid) as e:
        run_all([core.Run("beale", "adam", (1.0, 1.5), 100_000)], Work(Settings(warm_on_startup=False), seconds=0))
    assert e.value.status == 413
