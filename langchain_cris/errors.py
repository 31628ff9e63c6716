"""Errors raised by langchain-cris.

Every refusal is raised *before* any network call and is a ``ResidencyError``, itself a
``ValueError`` so that code which already guards bad model ids keeps working::

    ResidencyError(ValueError)                  root: anything residency refuses
    ├── PolicyError                             the policy itself is unusable
    │   ├── PolicyFileError                     a policy file/env var cannot be read or has a typo
    │   ├── PolicyConflictError                 combine() left no Region (names both policies)
    │   └── NoPolicyError                       a call found no policy and no default
    ├── UnknownRegionError                      a Region name that no partition has
    ├── MissingSourceRegionError                no region_name / AWS_REGION: nothing to check
    ├── InvalidModelIdentifierError             malformed ARN, unknown profile prefix
    ├── ModelOverrideError                      a per-call model override in a spelling we refuse
    ├── UnroutableModelError                    a non-Bedrock model where a policy is in force
    ├── UnknownModelError                       no such model/profile in the catalog (close matches)
    └── RouteRefusedError                       the model exists but the call may not be sent
        ├── SourceRegionNotAllowedError         the client's Region is outside the policy
        ├── ProfileNotAvailableError            the profile cannot be called from that Region
        ├── ResidencyViolation                  destinations(profile, source) ⊄ policy
        │   └── GuardrailResidencyViolation     the call's guardrail profile reaches outside
        ├── GuardrailLookupError                the guardrail's cross-Region config is unknown
        └── TelemetryResidencyError             traces would carry the prompt outside the policy

    ResidencyWarning(UserWarning)               telemetry="warn": traced outside the policy
    CatalogFallbackWarning(UserWarning)         live routes unavailable: judged by the bundle

Errors that come back from Bedrock are not residency errors; the chat model maps them in one
place (see ``chat_models``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "CatalogFallbackWarning",
    "GuardrailLookupError",
    "GuardrailResidencyViolation",
    "InvalidModelIdentifierError",
    "MissingSourceRegionError",
    "ModelOverrideError",
    "NoPolicyError",
    "PolicyConflictError",
    "PolicyError",
    "PolicyFileError",
    "ProfileNotAvailableError",
    "ResidencyError",
    "ResidencyViolation",
    "ResidencyWarning",
    "RouteRefusedError",
    "SourceRegionNotAllowedError",
    "TelemetryResidencyError",
    "UnknownModelError",
    "UnknownRegionError",
    "UnroutableModelError",
]


def _fmt(items: Iterable[str]) -> str:
    items = sorted(items)
    return ", ".join(items) if items else "(none)"


class ResidencyError(ValueError):
    """Root of every refusal made by langchain-cris (always raised before sending)."""


class PolicyError(ResidencyError):
    """The residency policy cannot be built or used."""


class PolicyFileError(PolicyError):
    """A policy file (or the environment variable naming one) is unreadable or invalid."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class PolicyConflictError(PolicyError):
    """Combining two policies left an empty set of Regions."""

    def __init__(self, first: str, second: str, what: str) -> None:
        self.first = first
        self.second = second
        super().__init__(
            f"policies {first!r} and {second!r} have no {what} in common; "
            "a nested binding can only narrow the outer policy, never replace it"
        )


class NoPolicyError(PolicyError):
    """A call found no residency policy bound to its chain and the model has no default."""


class UnknownRegionError(ResidencyError):
    """A Region name that is not in the bundled Region table."""

    def __init__(self, region: str, known: Sequence[str], suggestions: Sequence[str] = ()) -> None:
        self.region = region
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown AWS Region {region!r}.{hint} Known Regions: {_fmt(known)}")


class MissingSourceRegionError(ResidencyError):
    """No source Region is configured, so no route can be checked against the policy."""


class InvalidModelIdentifierError(ResidencyError):
    """The model string is neither a model id, a profile id nor a Bedrock ARN."""


class ModelOverrideError(ResidencyError):
    """A per-call or bound kwarg would override the model id, in a spelling that is refused.

    langchain-aws camel-cases every kwarg (``model_ID``, ``model__id`` and ``model_id_`` all
    become Converse's ``modelId``), so a kwarg is judged by the key it becomes, not by how it
    is written. ``model``, ``model_id`` and ``modelId`` are model overrides (routed under the
    policy like the constructor's model); any other spelling, several overrides that disagree,
    or a non-string value is refused, so that no request goes out under an id nobody checked.
    """

    def __init__(self, key: str, value: object, why: str) -> None:
        self.key = key
        self.value = value
        super().__init__(
            f"per-call kwarg {key}={value!r} {why}. Pass the model as model=... (or model_id=/"
            "modelId=), once; it is then routed under the residency policy"
        )


class UnroutableModelError(ResidencyError):
    """A chat model that no residency policy can route ran where a policy is in force.

    Raised before the model is called (by ``ResidencyMiddleware`` for an agent's model, and
    inside ``with_residency`` for any other chat model or LLM). Attributes: ``model_type``.
    """

    def __init__(self, model_type: str, where: str = "ResidencyMiddleware") -> None:
        self.model_type = model_type
        super().__init__(
            f"{where} can only route ChatBedrockCRIS or ChatBedrockConverse models; "
            f"this model is a {model_type}. Use ChatBedrockCRIS(model=..., region_name=...), "
            "or pass allow_non_bedrock=True to let this model through unchecked (its calls "
            "are then outside any residency guarantee)."
        )


class UnknownModelError(ResidencyError):
    """The model or profile is not in the catalog."""

    def __init__(self, model: str, suggestions: Sequence[str] = (), hint: str = "") -> None:
        self.model = model
        self.suggestions = tuple(suggestions)
        msg = f"unknown Bedrock model or inference profile {model!r}"
        if suggestions:
            msg += f"; close matches: {', '.join(suggestions)}"
        if hint:
            msg += f". {hint}"
        super().__init__(msg)


class RouteRefusedError(ResidencyError):
    """The model is known but this call may not be sent under the policy."""

    def __init__(
        self,
        message: str,
        *,
        model: str,
        source_region: str,
        policy_name: str,
        outside_regions: Iterable[str] = (),
        alternatives: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.source_region = source_region
        self.policy_name = policy_name
        self.outside_regions = frozenset(outside_regions)
        self.alternatives = tuple(alternatives)
        if repr(policy_name) not in message:
            message += f" (policy {policy_name!r})"
        if alternatives:
            message += " What would comply: " + "; ".join(alternatives) + "."
        else:
            message += " Nothing in the catalog complies with this policy for this model."
        super().__init__(message)


class SourceRegionNotAllowedError(RouteRefusedError):
    """The client would call Bedrock from a Region the policy does not allow as a source."""


class ProfileNotAvailableError(RouteRefusedError):
    """The inference profile cannot be called from the requested source Region."""


class ResidencyViolation(RouteRefusedError):
    """The call could be processed in a Region outside the policy."""


class GuardrailResidencyViolation(ResidencyViolation):
    """The call's guardrail would be evaluated in a Region outside the policy.

    A guardrail with a *guardrail profile* (``crossRegionConfig``) has the prompt and the reply
    evaluated in any destination Region of that profile for the source Region, whatever the
    model's own route is.
    """

    def __init__(
        self,
        message: str,
        *,
        guardrail_id: str,
        guardrail_version: str,
        guardrail_profile_id: str | None,
        model: str,
        source_region: str,
        policy_name: str,
        outside_regions: Iterable[str] = (),
        alternatives: Sequence[str] = (),
    ) -> None:
        self.guardrail_id = guardrail_id
        self.guardrail_version = guardrail_version
        self.guardrail_profile_id = guardrail_profile_id
        super().__init__(
            message,
            model=model,
            source_region=source_region,
            policy_name=policy_name,
            outside_regions=outside_regions,
            alternatives=alternatives,
        )


class GuardrailLookupError(RouteRefusedError):
    """Where the call's guardrail runs cannot be told (``GetGuardrail`` failed or found none).

    Fail closed: a guardrail whose cross-Region config is unknown may be evaluated anywhere.
    """

    def __init__(
        self,
        message: str,
        *,
        guardrail_id: str,
        guardrail_version: str,
        model: str,
        source_region: str,
        policy_name: str,
        alternatives: Sequence[str] = (),
    ) -> None:
        self.guardrail_id = guardrail_id
        self.guardrail_version = guardrail_version
        super().__init__(
            message,
            model=model,
            source_region=source_region,
            policy_name=policy_name,
            alternatives=alternatives,
        )


class TelemetryResidencyError(ResidencyError):
    """The call would be traced (with its inputs/outputs) to an endpoint the policy does not allow.

    Raised by ``telemetry="refuse"`` before anything is sent to Bedrock or to the endpoint.
    """

    def __init__(self, message: str, *, policy_name: str, endpoints: Iterable[str]) -> None:
        self.policy_name = policy_name
        self.endpoints = tuple(sorted(set(endpoints)))
        super().__init__(message)


class ResidencyWarning(UserWarning):
    """A call is allowed but moves data outside the policy (``telemetry="warn"``)."""


class CatalogFallbackWarning(UserWarning):
    """Live route refresh failed; the calls are judged by the bundled (or given) catalog.

    Raised once per endpoint. Routing stays fail-closed: the base rows are AWS's documented
    routes as of their retrieval date, and a call outside the policy is still refused.
    """
