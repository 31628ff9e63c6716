"""``BedrockEmbeddingsCRIS``: Bedrock embeddings whose every call is checked against a policy.

A RAG pipeline sends documents and queries to an embedding model long before the chat model
sees anything, so residency has to cover retrieval too. Embeddings are not runnables, so a
binding cannot wrap them; instead each call looks the policy up the same way the chat model
does: the policy in force for the running chain (``binding.policy_in_force``: the running
config, the enclosing ``with_residency`` binding's ceiling, which also reaches a retriever
bound on its own, ``with_residency(store.as_retriever(), "eu")``), else the model's
``residency_policy``, else ``$LANGCHAIN_CRIS_POLICY``, else ``NoPolicyError``.

The source Region checked is the Region the text is really sent to: the client's
(``client.meta.region_name``, a user ``client=`` included), not ``region_name``; the client
carries the wire guard, and each call publishes its decided route (InvokeModel, the routed id,
that Region) for it.

The route is resolved per call (cached: microseconds) and sent with the id it names, e.g.
``eu.cohere.embed-v4:0`` for a base Cohere Embed v4 id under an EU policy, or the plain id of
Titan Text Embeddings v2, which has no cross-Region profile and runs in the source Region.
A refusal is a ``ResidencyError`` raised before any text leaves the process. There is no
cross-Region failover for embeddings: a throttled embedding call surfaces as botocore raises it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from langchain_aws import BedrockEmbeddings
from langchain_core.runnables import ensure_config
from pydantic import ConfigDict, Field, model_validator

from langchain_cris.binding import parse_policy, policy_in_force
from langchain_cris.catalog import ProfileCatalog, default_catalog
from langchain_cris.errors import MissingSourceRegionError, NoPolicyError
from langchain_cris.policy import POLICY_ENV_VAR, ResidencyPolicy
from langchain_cris.routing import Route, resolve_route
from langchain_cris.transport.guard import decided_route, guard_client

__all__ = ["BedrockEmbeddingsCRIS"]

logger = logging.getLogger(__name__)


class BedrockEmbeddingsCRIS(BedrockEmbeddings):
    """Drop-in ``BedrockEmbeddings`` that refuses to embed outside the residency policy.

    Example:
        .. code-block:: python

            from langchain_core.vectorstores import InMemoryVectorStore
            from langchain_cris import BedrockEmbeddingsCRIS, ResidencyPolicy

            embeddings = BedrockEmbeddingsCRIS(
                model_id="amazon.titan-embed-text-v2:0",
                region_name="eu-central-1",
                residency_policy=ResidencyPolicy.preset("eu"),
            )
            store = InMemoryVectorStore.from_texts(["..."], embeddings)
            embeddings.last_route.destination_regions  # frozenset({'eu-central-1'})
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), arbitrary_types_allowed=True)

    residency_policy: ResidencyPolicy | None = None
    """Policy used when the running chain binds none (see the module docstring)."""

    catalog: ProfileCatalog | None = Field(default=None, exclude=True)
    """Profile data; the process-wide catalog by default."""

    last_route: Route | None = Field(default=None, exclude=True)
    """The route of the most recent call (for traces, tests and examples)."""

    @model_validator(mode="after")
    def _guard_client(self) -> BedrockEmbeddingsCRIS:
        """Put the wire guard on the client (built by langchain-aws or given by the user)."""
        guard_client(self.client)
        return self

    def route(self) -> Route:
        """Resolve the route this call would take (raises ``ResidencyError`` if refused)."""
        policy = self._policy()
        # Where the text really goes: the client's Region (a user client may differ).
        region = getattr(getattr(self.client, "meta", None), "region_name", None)
        region = region or self.region_name
        if not region:
            raise MissingSourceRegionError(
                "BedrockEmbeddingsCRIS has no source Region, so no route can be checked "
                "against the policy: set region_name=… (e.g. 'eu-central-1')"
            )
        route = resolve_route(
            self.model_id, policy, region, self.catalog or default_catalog(), failover=False
        )
        if route.violations:
            logger.warning(
                "residency policy %r (audit mode) violated by embeddings call %s from %s: %s",
                policy.name,
                route.model_id,
                route.source_region,
                "; ".join(route.violations),
            )
        self.last_route = route
        return route

    def _policy(self) -> ResidencyPolicy:
        found = policy_in_force(ensure_config())
        if found is not None:
            return found
        if self.residency_policy is not None:
            return self.residency_policy
        env = os.environ.get(POLICY_ENV_VAR)
        if env:
            return parse_policy(env)
        raise NoPolicyError(
            "BedrockEmbeddingsCRIS found no residency policy: bind one to the chain "
            "(with_residency(...)), pass residency_policy=ResidencyPolicy.preset('eu'), or set "
            f"${POLICY_ENV_VAR} to a preset name or policy file"
        )

    def _invoke_model(self, input_body: dict[str, Any] | None = None) -> dict[str, Any]:
        # Every network call of BedrockEmbeddings (texts, images, audio, video) funnels
        # through here, so this one override checks them all before anything is sent.
        route = self.route()
        body = input_body or {}
        guard_client(self.client)  # idempotent; also covers a client swapped in after init
        with decided_route("InvokeModel", route.model_id, route.source_region, route.policy_name):
            if route.model_id == self.model_id:
                return super()._invoke_model(body)
            routed = self.model_copy(update={"model_id": route.model_id})
            return BedrockEmbeddings._invoke_model(routed, body)
