"""AWS service errors as the emulator raises them, and their exact wire form.

Handlers raise :class:`AwsError`; the server turns it into the bytes AWS would send, which differ
by protocol:

* rest-json (bedrock, bedrock-runtime): status from the service model, header
  ``x-amzn-ErrorType: <Code>:http://internal.amazon.com/coral/com.amazon.bedrock/`` and body
  ``{"message": "..."}``.
* json 1.1 (CloudTrail, CloudWatch Logs): status 400/500 and body ``{"__type": "<Code>",
  "message": "..."}``.

Status codes come from botocore's service models (``bedrock-runtime/2023-09-30``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

__all__ = [
    "BEDROCK_ERROR_NAMESPACE",
    "ON_DEMAND_NOT_SUPPORTED",
    "AwsError",
    "access_denied",
    "invalid_model_identifier",
    "on_demand_not_supported",
    "throttling",
    "validation",
]

Protocol = Literal["rest-json", "json"]

BEDROCK_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"

#: Status codes per error code, from the bedrock / bedrock-runtime service models.
STATUS: dict[str, int] = {
    "AccessDeniedException": 403,
    "ConflictException": 400,
    "InternalServerException": 500,
    "ModelErrorException": 424,
    "ModelNotReadyException": 429,
    "ModelStreamErrorException": 424,
    "ModelTimeoutException": 408,
    "ResourceNotFoundException": 404,
    "ServiceQuotaExceededException": 400,
    "ServiceUnavailableException": 503,
    "ThrottlingException": 429,
    "ValidationException": 400,
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "UnknownOperationException": 404,
    "SerializationException": 400,
}

#: Verbatim AWS text (note the U+2019 apostrophe in "isn\u2019t").
ON_DEMAND_NOT_SUPPORTED = (
    "Invocation of model ID {model_id} with on-demand throughput isn\u2019t supported. Retry "
    "your request with the ID or ARN of an inference profile that contains this model."
)
INVALID_MODEL_IDENTIFIER = "The provided model identifier is invalid."
THROTTLING_MESSAGE = "Too many requests, please wait before trying again."


class AwsError(Exception):
    """An error the emulator answers with, exactly as AWS would.

    Args:
        code: AWS error code (``ValidationException`` …); also the ``x-amzn-ErrorType`` name.
        message: The ``message`` member of the body.
        status: HTTP status; defaults to the service model's code for ``code``.
        extra: Further body members (e.g. ``originalStatusCode``).
    """

    def __init__(self, code: str, message: str, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else STATUS.get(code, 400)
        self.extra = extra

    def wire(self, protocol: Protocol = "rest-json") -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, headers and body for ``protocol``."""
        if protocol == "json":
            status = self.status if self.status >= 500 else 400
            body = {"__type": self.code, "message": self.message, **self.extra}
            headers = [("Content-Type", "application/x-amz-json-1.1")]
            return status, headers, json.dumps(body).encode("utf-8")
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", f"{self.code}:{BEDROCK_ERROR_NAMESPACE}"),
        ]
        payload = json.dumps({"message": self.message, **self.extra}, ensure_ascii=False)
        return self.status, headers, payload.encode("utf-8")


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def invalid_model_identifier() -> AwsError:
    return validation(INVALID_MODEL_IDENTIFIER)


def on_demand_not_supported(model_id: str) -> AwsError:
    return validation(ON_DEMAND_NOT_SUPPORTED.format(model_id=model_id))


def throttling(message: str = THROTTLING_MESSAGE) -> AwsError:
    return AwsError("ThrottlingException", message)


def access_denied(principal_arn: str, action: str, resource_arn: str) -> AwsError:
    """The SCP explicit-deny message naming the *destination* Region's model ARN."""
    return AwsError(
        "AccessDeniedException",
        f"User: {principal_arn} is not authorized to perform: {action} on resource: "
        f"{resource_arn} with an explicit deny in a service control policy",
    )
