"""Settings of the local Bedrock: Regions (capacity, latency), faults, SCP deny list, logging.

Everything can be given in code, in a JSON or TOML file, or at runtime over the control
endpoint; all three go through :meth:`EmulatorConfig.from_mapping`, which rejects unknown keys
and names the valid ones, so a typo in a config file fails loudly instead of being ignored.

Example file (TOML)::

    seed = 7
    routing = "weighted"
    deny_regions = ["eu-south-2"]

    [default_region]
    latency_ms = 40
    jitter_ms = 20

    [regions.eu-west-1]
    requests_per_minute = 100
    outage = false

    [[faults]]
    kind = "throttle"
    region = "eu-central-1"
    probability = 0.5
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_LOG_GROUP",
    "EmulatorConfig",
    "FaultKind",
    "FaultRule",
    "RegionConfig",
    "Routing",
]

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_LOG_GROUP = "/aws/bedrock/modelinvocations"

Routing = Literal["weighted", "source-first"]

#: ``throttle`` makes a serving Region refuse (CRIS then tries the next destination);
#: the status faults answer with that AWS error once a Region was chosen; ``hang`` never
#: answers; ``reset`` drops the TCP connection; ``stream_error`` sends an exception frame and
#: ``stream_cut`` closes the socket after ``after_events`` stream events.
FaultKind = Literal[
    "throttle",
    "service_unavailable",
    "internal_error",
    "model_not_ready",
    "model_timeout",
    "model_error",
    "hang",
    "reset",
    "stream_error",
    "stream_cut",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


@dataclass
class RegionConfig:
    """Capacity and latency of one simulated Region (``None`` = unlimited).

    Attributes:
        requests_per_minute: Admitted requests per sliding minute before the Region is full.
        tokens_per_minute: Input + output tokens per sliding minute before the Region is full.
        latency_ms: Base latency before the first byte.
        jitter_ms: Uniform extra latency in ``[0, jitter_ms]``.
        ms_per_output_token: Generation time per output token (spread over stream events).
        weight: Routing weight; defaults to ``requests_per_minute`` (capacity-weighted) or 1.
        outage: The whole Region is down: it behaves as full, so CRIS routes around it.
    """

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    ms_per_output_token: float = 0.0
    weight: float | None = None
    outage: bool = False

    def routing_weight(self) -> float:
        if self.weight is not None:
            return max(self.weight, 0.0)
        return float(self.requests_per_minute) if self.requests_per_minute else 1.0


@dataclass
class FaultRule:
    """One injected fault; matches requests by serving Region, operation and model id.

    Attributes:
        kind: What happens (see :data:`FaultKind`).
        region: Serving Region the fault lives in (``None`` = every Region).
        operation: ``Converse``, ``ConverseStream``, ``InvokeModel`` … (``None`` = all).
        model_id: Model or profile id exactly as sent (``None`` = all).
        probability: Chance that a matching request is hit (seeded RNG).
        times: Hits left before the rule retires (``None`` = forever).
        after_events: For stream faults, events sent before the error or cut.
        exception: Stream exception type (``modelStreamErrorException``,
            ``throttlingException``, ``serviceUnavailableException``, ``internalServerException``).
        message: Overrides the AWS message text.
        seconds: How long ``hang`` holds the connection before closing it silently.
    """

    kind: FaultKind
    region: str | None = None
    operation: str | None = None
    model_id: str | None = None
    probability: float = 1.0
    times: int | None = None
    after_events: int = 2
    exception: str = "modelStreamErrorException"
    message: str | None = None
    seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {self.kind!r}; valid kinds: {', '.join(FAULT_KINDS)}"
            )
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be in [0, 1], got {self.probability}")

    def matches(self, *, region: str | None, operation: str, model_id: str) -> bool:
        return (
            (self.region is None or self.region == region)
            and (self.operation is None or self.operation == operation)
            and (self.model_id is None or self.model_id == model_id)
            and (self.times is None or self.times > 0)
        )


@dataclass
class EmulatorConfig:
    """All settings of a :class:`~langchain_cris.emulator.LocalBedrock`.

    Attributes:
        seed: Seeds routing, jitter and fault draws (``None`` = nondeterministic).
        host: Interface to bind; keep loopback.
        port: TCP port; 0 picks a free one.
        account_id: The simulated AWS account.
        principal_arn: Identity in CloudTrail, invocation logs and AccessDenied messages.
        routing: ``weighted`` picks destinations by capacity weight; ``source-first`` tries the
            source Region first (the 2024 AWS blog's description), then the others by weight.
        default_region: Settings for every Region without an entry in ``regions``.
        regions: Per-Region overrides.
        faults: Injected faults.
        deny_regions: Simulated SCP: Regions where invoking models is explicitly denied. Use
            ``"unspecified"`` to deny global profiles (their SCP evaluation Region).
        allow_regions: Simulated SCP allow-list: every other Region is denied (``None`` = off).
        cloudtrail_delay: Seconds before a CloudTrail event becomes visible to LookupEvents,
            measured on the emulator's delivery clock (``LocalBedrock(clock=...)``; default
            the monotonic clock).
        cloudtrail_data_events: The trail also records Bedrock data events: every runtime
            record gets a data-event copy in the trail (never in LookupEvents).
        cloudtrail_stream_inference_region: A stream's API-call event also carries
            ``additionalEventData.inferenceRegion`` (undocumented; default: only the
            stream-completion event names the served Region).
        cloudtrail_lookup_completions: LookupEvents returns stream-completion events
            (undocumented either way).
        invocation_log_delay: Seconds before an invocation-log record becomes visible to
            FilterLogEvents, on the same delivery clock.
        invocation_logging: Whether model invocation logging is enabled.
        invocation_log_inference_region: Invocation logs of re-routed calls carry the top-level
            ``inferenceRegion`` the 2024 AWS blog shows (off: the documented format, which has
            no served Region).
        log_group: CloudWatch Logs group of the invocation logs.
        invocation_log_dir: Also write invocation logs as JSON lines under this directory.
        bearer_token_region: Source Region assumed for ``Authorization: Bearer`` (API key)
            calls, whose header carries no credential scope.
        catalog_path: Profile snapshot to serve instead of the bundled catalog.
    """

    seed: int | None = 0
    host: str = "127.0.0.1"
    port: int = 0
    account_id: str = DEFAULT_ACCOUNT_ID
    principal_arn: str = f"arn:aws:sts::{DEFAULT_ACCOUNT_ID}:assumed-role/LocalBedrock/local"
    routing: Routing = "weighted"
    default_region: RegionConfig = field(default_factory=RegionConfig)
    regions: dict[str, RegionConfig] = field(default_factory=dict)
    faults: list[FaultRule] = field(default_factory=list)
    deny_regions: set[str] = field(default_factory=set)
    allow_regions: set[str] | None = None
    cloudtrail_delay: float = 0.0
    cloudtrail_data_events: bool = False
    cloudtrail_stream_inference_region: bool = False
    cloudtrail_lookup_completions: bool = True
    invocation_log_delay: float = 0.0
    invocation_logging: bool = True
    invocation_log_inference_region: bool = True
    log_group: str = DEFAULT_LOG_GROUP
    invocation_log_dir: str | None = None
    bearer_token_region: str = "us-east-1"
    catalog_path: str | None = None

    def region(self, code: str) -> RegionConfig:
        """The effective settings of Region ``code``."""
        return self.regions.get(code, self.default_region)

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> EmulatorConfig:
        """Build from plain data (a parsed JSON/TOML file or a control-endpoint body).

        Raises:
            ValueError: on unknown keys (listing the valid ones) or bad values.
        """
        _check_keys("emulator config", data, cls)
        kwargs: dict[str, Any] = dict(data)
        if "default_region" in kwargs:
            kwargs["default_region"] = region_config(kwargs["default_region"])
        if "regions" in kwargs:
            kwargs["regions"] = {k: region_config(v) for k, v in kwargs["regions"].items()}
        if "faults" in kwargs:
            kwargs["faults"] = [fault_rule(f) for f in kwargs["faults"]]
        if "deny_regions" in kwargs:
            kwargs["deny_regions"] = set(kwargs["deny_regions"])
        if kwargs.get("allow_regions") is not None:
            kwargs["allow_regions"] = set(kwargs["allow_regions"])
        if kwargs.get("routing", "weighted") not in get_args(Routing):
            raise ValueError(f"routing must be one of {get_args(Routing)}")
        return cls(**kwargs)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> EmulatorConfig:
        """Load a ``.json`` or ``.toml`` file."""
        p = Path(path)
        text = p.read_text(encoding="utf-8")
        data = _load_toml(text) if p.suffix.lower() == ".toml" else json.loads(text)
        return cls.from_mapping(data)

    def to_json(self) -> dict[str, Any]:
        """Plain data (sets as sorted lists), for the control endpoint."""
        out = dataclasses.asdict(self)
        out["deny_regions"] = sorted(self.deny_regions)
        out["allow_regions"] = None if self.allow_regions is None else sorted(self.allow_regions)
        return out


def region_config(data: Mapping[str, Any] | RegionConfig) -> RegionConfig:
    if isinstance(data, RegionConfig):
        return data
    _check_keys("region config", data, RegionConfig)
    return RegionConfig(**data)


def fault_rule(data: Mapping[str, Any] | FaultRule) -> FaultRule:
    if isinstance(data, FaultRule):
        return data
    _check_keys("fault", data, FaultRule)
    return FaultRule(**data)


def _check_keys(what: str, data: Mapping[str, Any], cls: type) -> None:
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ValueError(
            f"unknown {what} key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(valid))}"
        )


def _load_toml(text: str) -> dict[str, Any]:
    import tomllib

    result: dict[str, Any] = tomllib.loads(text)
    return result
