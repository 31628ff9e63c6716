"""botocore's User-Agent header, built once per client and feature set instead of twice a request.

botocore assembles the ``User-Agent`` header from about twenty components on every request,
twice: once while building the request (``BaseClient._convert_to_request_dict``) and again in
its ``request-created`` handler, to add the feature ids registered while the request was made
(``m/…``: retry mode, credential source, paginator, …). Each assembly sanitises every component
with regular expressions: ~85 µs on the reference machine, about 4 % of a zero-latency Converse
call, and issue #20 asks the residency layer to cost no more than plain ``ChatBedrockConverse``.

Everything in the string but the feature ids is fixed when the client is created (SDK and
Python versions, platform, the client's config, app id, extras). So for the clients this
package creates (never a client the user passed in), :func:`memoize_user_agent` keeps each
assembled string keyed by the features it was built from (the request context's plus the
client's own) and returns it for the next request with the same features. The bytes on the
wire are botocore's own string (``tests/unit_tests/test_user_agent.py`` compares headers with
and without the memo); the one liberty is the order of the comma-separated feature ids, which
botocore takes from a ``set`` and so does not fix either.
"""

from __future__ import annotations

from typing import Any

__all__ = ["memoize_user_agent"]

_MAX_ENTRIES = 64  # feature sets seen per client (a handful in practice); beyond: no caching
_MARK = "_langchain_cris_memoized"


def memoize_user_agent(client: Any) -> Any:
    """Make ``client`` reuse its User-Agent string per feature set; returns the client.

    Idempotent. Objects without botocore's ``UserAgentString`` (test doubles) are returned
    unchanged.
    """
    creator: Any = getattr(client, "_user_agent_creator", None)
    build = getattr(creator, "to_string", None)
    if build is None or getattr(creator, _MARK, False):
        return client
    from botocore.context import get_context

    cache: dict[tuple[frozenset[str], frozenset[str]], str] = {}
    empty: frozenset[str] = frozenset()

    def to_string() -> str:
        ctx = get_context()
        own = getattr(creator, "_client_features", None)
        key = (
            frozenset(ctx.features) if ctx is not None and ctx.features else empty,
            frozenset(own) if own else empty,
        )
        value = cache.get(key)
        if value is None:
            value = build()
            if len(cache) < _MAX_ENTRIES:
                cache[key] = value
        return value

    # An instance attribute: botocore's request path and its request-created handler (a bound
    # method of this creator) both call ``self.to_string()``.
    creator.to_string = to_string
    setattr(creator, _MARK, True)
    return client
