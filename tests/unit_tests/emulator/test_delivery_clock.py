"""The delivery clock: records are delivered exactly when the clock passes their delay.

No sleeps: a :class:`ManualClock` is the only thing that moves time here.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

import pytest

from langchain_cris.emulator import EmulatorConfig, ManualClock
from langchain_cris.emulator.cloudtrail import CallIdentity, CloudTrail, build_record
from langchain_cris.emulator.invocation_logs import InvocationLogs
from langchain_cris.emulator.local import LocalBedrock
from langchain_cris.emulator.state import EmulatorState
from langchain_cris.emulator.wire_log import WireLog, WireRecord

GROUP = "/aws/bedrock/modelinvocations"
IDENTITY = CallIdentity(
    account_id="123456789012",
    principal_arn="arn:aws:sts::123456789012:assumed-role/LocalBedrock/local",
    access_key_id="AKIDLOCALBEDROCK",
    source_ip="127.0.0.1",
    user_agent="test",
)


def _record(request_id: str) -> dict[str, Any]:
    return build_record(
        identity=IDENTITY,
        event_name="Converse",
        source_region="eu-central-1",
        model_id="eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        request_id=request_id,
        served_region="eu-west-3",
    )


def _looked_up(trail: CloudTrail) -> list[str]:
    events = trail.lookup_events("eu-central-1", {})["Events"]
    return [json.loads(e["CloudTrailEvent"])["requestID"] for e in events]


def _filtered(logs: InvocationLogs) -> list[str]:
    events = logs.filter_log_events("eu-central-1", {"logGroupName": GROUP})["events"]
    return [json.loads(e["message"])["requestId"] for e in events]


# -- ManualClock -------------------------------------------------------------------------------
def test_manual_clock_moves_only_when_advanced() -> None:
    clock = ManualClock()
    assert clock() == clock() == 0.0
    assert clock.advance(2.5) == 2.5 == clock()
    assert clock.advance(0) == 2.5
    assert ManualClock(start=100).advance(1) == 101.0
    assert repr(clock) == "ManualClock(2.5)"


@pytest.mark.parametrize("bad", [-0.001, math.nan, math.inf])
def test_manual_clock_refuses_to_run_back_or_to_nowhere(bad: float) -> None:
    clock = ManualClock(5)
    with pytest.raises(ValueError, match="seconds"):
        clock.advance(bad)
    assert clock() == 5.0  # unchanged


def test_manual_clock_refuses_non_numbers() -> None:
    with pytest.raises(TypeError, match="number of seconds, got str"):
        ManualClock().advance("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="number of seconds, got bool"):
        ManualClock(True)
    with pytest.raises(ValueError, match="finite"):
        ManualClock(math.inf)


def test_manual_clock_is_safe_across_threads() -> None:
    clock = ManualClock()
    threads = [
        threading.Thread(target=lambda: [clock.advance(1) for _ in range(1000)]) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock() == 4000.0


# -- CloudTrail --------------------------------------------------------------------------------
def test_cloudtrail_event_is_delivered_exactly_when_the_delay_has_passed() -> None:
    clock = ManualClock(1_000)
    trail = CloudTrail(delay=300, clock=clock)
    trail.record("eu-central-1", _record("first"))
    assert _looked_up(trail) == []
    assert trail.events("eu-central-1") == []
    assert [r["requestID"] for r in trail.events("eu-central-1", include_pending=True)] == ["first"]
    clock.advance(299.875)  # steps that are exact in binary floating point
    assert _looked_up(trail) == []
    trail.record("eu-central-1", _record("second"))  # its own delay starts now
    clock.advance(0.125)  # exactly 300 s after the first
    assert _looked_up(trail) == ["first"]
    assert [r["requestID"] for r in trail.events("eu-central-1")] == ["first"]
    clock.advance(299.75)
    assert _looked_up(trail) == ["first"]
    clock.advance(0.125)
    assert _looked_up(trail) == ["second", "first"]  # newest first


def test_cloudtrail_event_time_stays_the_wall_clock_whatever_the_delivery_clock_says() -> None:
    clock = ManualClock(-5_000_000)  # nowhere near the epoch: event times must not follow it
    trail = CloudTrail(clock=clock)
    before = time.time()
    trail.record("eu-central-1", _record("a"))
    (event,) = trail.lookup_events("eu-central-1", {})["Events"]
    assert before <= event["EventTime"] <= time.time()
    # StartTime/EndTime filter on the event time, not on delivery.
    assert trail.lookup_events("eu-central-1", {"StartTime": before - 1})["Events"]
    assert trail.lookup_events("eu-central-1", {"EndTime": before - 1})["Events"] == []


def test_zero_delay_delivers_at_once() -> None:
    trail = CloudTrail(clock=ManualClock())
    trail.record("eu-central-1", _record("now"))
    assert _looked_up(trail) == ["now"]


# -- invocation logs ---------------------------------------------------------------------------
def test_invocation_log_is_delivered_exactly_when_the_delay_has_passed() -> None:
    clock = ManualClock()
    logs = InvocationLogs(GROUP, delay=60, clock=clock)
    logs.write("eu-central-1", {"requestId": "first"})
    assert _filtered(logs) == [] and logs.records("eu-central-1") == []
    assert logs.records("eu-central-1", include_pending=True) == [{"requestId": "first"}]
    clock.advance(30)
    logs.write("eu-central-1", {"requestId": "second"})
    clock.advance(29.875)
    assert _filtered(logs) == []
    clock.advance(0.125)
    assert _filtered(logs) == ["first"]
    assert logs.records("eu-central-1") == [{"requestId": "first"}]
    clock.advance(30)
    assert _filtered(logs) == ["first", "second"]  # oldest first, as FilterLogEvents answers


# -- wiring ------------------------------------------------------------------------------------
def test_local_bedrock_measures_both_delays_on_its_clock() -> None:
    clock = ManualClock()
    bedrock = LocalBedrock(cloudtrail_delay=10, invocation_log_delay=20, clock=clock)
    assert bedrock.clock is clock
    assert bedrock.state.cloudtrail.clock is clock and bedrock.state.cloudtrail.delay == 10
    assert bedrock.state.invocation_logs.clock is clock
    assert bedrock.state.invocation_logs.delay == 20


def test_the_default_delivery_clock_is_monotonic() -> None:
    bedrock = LocalBedrock()
    assert bedrock.clock is time.monotonic
    state = EmulatorState.create(EmulatorConfig())
    assert state.cloudtrail.clock is state.invocation_logs.clock is time.monotonic


def test_a_clock_that_is_not_callable_is_refused() -> None:
    with pytest.raises(TypeError, match=r"zero-argument callable.*got float"):
        LocalBedrock(clock=1.0)  # type: ignore[arg-type]


# -- waiting for a client's look ---------------------------------------------------------------
def _wire(operation: str) -> WireRecord:
    return WireRecord(
        time=0.0,
        source_region="eu-central-1",
        service="cloudtrail",
        operation=operation,
        model_id=None,
        served_region=None,
        request_id="r",
        outcome="ok",
        status=200,
    )


def test_wire_log_wait_for_wakes_on_the_counted_operation_only() -> None:
    log = WireLog()
    assert log.wait_for("LookupEvents", timeout=0) is False  # nothing yet: no wait at all
    log.append(_wire("FilterLogEvents"))
    assert log.wait_for("LookupEvents", timeout=0) is False
    woke = threading.Event()

    def waiter() -> None:
        if log.wait_for("LookupEvents", count=2, timeout=120):
            woke.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    log.append(_wire("LookupEvents"))
    assert log.wait_for("LookupEvents", count=2, timeout=0) is False  # one is not two
    assert not woke.is_set()
    log.append(_wire("LookupEvents"))
    thread.join(120)
    assert woke.is_set() and not thread.is_alive()
    assert log.wait_for("FilterLogEvents", timeout=0) is True
