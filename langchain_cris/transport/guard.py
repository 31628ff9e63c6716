"""The last line of defence: every bedrock-runtime request is checked right before it is signed.

Routing decides, per call, one *route*: which operation, which ``modelId``, from which source
Region. Everything between that decision and the bytes (langchain-aws building the request,
kwargs it camel-cases, a client the user handed in, code we never thought of) could still
change what is sent. So the send path publishes the decided route in a context variable
(:func:`decided_route`, scoped to the one send; thread- and task-safe, since each thread and
each asyncio task has its own context) and a botocore hook on every bedrock-runtime client the
package creates or is given compares the final request with it:

* the operation must be one the route was decided for (``Converse`` for ``invoke``,
  ``ConverseStream`` for ``stream``, ``CountTokens``, ``InvokeModel`` for embeddings);
* the ``modelId`` in the request URI must be exactly the routed id;
* the client's Region, and the Region botocore will sign for, must be the routed source Region.

Anything else raises :class:`~langchain_cris.errors.ResidencyViolation` before the request is
signed, so nothing leaves the process. A *strict* guard (clients the package builds, clients
given to ``ChatBedrockCRIS`` / ``BedrockEmbeddingsCRIS``) also refuses requests made with no
decided route at all (a direct ``client.invoke_model(...)``, ``CountTokens`` from langchain-aws,
``StartAsyncInvoke``); a *lenient* guard (the client of a plain ``ChatBedrockConverse`` that the
package routes for a while, which stays the user's) checks only requests made while a route is
decided, and leaves the user's own calls alone.

The hook is ``before-sign.bedrock-runtime``: botocore's ``RequestSigner.sign`` and
aiobotocore's ``AioRequestSigner.sign`` both emit it with the prepared ``AWSRequest`` (final
URL), the operation name and the client's Region, on every attempt (retries included),
immediately before the signature is computed; aiobotocore's emitter accepts plain functions.
Its cost is a context-variable read, one ``rsplit`` of the URL and three comparisons
(``benchmarks/bench_guard.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

from langchain_cris.errors import ResidencyViolation

__all__ = [
    "GUARD_EVENT",
    "DecidedRoute",
    "adecided_iter",
    "current_route",
    "decided_iter",
    "decided_route",
    "guard_client",
    "is_guarded",
]

T = TypeVar("T")

#: The botocore event the guard listens to (all bedrock-runtime operations).
GUARD_EVENT = "before-sign.bedrock-runtime"
_STRICT_ID = "langchain-cris-wire-guard"
_LENIENT_ID = "langchain-cris-wire-guard-lenient"


@dataclass(frozen=True, slots=True)
class DecidedRoute:
    """What one send was decided to be: operation(s), model id and source Region."""

    operations: frozenset[str]
    model_id: str
    region: str
    policy_name: str

    @classmethod
    def of(
        cls, operations: str | Iterable[str], model_id: str, region: str, policy_name: str
    ) -> DecidedRoute:
        ops = frozenset((operations,) if isinstance(operations, str) else operations)
        return cls(ops, model_id, region, policy_name)

    def describe(self) -> str:
        ops = "/".join(sorted(self.operations))
        return f"{ops} of {self.model_id} from {self.region}"


_UNSCOPED_HINT = (
    "send through ChatBedrockCRIS or BedrockEmbeddingsCRIS, which decide a route under the "
    "policy; use a separate client for direct boto3 calls",
)

_ROUTE: ContextVar[DecidedRoute | None] = ContextVar("langchain_cris_decided_route", default=None)


def current_route() -> DecidedRoute | None:
    """The route decided for the send running in this context, if any."""
    return _ROUTE.get()


@contextmanager
def decided_route(
    operations: str | Iterable[str], model_id: str, region: str, policy_name: str
) -> Iterator[DecidedRoute]:
    """Publish the decided route for the requests sent inside the block (and only those)."""
    route = DecidedRoute.of(operations, model_id, region, policy_name)
    token = _ROUTE.set(route)
    try:
        yield route
    finally:
        _ROUTE.reset(token)


def decided_iter(route: DecidedRoute, iterator: Iterator[T]) -> Iterator[T]:
    """Iterate ``iterator`` with ``route`` decided during each step only.

    A stream sends its request on the first ``next()``; setting the route around each step
    (not around the whole generator) keeps it from leaking into the consumer's code between
    chunks.
    """
    while True:
        token = _ROUTE.set(route)
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            _ROUTE.reset(token)
        yield item


async def adecided_iter(route: DecidedRoute, iterator: AsyncIterator[T]) -> AsyncIterator[T]:
    """Async twin of :func:`decided_iter` (set and reset within the same task step)."""
    try:
        while True:
            token = _ROUTE.set(route)
            try:
                item = await iterator.__anext__()
            except StopAsyncIteration:
                return
            finally:
                _ROUTE.reset(token)
            yield item
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


def _model_id(url: str) -> str | None:
    """The ``{modelId}`` of a ``/model/{modelId}/<operation>`` URI, percent-decoded."""
    parts = url.split("?", 1)[0].rsplit("/", 3)
    if len(parts) != 4 or not parts[1].endswith("model"):
        return None
    # Model ids and ARNs only need ':' and '/' escaped; urllib's unquote is ~20x slower.
    segment = parts[2].replace("%3A", ":").replace("%2F", "/")
    return unquote(segment) if "%" in segment else segment


def _refuse(why: str, model: str | None, region: str, route: DecidedRoute | None) -> None:
    raise ResidencyViolation(
        f"wire guard: refused to sign a bedrock-runtime request {why}; nothing was sent",
        model=model or "(none)",
        source_region=region,
        policy_name=route.policy_name if route is not None else "(no decided route)",
        alternatives=(route.describe(),) if route is not None else _UNSCOPED_HINT,
    )


def _check(request: Any, operation_name: str, region_name: str | None, strict: bool) -> None:
    route = _ROUTE.get()
    region = region_name or "(no Region)"
    if route is None:
        if strict:
            _refuse(
                f"({operation_name}) that no residency decision covers: only requests sent by "
                "ChatBedrockCRIS / BedrockEmbeddingsCRIS under a policy may use this client",
                _model_id(request.url),
                region,
                None,
            )
        return
    model = _model_id(request.url)
    signing = request.context.get("signing") or {}
    signing_region = signing.get("region") or region_name
    if operation_name not in route.operations:
        _refuse(f"for operation {operation_name}", model, region, route)
    if model != route.model_id:
        _refuse(f"for model {model!r}", model, region, route)
    if region_name != route.region or signing_region != route.region:
        _refuse(f"from Region {region_name} (signed for {signing_region})", model, region, route)


def _strict(request: Any, operation_name: str, region_name: str | None = None, **_: Any) -> None:
    _check(request, operation_name, region_name, True)


def _lenient(request: Any, operation_name: str, region_name: str | None = None, **_: Any) -> None:
    _check(request, operation_name, region_name, False)


def guard_client(client: Any, *, strict: bool = True) -> Any:
    """Register the wire guard on a bedrock-runtime ``client`` (boto3 or aiobotocore); idempotent.

    Returns the client. Objects without botocore events (the package's placeholders and
    test doubles) are returned unchanged.
    """
    events = getattr(getattr(client, "meta", None), "events", None)
    register = getattr(events, "register", None)
    if register is None:
        return client
    if strict:
        register(GUARD_EVENT, _strict, unique_id=_STRICT_ID)
    else:
        register(GUARD_EVENT, _lenient, unique_id=_LENIENT_ID)
    return client


def is_guarded(client: Any) -> bool:
    """Whether ``client`` carries the (strict or lenient) wire guard."""
    events = getattr(getattr(client, "meta", None), "events", None)
    emitter = getattr(events, "_emitter", events)
    unique = getattr(emitter, "_unique_id_handlers", None)
    if not isinstance(unique, dict):
        return False
    return _STRICT_ID in unique or _LENIENT_ID in unique
