"""``LocalBedrock``: the embedded local Bedrock, started in a background thread.

Unmodified boto3 and ``langchain_aws.ChatBedrockConverse`` talk to it through ``endpoint_url``
(or ``AWS_ENDPOINT_URL``); the Region a client signs for is the source Region of the call.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from langchain_cris.emulator.app import Emulator
from langchain_cris.emulator.clock import Clock
from langchain_cris.emulator.config import (
    EmulatorConfig,
    FaultKind,
    FaultRule,
    RegionConfig,
    Routing,
)
from langchain_cris.emulator.script import Script
from langchain_cris.emulator.server import EmulatorServer
from langchain_cris.emulator.state import EmulatorState
from langchain_cris.emulator.wire_log import WireLog

__all__ = ["FAKE_CREDENTIALS", "LocalBedrock"]


class _Keep:
    """Sentinel: keep the value from ``config``."""


_KEEP = _Keep()

#: Fake credentials the emulator accepts (it never checks signatures).
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDLOCALBEDROCK", "AWS_SECRET_ACCESS_KEY": "local"}


class LocalBedrock:
    """A real HTTP server on 127.0.0.1 speaking Bedrock's, CloudTrail's and Logs' wire protocols.

    Args:
        config: An :class:`EmulatorConfig`, plain mapping, or path to a JSON/TOML file.
        seed: Seed for routing, jitter and fault draws (``None`` = nondeterministic).
        host: Interface to bind.
        port: TCP port (0 = a free one; see :attr:`endpoint_url`).
        routing: ``weighted`` or ``source-first``.
        regions: Per-Region capacity/latency/outage settings.
        default_region: Settings of every Region not in ``regions``.
        faults: Injected faults.
        deny_regions: Simulated SCP deny list of Regions.
        allow_regions: Simulated SCP allow-list (every other Region denied).
        cloudtrail_delay: Seconds (on ``clock``) before a CloudTrail event is delivered, i.e.
            returned by LookupEvents and :meth:`cloudtrail_events`.
        invocation_log_delay: Seconds (on ``clock``) before an invocation-log record is
            returned by FilterLogEvents and :meth:`invocation_logs`.
        invocation_log_dir: Also write invocation logs as JSON lines here.
        profiles: Serve inference-profile routes from this snapshot (a ``ProfileCatalog``
            file, e.g. the bundle with one profile widened) instead of the bundled catalog —
            to rehearse AWS changing a profile.
        clock: What the two delivery delays are measured on: a zero-argument callable
            returning seconds (default :func:`time.monotonic`). Pass a
            :class:`~langchain_cris.emulator.ManualClock` and ``advance()`` it to deliver
            records exactly when a test says so. It decides delivery only (event times stay
            wall-clock epochs) and, being a Python object, works in-process only.

    Example:
        .. code-block:: python

            with LocalBedrock(seed=0) as bedrock:
                client = bedrock.client("bedrock-runtime", "eu-central-1")
                client.converse(
                    modelId="eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    messages=[{"role": "user", "content": [{"text": "Hello"}]}],
                )
                bedrock.wire_log.runtime()[-1].served_region  # e.g. "eu-west-3"
    """

    def __init__(
        self,
        config: EmulatorConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        seed: int | _Keep | None = _KEEP,
        host: str | None = None,
        port: int | None = None,
        routing: Routing | None = None,
        regions: Mapping[str, RegionConfig | Mapping[str, Any]] | None = None,
        default_region: RegionConfig | Mapping[str, Any] | None = None,
        faults: Iterable[FaultRule | Mapping[str, Any]] | None = None,
        deny_regions: Iterable[str] | None = None,
        allow_regions: Iterable[str] | None = None,
        cloudtrail_delay: float | None = None,
        invocation_log_delay: float | None = None,
        invocation_log_dir: str | os.PathLike[str] | None = None,
        profiles: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        base = _load_config(config)
        overrides: dict[str, Any] = {
            "host": host,
            "port": port,
            "routing": routing,
            "regions": dict(regions) if regions is not None else None,
            "default_region": default_region,
            "faults": list(faults) if faults is not None else None,
            "deny_regions": list(deny_regions) if deny_regions is not None else None,
            "allow_regions": list(allow_regions) if allow_regions is not None else None,
            "cloudtrail_delay": cloudtrail_delay,
            "invocation_log_delay": invocation_log_delay,
            "invocation_log_dir": os.fspath(invocation_log_dir) if invocation_log_dir else None,
            "catalog_path": os.fspath(profiles) if profiles is not None else None,
        }
        if not isinstance(seed, _Keep):
            overrides["seed"] = seed
        merged = {**_as_mapping(base), **{k: v for k, v in overrides.items() if v is not None}}
        if "seed" in overrides:
            merged["seed"] = overrides["seed"]
        self.config = EmulatorConfig.from_mapping(merged)
        if clock is not None and not callable(clock):
            raise TypeError(
                f"clock must be a zero-argument callable returning seconds "
                f"(e.g. time.monotonic or ManualClock()), got {type(clock).__name__}"
            )
        #: Measures the delivery delays (``cloudtrail_delay``, ``invocation_log_delay``).
        self.clock: Clock = clock if clock is not None else time.monotonic
        self.state = EmulatorState.create(self.config, clock=self.clock)
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> LocalBedrock:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            return self
        self.state.stopping.clear()
        server = EmulatorServer((self.config.host, self.config.port), Emulator(self.state))
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"local-bedrock:{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread (idempotent)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self.state.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> LocalBedrock:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait(self) -> None:
        """Block until :meth:`stop` is called from another thread (or Ctrl-C)."""
        self.state.stopping.wait()

    # -- addresses ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LocalBedrock is not running; call start() or use `with`")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def env(self, region: str = "eu-central-1") -> dict[str, str]:
        """Environment variables that point unmodified AWS SDKs at this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": region,
        }

    def client(self, service: str, region: str = "eu-central-1", **kwargs: Any) -> Any:
        """A boto3 client for ``service`` signed for ``region`` (the call's source Region)."""
        import boto3

        kwargs.setdefault("aws_access_key_id", FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"])
        kwargs.setdefault("aws_secret_access_key", FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        factory: Any = boto3.client  # typed per service by boto3-stubs; ``service`` is dynamic
        return factory(service, region_name=region, endpoint_url=self.endpoint_url, **kwargs)

    # -- observation ---------------------------------------------------------------------------
    @property
    def wire_log(self) -> WireLog:
        return self.state.wire_log

    @property
    def peak_in_flight(self) -> int:
        """Most requests the server was handling at once (introspection; AWS has no such API).

        With a long simulated latency, this shows how many calls a client really keeps in
        flight, without any timing threshold in the test.
        """
        return self._running_server().peak_in_flight

    def wait_in_flight(self, count: int, timeout: float = 60.0) -> bool:
        """Block until ``count`` requests are in flight at once; ``False`` after ``timeout``."""
        return self._running_server().wait_in_flight(count, timeout)

    def _running_server(self) -> EmulatorServer:
        if self._server is None:
            raise RuntimeError("LocalBedrock is not running; call start() or use `with`")
        return self._server

    @property
    def script(self) -> Script:
        return self.state.script

    def cloudtrail_events(
        self, region: str, *, include_pending: bool = False
    ) -> list[dict[str, Any]]:
        """Full CloudTrail records in ``region``'s trail, oldest first."""
        return self.state.cloudtrail.events(region, include_pending=include_pending)

    def invocation_logs(
        self, region: str, *, include_pending: bool = False
    ) -> list[dict[str, Any]]:
        """Model invocation-log records of ``region``, oldest first."""
        return self.state.invocation_logs.records(region, include_pending=include_pending)

    # -- simulation controls -------------------------------------------------------------------
    def set_region(self, region: str, **changes: Any) -> RegionConfig:
        """Change one Region's settings (fields of :class:`RegionConfig`)."""
        self.state.catalog.regions.check(region)
        current = self.config.region(region)
        updated = dataclasses.replace(current, **changes)
        self.config.regions[region] = updated
        return updated

    def outage(self, region: str, down: bool = True) -> None:
        """Take a whole Region down (it acts full; CRIS routes around it) or bring it back."""
        self.set_region(region, outage=down)

    def inject(self, kind: FaultKind, **options: Any) -> FaultRule:
        """Add a fault rule (options as in :class:`FaultRule`) and return it."""
        rule = FaultRule(kind=kind, **options)
        self.config.faults.append(rule)
        return rule

    def throttle(
        self, region: str | None = None, *, probability: float = 1.0, times: int | None = None
    ) -> FaultRule:
        """Make ``region`` (or every Region) refuse requests as if over quota."""
        return self.inject("throttle", region=region, probability=probability, times=times)

    def clear_faults(self) -> None:
        self.config.faults.clear()

    def deny(self, *regions: str) -> None:
        """Simulated SCP: explicitly deny invoking models in ``regions`` (adds to the list)."""
        self.config.deny_regions.update(regions)

    def allow_only(self, *regions: str) -> None:
        """Simulated SCP allow-list: deny every Region not listed."""
        self.config.allow_regions = set(regions)

    def clear_scp(self) -> None:
        self.config.deny_regions.clear()
        self.config.allow_regions = None

    def reset(self) -> None:
        """Forget all traffic, logs, scripts, capacity use and application profiles."""
        self.state.reset()

    def __repr__(self) -> str:
        where = self.endpoint_url if self._server is not None else "stopped"
        return f"LocalBedrock({where}, seed={self.config.seed!r})"


def _load_config(
    config: EmulatorConfig | Mapping[str, Any] | str | os.PathLike[str] | None,
) -> EmulatorConfig:
    if config is None:
        return EmulatorConfig()
    if isinstance(config, EmulatorConfig):
        return config
    if isinstance(config, Mapping):
        return EmulatorConfig.from_mapping(config)
    return EmulatorConfig.from_file(config)


def _as_mapping(config: EmulatorConfig) -> dict[str, Any]:
    """Shallow field mapping (nested dataclasses kept as objects, so nothing is lost)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
