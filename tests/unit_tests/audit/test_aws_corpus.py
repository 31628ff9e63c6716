"""The readers and the Auditor against records in the shapes AWS documents (tests/fixtures/aws).

These records were not written from our notes: each follows an AWS page named in the corpus
README. One call must count once whatever copies and completion events the evidence holds, and a
served Region is never claimed more strongly than the evidence allows.
"""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest

from langchain_cris.audit.cloudtrail import (
    CallAssembler,
    CloudTrailCall,
    StreamCompletion,
    iter_cloudtrail_files,
    lookup_cloudtrail_calls,
    parse_cloudtrail_event,
)
from langchain_cris.audit.invocation_logs import parse_invocation_log
from langchain_cris.audit.report import Auditor, audit_files
from langchain_cris.policy import ResidencyPolicy
from tests.unit_tests.audit.corpus import (
    CORPUS,
    SCENARIO,
    SCENARIO_LOGS,
    TRAIL_FILES,
    D,
    PagedLookup,
    load,
    lookup_page,
    scenario_records,
)

EU = ResidencyPolicy.preset("eu")
STREAM_CALL = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"  # AWS's parentRequestId


# -- single events ------------------------------------------------------------------------
def test_aws_invokemodel_example_is_a_call_served_in_its_source_region() -> None:
    call = parse_cloudtrail_event(load("cloudtrail/invokemodel-api-call.json"))
    assert isinstance(call, CloudTrailCall)
    assert (call.request_id, call.source_region, call.served_region) == (
        "a1b2c3d4-5678-90ab-cdef-EXAMPLE22222",
        "us-west-2",
        "us-west-2",
    )
    assert call.rerouted is False and call.streamed is False and call.data_copy is False
    # AWS documents absence of additionalEventData as "not re-routed" for the API call.
    assert (call.evidence, call.strength) == ("cloudtrail:absent-field=source", "documented")
    assert call.model_id == "stability.stable-diffusion-xl-v0"


@pytest.mark.parametrize(
    ("name", "source", "served"),
    [
        ("converse-rerouted-api-call.json", "us-east-1", "us-west-2"),
        ("invokemodel-rerouted-api-call.json", "ap-southeast-6", "ap-southeast-2"),
    ],
)
def test_rerouted_api_call_names_the_served_region(name: str, source: str, served: str) -> None:
    call = parse_cloudtrail_event(load(f"cloudtrail/{name}"))
    assert isinstance(call, CloudTrailCall)
    assert (call.source_region, call.served_region, call.rerouted) == (source, served, True)
    assert (call.evidence, call.strength) == ("cloudtrail:inferenceRegion", "confirmed")


def test_not_rerouted_converse_is_served_in_the_source_region_as_documented() -> None:
    call = parse_cloudtrail_event(load("cloudtrail/converse-not-rerouted-api-call.json"))
    assert isinstance(call, CloudTrailCall)
    assert call.served_region == call.source_region == "us-east-1"
    assert call.strength == "documented"


def test_streamed_api_call_without_the_field_is_only_an_assumption() -> None:
    call = parse_cloudtrail_event(load("cloudtrail/conversestream-api-call.json"))
    assert isinstance(call, CloudTrailCall)
    assert call.streamed is True
    # The completion event, not the API call, reports where a stream's inference ran.
    assert call.strength == "assumed"


@pytest.mark.parametrize(
    ("name", "parent", "served", "tokens"),
    [
        ("conversestream-completion.json", STREAM_CALL, "us-east-1", (18694, 356)),
        (
            "invokemodelwithresponsestream-completion.json",
            "a1b2c3d4-5678-90ab-cdef-EXAMPLECCCCC",
            "us-west-2",
            (912, 47),
        ),
    ],
)
def test_stream_completion_event_is_not_a_call(
    name: str, parent: str, served: str, tokens: tuple[int, int]
) -> None:
    event = parse_cloudtrail_event(load(f"cloudtrail/{name}"))
    assert isinstance(event, StreamCompletion)
    assert event.parent_request_id == parent
    assert event.request_id != parent  # its own requestID
    assert event.served_region == served
    assert (event.input_tokens, event.output_tokens) == tokens
    assert event.source_region == "us-west-2"
    assert event.model_arn is not None and ":foundation-model/" in event.model_arn


def test_data_event_copies_are_marked_and_keep_the_request_id() -> None:
    call = parse_cloudtrail_event(load("cloudtrail/conversestream-api-call-data-copy.json"))
    done = parse_cloudtrail_event(load("cloudtrail/conversestream-completion-data-copy.json"))
    assert isinstance(call, CloudTrailCall) and call.data_copy is True
    assert call.request_id == STREAM_CALL
    assert isinstance(done, StreamCompletion) and done.data_copy is True
    assert done.parent_request_id == STREAM_CALL


# -- one call, counted once -----------------------------------------------------------------
STREAM_FILES = [
    "conversestream-api-call.json",
    "conversestream-completion.json",
    "conversestream-api-call-data-copy.json",
    "conversestream-completion-data-copy.json",
]


@pytest.mark.parametrize(
    "order", [STREAM_FILES, STREAM_FILES[::-1], STREAM_FILES[1::2] + STREAM_FILES[::2]]
)
def test_stream_call_completion_and_copies_make_one_call(tmp_path: Path, order: list[str]) -> None:
    trail = tmp_path / "trail.json"
    trail.write_text(json.dumps({"Records": [load(f"cloudtrail/{n}") for n in order]}))
    calls = list(iter_cloudtrail_files([trail]))
    assert len(calls) == 1
    (call,) = calls
    assert call.request_id == STREAM_CALL
    assert call.event_name == "ConverseStream"
    assert call.model_id == "us.anthropic.claude-opus-4-7"  # from the API call, not the ARN
    assert call.served_region == "us-east-1"  # from the completion event only
    assert (call.evidence, call.strength) == ("cloudtrail:completion:inferenceRegion", "confirmed")
    assert (call.input_tokens, call.output_tokens) == (18694, 356)
    # The completion's own eventID, or its data copy's when the copies happened to come first.
    assert call.completion_event_id in {
        "a1b2c3d4-5678-90ab-cdef-EXAMPLE66666",
        "a1b2c3d4-5678-90ab-cdef-EXAMPLE13131",
    }


def test_completion_joins_across_files(tmp_path: Path) -> None:
    first = tmp_path / "a.json"
    second = tmp_path / "b.json"
    first.write_text(json.dumps({"Records": [load("cloudtrail/conversestream-api-call.json")]}))
    second.write_text(json.dumps({"Records": [load("cloudtrail/conversestream-completion.json")]}))
    (call,) = iter_cloudtrail_files([first, second])
    assert call.served_region == "us-east-1"


def test_stream_call_whose_completion_never_came_stays_an_assumption(tmp_path: Path) -> None:
    trail = tmp_path / "t.json"
    trail.write_text(json.dumps({"Records": [load("cloudtrail/conversestream-api-call.json")]}))
    (call,) = iter_cloudtrail_files([trail])
    assert call.served_region == "us-west-2"  # the only Region the evidence names
    assert (call.evidence, call.strength) == ("cloudtrail:absent-field=source", "assumed")


def test_orphan_completion_still_shows_where_a_call_ran() -> None:
    assembler = CallAssembler()
    assert (
        assembler.add(parse_cloudtrail_event(load("cloudtrail/conversestream-completion.json")))
        == []
    )  # type: ignore[arg-type]
    (call,) = assembler.finish()
    assert call.request_id == STREAM_CALL and call.served_region == "us-east-1"
    assert call.api_call_seen is False and call.model_id is None
    assert assembler.orphan_completions == 1


def test_scenario_trail_files_hold_four_calls_with_their_true_regions() -> None:
    assert len(scenario_records()) == 7
    calls = {c.request_id: c for c in iter_cloudtrail_files(TRAIL_FILES)}
    assert set(calls) == set(SCENARIO)
    for request_id, (served, evidence, tokens_in, tokens_out) in SCENARIO.items():
        call = calls[request_id]
        assert (call.served_region, call.evidence) == (served, evidence), request_id
        assert (call.input_tokens, call.output_tokens) == (tokens_in, tokens_out)


# -- LookupEvents ---------------------------------------------------------------------------
def test_lookup_events_page_of_the_corpus_yields_calls_not_events() -> None:
    client = PagedLookup([load("lookup-events/page.json")])
    calls = {
        c.request_id: c for c in lookup_cloudtrail_calls(client, start_time=_t0(), end_time=_t1())
    }
    assert set(calls) == {STREAM_CALL, "a1b2c3d4-5678-90ab-cdef-EXAMPLE22222"}
    assert calls[STREAM_CALL].served_region == "us-east-1"


def test_lookup_by_request_id_joins_the_completion_found_first() -> None:
    # Newest first: the completion comes before its API call, on an earlier page.
    records = [
        r for r in scenario_records() if r.get("eventCategory", "Management") == "Management"
    ]
    page = lookup_page(records)
    pages = [{"Events": page["Events"][:2]}, {"Events": page["Events"][2:]}]
    client = PagedLookup(pages)
    (call,) = lookup_cloudtrail_calls(client, start_time=_t0(), end_time=_t1(), request_ids={D})
    assert (call.served_region, call.strength) == ("us-east-1", "confirmed")


def test_lookup_without_completion_events_yields_an_assumption() -> None:
    # Whether LookupEvents returns stream-completion events is not documented.
    records = [r for r in scenario_records() if r["eventType"] == "AwsApiCall"]
    client = PagedLookup([lookup_page(records)])
    (call,) = lookup_cloudtrail_calls(client, start_time=_t0(), end_time=_t1(), request_ids={D})
    assert (call.served_region, call.strength) == ("eu-central-1", "assumed")


def test_lookup_calls_the_throttle_before_every_request() -> None:
    client = PagedLookup([{"Events": []}, {"Events": []}, {"Events": []}])
    ticks: list[int] = []
    list(
        lookup_cloudtrail_calls(
            client,
            start_time=_t0(),
            end_time=_t1(),
            throttle=lambda: ticks.append(len(client.calls)),
        )
    )
    assert ticks == [0, 1, 2]  # before each of the three requests


# -- invocation logs ------------------------------------------------------------------------
def test_documented_invocation_log_has_no_served_region_only_an_assumption() -> None:
    entry = parse_invocation_log(load("invocation-logs/documented.json"))
    assert entry is not None
    assert entry.inference_region is None
    assert entry.served_region == "us-east-1"
    assert (entry.evidence, entry.strength) == ("invocation_log:no-field", "assumed")
    assert (entry.input_tokens, entry.output_tokens) == (25, 150)


def test_blog_shaped_invocation_log_names_the_served_region() -> None:
    entry = parse_invocation_log(load("invocation-logs/with-inference-region.json"))
    assert entry is not None
    assert (entry.source_region, entry.served_region) == ("us-east-1", "us-west-2")
    assert (entry.evidence, entry.strength) == ("invocation_log:inferenceRegion", "confirmed")


# -- the Auditor ----------------------------------------------------------------------------
def test_audit_of_the_scenario_counts_four_calls_and_finds_the_stream_outside_the_eu() -> None:
    report = audit_files(EU, TRAIL_FILES)
    assert report.calls == 4
    assert report.violations_total == 1
    (violation,) = report.violations
    assert (violation.request_id, violation.served_region) == (D, "us-east-1")
    assert violation.kinds == ("served_outside",)
    assert violation.evidence == "cloudtrail:completion:inferenceRegion"
    assert violation.strength == "confirmed"
    assert report.served_evidence == {
        "cloudtrail:absent-field=source": 1,
        "cloudtrail:completion:inferenceRegion": 2,
        "cloudtrail:inferenceRegion": 1,
    }
    assert report.assumed_calls == 0
    tokens = sum(g.input_tokens for g in report.groups), sum(g.output_tokens for g in report.groups)
    assert tokens == (1520 + 2048, 233 + 512)  # from the completion events


def test_audit_with_trail_and_invocation_logs_still_counts_four() -> None:
    report = audit_files(EU, [*TRAIL_FILES, SCENARIO_LOGS])
    assert report.calls == 4
    assert report.violations_total == 1
    assert report.assumed_calls == 0
    # CloudTrail named every Region; the logs added only tokens CloudTrail lacked (A and B).
    assert sum(g.input_tokens for g in report.groups) == 40 + 38 + 1520 + 2048


def test_audit_of_invocation_logs_alone_says_which_regions_are_assumed() -> None:
    report = audit_files(EU, [SCENARIO_LOGS])
    assert report.calls == 4
    assert report.served_evidence == {
        "invocation_log:inferenceRegion": 1,
        "invocation_log:no-field": 3,
    }
    assert report.assumed_calls == 3
    # D ran in us-east-1, but nothing in these logs says so: no violation can be claimed,
    # and the report says three served Regions are assumptions, not facts.
    assert report.violations_total == 0
    rendered = report.render("table")
    assert "assumed" in rendered


def test_invocation_log_names_the_region_a_completion_less_stream_call_lacked(
    tmp_path: Path,
) -> None:
    api_only = [r for r in scenario_records() if r["eventType"] == "AwsApiCall"]
    trail = tmp_path / "api-only.json"
    trail.write_text(json.dumps({"Records": api_only}))
    log = tmp_path / "d.jsonl"
    entry = json.loads(SCENARIO_LOGS.read_text().splitlines()[3])
    entry["inferenceRegion"] = "us-east-1"  # the blog shape, for D
    log.write_text(json.dumps(entry) + "\n")
    report = audit_files(EU, cloudtrail=[trail], invocation_logs=[log])
    assert report.calls == 4
    assert [v.request_id for v in report.violations] == [D]
    assert report.violations[0].evidence == "invocation_log:inferenceRegion"
    assert report.assumed_calls == 1  # C: no completion, no field in any log


def test_auditor_fed_events_one_by_one_counts_calls_once() -> None:
    auditor = Auditor(EU)
    for record in scenario_records():
        event = parse_cloudtrail_event(record)
        assert event is not None
        auditor.add_cloudtrail(event)
    report = auditor.report()
    assert report.calls == 4 and report.violations_total == 1
    assert report.evidence == {"cloudtrail": 7}  # records read, by source


def test_corpus_readme_names_every_file() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    for path in CORPUS.rglob("*"):
        if path.is_file() and path.name != "README.md":
            assert f"`{path.relative_to(CORPUS)}`" in readme or path.name in readme, path


def _t0():  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime(2020, 1, 1, tzinfo=UTC)


def _t1():  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime(2027, 1, 1, tzinfo=UTC)


def test_streams_whose_completion_never_comes_stop_waiting_past_the_horizon() -> None:
    import dataclasses
    from datetime import timedelta

    from langchain_cris.audit import _ctjoin

    base = parse_cloudtrail_event(load("cloudtrail/conversestream-api-call.json"))
    assert isinstance(base, CloudTrailCall)
    assembler = CallAssembler()
    emitted = []
    total = 3 * _ctjoin._SWEEP_EVERY
    for i in range(total):
        call = dataclasses.replace(
            base, request_id=f"r{i}", event_time=base.event_time + timedelta(seconds=10 * i)
        )
        emitted += assembler.add(call)
    # Old streams were released while reading; only the last horizon's worth still waits.
    assert emitted and assembler.waiting < total - len(emitted) + 1
    assert assembler.waiting <= _ctjoin.STREAM_HORIZON.total_seconds() / 10 + _ctjoin._SWEEP_EVERY
    emitted += assembler.finish()
    assert sorted(c.request_id for c in emitted) == sorted(f"r{i}" for i in range(total))
    assert {c.strength for c in emitted} == {"assumed"}
