"""Embedded local Amazon Bedrock for demos, integration tests and benchmarks.

A real HTTP server speaking the wire protocols of bedrock-runtime (Converse, ConverseStream,
InvokeModel), the bedrock control plane (inference profiles, foundation models), CloudTrail
``LookupEvents`` and CloudWatch Logs ``FilterLogEvents``, with simulated Regions (CRIS routing,
capacity, latency, faults, SCP denies). Responses carry exactly what AWS sends; the served
Region is visible only where AWS shows it (CloudTrail, invocation logs) and in the emulator's
own wire log. CloudTrail and invocation logs can be delivered late (``cloudtrail_delay``,
``invocation_log_delay``), measured on an injectable clock: tests pass a :class:`ManualClock`
and advance it instead of sleeping.

The library never imports this package.

Example:
    .. code-block:: python

        from langchain_aws import ChatBedrockConverse
        from langchain_cris.emulator import LocalBedrock

        with LocalBedrock(seed=0) as bedrock:
            llm = ChatBedrockConverse(
                model="eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                region_name="eu-central-1",
                endpoint_url=bedrock.endpoint_url,
            )
            llm.invoke("Hello")
"""

from __future__ import annotations

from langchain_cris.emulator.clock import ManualClock
from langchain_cris.emulator.config import EmulatorConfig, FaultRule, RegionConfig
from langchain_cris.emulator.local import LocalBedrock
from langchain_cris.emulator.script import Script, ScriptedReply
from langchain_cris.emulator.wire_log import WireLog, WireRecord

__all__ = [
    "EmulatorConfig",
    "FaultRule",
    "LocalBedrock",
    "ManualClock",
    "RegionConfig",
    "Script",
    "ScriptedReply",
    "WireLog",
    "WireRecord",
]
