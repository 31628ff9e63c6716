"""Which Regions each inference profile may send a call to, from each source Region.

The rooms of this sub-package, each one concern:

* :mod:`.profiles` — the bundled catalog (``data/profiles.json``, AWS's documented routes with
  their ``source`` and ``retrieved``), an optional overlay, and the lookups routing needs
  (:class:`ProfileCatalog`, :class:`InferenceProfile`, :func:`default_catalog`);
* :mod:`.live` — the same catalog seen through ``ListInferenceProfiles`` of one endpoint and
  identity, refreshed per Region with a TTL, falling back to the bundled rows (fail closed);
* :mod:`._live_answers` — reading an AWS answer's destinations (what a row may reach);
* :mod:`.drift` — what changed between two catalogs, and which policies it affects.

Only :mod:`.profiles` is imported here: the live layer and drift load on first use.
"""

from langchain_cris.catalog.profiles import (
    DEFAULT_TTL_SECONDS,
    InferenceProfile,
    ProfileCatalog,
    default_catalog,
    parse_model_arn_region,
)

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "InferenceProfile",
    "ProfileCatalog",
    "default_catalog",
    "parse_model_arn_region",
]
