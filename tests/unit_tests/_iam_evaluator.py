"""A small IAM/SCP evaluator, enough to check the documents ``langchain_cris.iam`` generates.

It implements the parts of AWS's policy evaluation logic those documents use, strictly:

* ``Allow``/``Deny`` statements with ``Action`` and ``Resource`` (string or list, ``*``/``?``
  wildcards; actions match case-insensitively, resources case-sensitively);
* condition operators ``StringEquals``, ``StringNotEquals``, ``StringLike``, ``ArnLike`` and
  ``Null``; every operator in a block and every key in an operator must match (AND), any value
  of a key's list may match (OR); a missing key fails positive operators and satisfies
  ``StringNotEquals`` (AWS's rule for negated operators);
* an explicit ``Deny`` wins over any ``Allow``; no matching ``Allow`` is an implicit deny.

Anything else (``NotAction``, ``NotResource``, ``Principal``, other operators, ``...IfExists``)
raises ``UnsupportedPolicyElement`` so that a generator change cannot silently pass.

:func:`cris_call_requests` turns one call into the authorization requests AWS evaluates for it
(the user guide's three resources for geographic profiles and the three-part form for global
ones); a call succeeds only if every request is allowed by the identity policy and not denied
by the SCP.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Decision",
    "Request",
    "UnsupportedPolicyElement",
    "call_permitted",
    "cris_call_requests",
    "evaluate",
    "scp_denies",
]

Decision = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]

PROFILE_ARN_KEY = "bedrock:InferenceProfileArn"
REGION_KEY = "aws:RequestedRegion"
_SUPPORTED_KEYS = frozenset({"Sid", "Effect", "Action", "Resource", "Condition"})


class UnsupportedPolicyElement(ValueError):
    """The document uses something this evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    """One authorization request: action, resource ARN and request context keys."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise UnsupportedPolicyElement(f"expected a string or list of strings, got {value!r}")


def _like(value: str, pattern: str) -> bool:
    """IAM wildcard match (``*`` any run, ``?`` one character); literal patterns compare fast."""
    if "*" not in pattern and "?" not in pattern:
        return value == pattern
    return fnmatch.fnmatchcase(value, pattern)


def _condition_matches(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, block in condition.items():
        for key, raw in block.items():
            values = _as_list(raw)
            present = key in context
            actual = context.get(key, "")
            if operator == "StringEquals":
                ok = present and actual in values
            elif operator == "StringNotEquals":
                ok = not present or actual not in values
            elif operator in ("StringLike", "ArnLike"):
                ok = present and any(_like(actual, v) for v in values)
            elif operator == "Null":
                if values not in (["true"], ["false"]):
                    raise UnsupportedPolicyElement(f"Null takes 'true' or 'false', got {raw!r}")
                ok = (not present) if values == ["true"] else present
            else:
                raise UnsupportedPolicyElement(f"condition operator {operator!r}")
            if not ok:
                return False
    return True


def _statement_matches(statement: Mapping[str, Any], request: Request) -> bool:
    extra = set(statement) - _SUPPORTED_KEYS
    if extra:
        raise UnsupportedPolicyElement(f"statement elements {sorted(extra)}")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise UnsupportedPolicyElement(f"Effect {statement.get('Effect')!r}")
    actions = _as_list(statement["Action"])
    if not any(_like(request.action.lower(), a.lower()) for a in actions):
        return False
    resources = _as_list(statement["Resource"])
    if not any(_like(request.resource, r) for r in resources):
        return False
    return _condition_matches(statement.get("Condition", {}), request.context)


def _statements(document: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    if document.get("Version") != "2012-10-17":
        raise UnsupportedPolicyElement(f"Version {document.get('Version')!r}")
    statements = document["Statement"]
    return [statements] if isinstance(statements, Mapping) else statements


def evaluate(documents: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    """AWS's order: an explicit deny anywhere wins, then any allow, else implicit deny."""
    allowed = False
    for document in documents:
        for statement in _statements(document):
            if _statement_matches(statement, request):
                if statement["Effect"] == "Deny":
                    return "ExplicitDeny"
                allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def scp_denies(scp: Mapping[str, Any], request: Request) -> bool:
    """SCPs here only deny; allowing is left to the default ``FullAWSAccess`` SCP."""
    return evaluate([scp], request) == "ExplicitDeny"


def cris_call_requests(
    *,
    action: str,
    model_id: str,
    source_region: str,
    destination_regions: Iterable[str],
    profile_arn: str | None,
    global_profile: bool = False,
    partition: str = "aws",
) -> list[Request]:
    """The requests AWS authorizes for one call (all must pass).

    * In-Region call (``profile_arn`` is None): the foundation model in the source Region, with
      no ``bedrock:InferenceProfileArn`` in the context.
    * Geographic profile: the profile in the source Region (``aws:RequestedRegion`` = source,
      no profile key), then the foundation model in the source Region and in every destination
      Region, each with ``bedrock:InferenceProfileArn`` and ``aws:RequestedRegion`` = that Region.
    * Global profile: the profile and the in-Region model as above, then the Region-less
      foundation-model ARN with ``aws:RequestedRegion`` = ``unspecified``.
    """

    def fm(region: str) -> str:
        return f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}"

    if profile_arn is None:
        return [Request(action, fm(source_region), {REGION_KEY: source_region})]
    out = [Request(action, profile_arn, {REGION_KEY: source_region})]
    via = {PROFILE_ARN_KEY: profile_arn}
    out.append(Request(action, fm(source_region), {REGION_KEY: source_region, **via}))
    if global_profile:
        out.append(
            Request(
                action,
                f"arn:aws:bedrock:::foundation-model/{model_id}",
                {REGION_KEY: "unspecified", **via},
            )
        )
    else:
        for region in sorted(set(destination_regions) - {source_region}):
            out.append(Request(action, fm(region), {REGION_KEY: region, **via}))
    return out


def call_permitted(
    requests: Iterable[Request],
    identity: Mapping[str, Any] | None,
    scp: Mapping[str, Any] | None = None,
) -> bool:
    """True when every request is allowed by ``identity`` and none is denied by ``scp``.

    ``identity=None`` checks the SCP alone (as if the principal had ``*`` permissions).
    """
    for request in requests:
        if identity is not None and evaluate([identity], request) != "Allow":
            return False
        if scp is not None and scp_denies(scp, request):
            return False
    return True
