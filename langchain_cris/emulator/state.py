"""Everything one emulator instance remembers, in one place so ``reset()`` is obviously complete."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from langchain_cris.catalog import ProfileCatalog
from langchain_cris.emulator.clock import Clock
from langchain_cris.emulator.cloudtrail import CloudTrail
from langchain_cris.emulator.config import EmulatorConfig
from langchain_cris.emulator.guardrails import GuardrailStore
from langchain_cris.emulator.invocation_logs import InvocationLogs
from langchain_cris.emulator.script import Script
from langchain_cris.emulator.simulation import Simulation
from langchain_cris.emulator.wire_log import WireLog

__all__ = ["EmulatorState", "load_catalog"]


def load_catalog(config: EmulatorConfig) -> ProfileCatalog:
    """A private catalog (application profiles are added to it, never to a shared one)."""
    if config.catalog_path:
        return ProfileCatalog.from_file(config.catalog_path)
    return ProfileCatalog.bundled()


@dataclass
class EmulatorState:
    """Shared by all handler threads; each member is thread-safe on its own."""

    config: EmulatorConfig
    catalog: ProfileCatalog
    simulation: Simulation
    cloudtrail: CloudTrail
    invocation_logs: InvocationLogs
    wire_log: WireLog = field(default_factory=WireLog)
    script: Script = field(default_factory=Script)
    #: Set on shutdown; every simulated wait (latency, hangs) wakes up on it.
    stopping: threading.Event = field(default_factory=threading.Event)
    #: Application profiles: ARN -> (name, description, tags, created epoch).
    application_profiles: dict[str, dict[str, object]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Guardrails per Region (``CreateGuardrail``), applied on Converse/ConverseStream.
    guardrails: GuardrailStore = field(default_factory=GuardrailStore)

    @classmethod
    def create(cls, config: EmulatorConfig, *, clock: Clock = time.monotonic) -> EmulatorState:
        """Fresh state; ``clock`` measures the CloudTrail and invocation-log delivery delays."""
        logs = InvocationLogs(
            config.log_group,
            delay=config.invocation_log_delay,
            directory=config.invocation_log_dir,
            clock=clock,
        )
        logs.enabled = config.invocation_logging
        return cls(
            config=config,
            catalog=load_catalog(config),
            simulation=Simulation(config, config.seed),
            cloudtrail=CloudTrail(
                config.cloudtrail_delay,
                lookup_completions=config.cloudtrail_lookup_completions,
                clock=clock,
            ),
            invocation_logs=logs,
        )

    def reset(self) -> None:
        """Forget all traffic, scripts, capacity use and application profiles."""
        self.catalog = load_catalog(self.config)
        self.simulation.reset(self.config.seed)
        self.cloudtrail.clear()
        self.invocation_logs.clear()
        self.wire_log.clear()
        self.script.clear()
        self.guardrails.clear()
        with self.lock:
            self.application_profiles.clear()
