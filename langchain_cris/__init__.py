"""langchain-cris: residency-aware Amazon Bedrock cross-Region inference for LangChain.

Public API (pinned by ``tests/unit_tests/test_imports.py``).
"""

from langchain_cris.catalog import InferenceProfile, ProfileCatalog
from langchain_cris.errors import (
    InvalidModelIdentifierError,
    NoPolicyError,
    PolicyConflictError,
    PolicyError,
    PolicyFileError,
    ProfileNotAvailableError,
    ResidencyError,
    ResidencyViolation,
    RouteRefusedError,
    SourceRegionNotAllowedError,
    UnknownModelError,
    UnknownRegionError,
)
from langchain_cris.iam import (
    Grant,
    GrantPlan,
    IamDocument,
    InvalidAccountIdError,
    StatementInfo,
    build_identity_policy,
    build_scp,
    plan_grants,
)
from langchain_cris.policy import ResidencyPolicy
from langchain_cris.routing import Route, RouteCandidate, resolve_route

__version__ = "0.1.0"

__all__ = [
    "Grant",
    "GrantPlan",
    "IamDocument",
    "InferenceProfile",
    "InvalidAccountIdError",
    "InvalidModelIdentifierError",
    "NoPolicyError",
    "PolicyConflictError",
    "PolicyError",
    "PolicyFileError",
    "ProfileCatalog",
    "ProfileNotAvailableError",
    "ResidencyError",
    "ResidencyPolicy",
    "ResidencyViolation",
    "Route",
    "RouteCandidate",
    "RouteRefusedError",
    "SourceRegionNotAllowedError",
    "StatementInfo",
    "UnknownModelError",
    "UnknownRegionError",
    "__version__",
    "build_identity_policy",
    "build_scp",
    "plan_grants",
    "resolve_route",
]
