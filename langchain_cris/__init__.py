"""langchain-cris: residency-aware Amazon Bedrock cross-Region inference for LangChain.

Public API (pinned by ``tests/unit_tests/test_imports.py``).
"""

import sys

if sys.version_info < (3, 11):  # noqa: UP036 - pip refuses the install (requires-python)
    # Before 3.11 asyncio cannot start a task in a given context, so LangGraph cannot hand a
    # node's config to a model the node calls without one, and a tenant's policy from an agent's
    # context would not reach it: the residency guarantee would not hold in async agents.
    raise ImportError(
        f"langchain-cris needs Python 3.11 or newer (this is {sys.version.split()[0]}): before "
        "3.11 asyncio cannot give a task a context, so async agents could lose the policy"
    )

# Importing _plain_bedrock routes plain ChatBedrockConverse models under a policy in force.
from langchain_cris import _plain_bedrock  # noqa: F401
from langchain_cris.audit.records import ViolationEvent
from langchain_cris.audit.report import AuditReport, audit_files
from langchain_cris.binding import policy_from_config, with_residency
from langchain_cris.catalog import InferenceProfile, ProfileCatalog
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.embeddings import BedrockEmbeddingsCRIS
from langchain_cris.errors import (
    CatalogFallbackWarning,
    GuardrailLookupError,
    GuardrailResidencyViolation,
    InvalidModelIdentifierError,
    MissingSourceRegionError,
    ModelOverrideError,
    NoPolicyError,
    PolicyConflictError,
    PolicyError,
    PolicyFileError,
    ProfileNotAvailableError,
    ResidencyError,
    ResidencyViolation,
    ResidencyWarning,
    RouteRefusedError,
    SourceRegionNotAllowedError,
    TelemetryResidencyError,
    UnknownModelError,
    UnknownRegionError,
    UnroutableModelError,
)
from langchain_cris.guardrails import GuardrailCatalog
from langchain_cris.iam import (
    Grant,
    GrantPlan,
    IamDocument,
    InvalidAccountIdError,
    StatementInfo,
    build_guardrail_policy,
    build_identity_policy,
    build_scp,
    plan_grants,
)
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.routing import Route, RouteCandidate, resolve_route
from langchain_cris.tracing import CRISCallbackHandler
from langchain_cris.transport.async_support import (
    NativeAsyncUnavailableWarning,
    native_async_available,
)
from langchain_cris.transport.bedrock_errors import (
    BedrockAccessDeniedError,
    BedrockConnectionError,
    BedrockInvalidRequestError,
    BedrockModelNotFoundError,
    BedrockRateLimitError,
    BedrockServiceError,
    BedrockTimeoutError,
)

__version__ = "0.1.0"

# ``langchain_cris.middleware`` needs the ``agents`` extra (langchain, langgraph); load it only
# when one of its names is used, so the core install stays langchain-core + langchain-aws.
_LAZY = {
    "ResidencyMiddleware": "langchain_cris.middleware",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'langchain_cris' has no attribute {name!r}")
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            f"{name} needs the agents extra: pip install 'langchain-cris[agents]'"
        ) from exc


__all__ = [
    "AuditReport",
    "BedrockAccessDeniedError",
    "BedrockConnectionError",
    "BedrockEmbeddingsCRIS",
    "BedrockInvalidRequestError",
    "BedrockModelNotFoundError",
    "BedrockRateLimitError",
    "BedrockServiceError",
    "BedrockTimeoutError",
    "CRISCallbackHandler",
    "CatalogFallbackWarning",
    "ChatBedrockCRIS",
    "Grant",
    "GuardrailCatalog",
    "GuardrailLookupError",
    "GuardrailResidencyViolation",
    "GrantPlan",
    "IamDocument",
    "InferenceProfile",
    "InvalidAccountIdError",
    "InvalidModelIdentifierError",
    "MissingSourceRegionError",
    "ModelOverrideError",
    "NativeAsyncUnavailableWarning",
    "NoPolicyError",
    "PolicyConflictError",
    "PolicyError",
    "PolicyFileError",
    "ProfileCatalog",
    "ProfileNotAvailableError",
    "ResidencyError",
    "ResidencyMiddleware",
    "ResidencyPolicy",
    "ResidencyViolation",
    "ResidencyWarning",
    "Route",
    "RouteCandidate",
    "RouteRefusedError",
    "SourceRegionNotAllowedError",
    "StatementInfo",
    "TelemetryResidencyError",
    "UnknownModelError",
    "UnknownRegionError",
    "UnroutableModelError",
    "ViolationEvent",
    "__version__",
    "audit_files",
    "build_guardrail_policy",
    "build_identity_policy",
    "build_scp",
    "native_async_available",
    "plan_grants",
    "policy_from_config",
    "resolve_route",
    "with_residency",
]
