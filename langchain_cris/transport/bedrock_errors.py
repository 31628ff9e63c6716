"""Errors that come back from Bedrock: classified for failover and translated in one place.

Residency refusals never get here (they are raised before sending). What does get here is what
boto3 raises, and the chat model hands every such exception to :func:`translate_error`, which
maps it through ``_CLIENT_ERROR_TYPES`` onto a class with two parents, the boto3 type (so code
that already catches ``ClientError`` keeps working) and LangChain's standard type (so code that
catches ``ModelRateLimitError`` works across providers)::

    ClientError ─┬─ BedrockRateLimitError          ThrottlingException, ModelNotReadyException,
                 │   (+ ModelRateLimitError)        ServiceQuotaExceededException
                 ├─ BedrockServiceError             ServiceUnavailableException,
                 │   (+ ModelAPIError)              InternalServerException, ModelErrorException
                 ├─ BedrockTimeoutError             ModelTimeoutException
                 │   (+ ModelTimeoutError)
                 ├─ BedrockAccessDeniedError        AccessDeniedException
                 │   (+ ModelPermissionDeniedError)
                 ├─ BedrockModelNotFoundError       ResourceNotFoundException
                 │   (+ ModelNotFoundError)
                 └─ BedrockInvalidRequestError      ValidationException
                     (+ ModelInvalidRequestError)
    botocore ConnectionError ── BedrockConnectionError (+ ModelConnectionError)
                                endpoint unreachable, connection closed/reset, read timeout

Which failures move the call to the next in-policy candidate (:data:`FAILOVER_CODES`):
throttling, ``ModelNotReadyException``, ``ServiceUnavailableException``,
``InternalServerException`` (a 5xx of the Region's front end: the request was not served, and
AWS SDK standard retry mode treats it as transient too) and connection errors. Not
``ModelTimeoutException`` or ``ModelErrorException``: the model itself failed on this input, and
sending it elsewhere would most likely fail the same way, at the same cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    ResponseStreamingError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from langchain_core.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelError,
    ModelInvalidRequestError,
    ModelNotFoundError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from urllib3.exceptions import ProtocolError

__all__ = [
    "CONNECTION_ERROR",
    "FAILOVER_CODES",
    "BedrockAccessDeniedError",
    "BedrockConnectionError",
    "BedrockInvalidRequestError",
    "BedrockModelNotFoundError",
    "BedrockRateLimitError",
    "BedrockServiceError",
    "BedrockTimeoutError",
    "error_code",
    "is_failover_code",
    "request_id_of",
    "translate_error",
]

#: Outcome recorded for a transport failure (no AWS error code exists for it).
CONNECTION_ERROR = "ConnectionError"

FAILOVER_CODES = frozenset(
    {
        "ThrottlingException",
        "ModelNotReadyException",
        "ServiceUnavailableException",
        "InternalServerException",
        CONNECTION_ERROR,
    }
)

# Transport failures: nothing was served, so trying another Region is safe.
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    BotoConnectionError,  # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError
    HTTPClientError,  # ConnectionClosedError, ReadTimeoutError
    ResponseStreamingError,  # connection dropped while reading a stream
    ProtocolError,  # urllib3: connection reset mid-response
    ConnectionError,  # builtin; langchain-aws raises it for a stream without messageStop
)


class _TwoParentClientError(ClientError):
    """A ``ClientError`` that pickles back to its own type (boto3's ``__reduce__`` does not)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.response, self.operation_name)


class BedrockRateLimitError(_TwoParentClientError, ModelRateLimitError):
    """Bedrock refused for capacity or quota (HTTP 429) in every Region that was tried."""


class BedrockServiceError(_TwoParentClientError, ModelAPIError):
    """Bedrock or the model reported a server-side failure (HTTP 5xx, 424)."""


class BedrockTimeoutError(_TwoParentClientError, ModelTimeoutError):
    """The model took too long (``ModelTimeoutException``, HTTP 408)."""


class BedrockAccessDeniedError(_TwoParentClientError, ModelPermissionDeniedError):
    """IAM or an SCP denied the call; the message names the denied destination Region."""


class BedrockModelNotFoundError(_TwoParentClientError, ModelNotFoundError):
    """The model or profile does not exist in the account or Region (HTTP 404)."""


class BedrockInvalidRequestError(_TwoParentClientError, ModelInvalidRequestError):
    """Bedrock rejected the request as invalid (``ValidationException``, HTTP 400)."""


class BedrockConnectionError(BotoConnectionError, ModelConnectionError):
    """Bedrock could not be reached (or the connection broke) from any Region tried."""

    fmt = "Could not reach Bedrock in any Region tried: {error}"


_CLIENT_ERROR_TYPES: dict[str, type[_TwoParentClientError]] = {
    "ThrottlingException": BedrockRateLimitError,
    "ModelNotReadyException": BedrockRateLimitError,
    "ServiceQuotaExceededException": BedrockRateLimitError,
    "ServiceUnavailableException": BedrockServiceError,
    "InternalServerException": BedrockServiceError,
    "ModelErrorException": BedrockServiceError,
    "ModelStreamErrorException": BedrockServiceError,
    "ModelTimeoutException": BedrockTimeoutError,
    "AccessDeniedException": BedrockAccessDeniedError,
    "ResourceNotFoundException": BedrockModelNotFoundError,
    "ValidationException": BedrockInvalidRequestError,
}


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of ``exc`` (``CONNECTION_ERROR`` for transport failures), else None.

    Event-stream exceptions arrive with a lower-case first letter (``throttlingException``);
    they are normalised so one table serves both ``Converse`` and ``ConverseStream``.
    """
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        return code[:1].upper() + code[1:] if code else None
    if isinstance(exc, _TRANSPORT_ERRORS):
        return CONNECTION_ERROR
    return None


def is_failover_code(code: str | None) -> bool:
    """Whether a failure with this code may be retried on another in-policy candidate."""
    return code in FAILOVER_CODES


def request_id_of(exc: BaseException) -> str | None:
    """The ``x-amzn-RequestId`` of a failed call, when AWS sent one."""
    if isinstance(exc, ClientError):
        meta: Mapping[str, Any] = exc.response.get("ResponseMetadata") or {}
        rid = meta.get("RequestId")
        return str(rid) if rid else None
    return None


def translate_error(exc: BaseException) -> BaseException:
    """The exception to raise for ``exc`` (``exc`` itself when there is nothing to add).

    The caller raises the result ``from exc`` so the boto3 traceback stays attached.
    """
    if isinstance(exc, ModelError):
        return exc  # already typed, e.g. langchain-aws's BedrockContextOverflowError
    if isinstance(exc, ClientError):
        code = error_code(exc)
        cls = _CLIENT_ERROR_TYPES.get(code or "")
        if cls is None:
            return exc
        response = dict(exc.response)
        response["Error"] = {**exc.response.get("Error", {}), "Code": code}
        return cls(response, exc.operation_name)  # type: ignore[arg-type]
    if isinstance(exc, _TRANSPORT_ERRORS) and isinstance(exc, Exception):
        return BedrockConnectionError(error=exc)
    return exc
