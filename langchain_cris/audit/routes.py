"""What kind of route a ``modelId`` in AWS evidence names (profile, global, in-Region …).

The auditor judges a call by its route class; the class comes from the id's shape and the
catalog, never from a network call.
"""

from __future__ import annotations

from langchain_cris.audit.summary import RouteClass
from langchain_cris.catalog import ProfileCatalog
from langchain_cris.data import model_providers

__all__ = ["classify_model"]


def classify_model(model_id: str, catalog: ProfileCatalog) -> RouteClass:
    """What kind of route a ``modelId`` names, from its shape and the catalog."""
    if ":application-inference-profile/" in model_id:
        return "application"
    if ":foundation-model/" in model_id:
        return "in_region"
    profile = catalog.get(model_id)
    if profile is not None:
        if profile.geography == "global":
            return "global"
        return "application" if profile.profile_type == "APPLICATION" else "profile"
    bare = model_id.rsplit("/", 1)[-1]
    head = bare.split(".", 1)[0]
    if head == "global":
        return "global"
    if head in model_providers():
        return "in_region"
    if head in catalog.regions.profile_prefixes:
        return "profile"
    return "unknown"
