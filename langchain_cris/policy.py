"""``ResidencyPolicy``: where a Bedrock request may be processed, and from where it may be sent.

The ground truth is two sets of Regions: **destination** Regions (where a request may be
processed) and **source** Regions (where the client may call from). Presets such as ``eu`` or
``global`` are only names for Region sets from ``data/regions.json``. A policy never trusts a
profile prefix: routing checks ``destinations(profile, source) ⊆ allowed_regions``.

Policy as code (TOML or JSON, or a file named by ``LANGCHAIN_CRIS_POLICY``)::

    name = "acme-eu"
    preset = "eu"              # or: regions = ["eu-central-1", "eu-west-1"]
    add_regions = []           # widen a preset explicitly, e.g. ["eu-west-2"]
    exclude_regions = []
    source_regions = ["eu-central-1", "eu-west-1"]   # default: same as the destinations
    mode = "enforce"           # or "audit": send, but record the violation
    prefer = "geo"             # or "global" (cheapest, most capacity) / "in_region"
    allow_in_region = true     # plain model ids served in the source Region
    telemetry = "warn"         # or "refuse" / "ignore": traces sent outside telemetry_endpoints
    telemetry_endpoints = ["https://eu.api.smith.langchain.com"]   # URL prefixes allowed to
                               # receive trace content (presets eu/europe: the LangSmith EU API)
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from langchain_cris.errors import PolicyConflictError, PolicyError, PolicyFileError
from langchain_cris.regions import region_table

__all__ = ["POLICY_ENV_VAR", "Mode", "Preference", "ResidencyPolicy", "TelemetryMode"]

POLICY_ENV_VAR = "LANGCHAIN_CRIS_POLICY"

Mode = Literal["enforce", "audit"]
Preference = Literal["geo", "global", "in_region"]
TelemetryMode = Literal["warn", "refuse", "ignore"]
_TELEMETRY_STRICTNESS: dict[str, int] = {"ignore": 0, "warn": 1, "refuse": 2}

_FILE_ONLY_KEYS = ("preset", "add_regions", "exclude_regions")


class ResidencyPolicy(BaseModel):
    """A data-residency policy for Bedrock calls (frozen, hashable, comparable).

    Example:
        .. code-block:: python

            from langchain_cris import ResidencyPolicy

            eu = ResidencyPolicy.preset("eu")
            europe = ResidencyPolicy.preset("europe", mode="audit")
            custom = ResidencyPolicy(name="fr-de", regions={"eu-west-3", "eu-central-1"})
            eu.combine(custom)  # strictest wins: Paris + Frankfurt, enforce
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="custom", min_length=1)
    """Human name shown in traces and errors."""

    regions: frozenset[str]
    """Destination Regions where a request may be processed."""

    source_regions: frozenset[str] = frozenset()
    """Regions the client may call from; empty means "the same as ``regions``"."""

    mode: Mode = "enforce"
    """``enforce`` refuses before sending; ``audit`` sends and records the violation."""

    prefer: Preference = "geo"
    """Which compliant route wins: a geographic profile, a ``global.`` one, or in-Region."""

    allow_in_region: bool = True
    """Whether plain model ids (served in the source Region only) are allowed."""

    telemetry: TelemetryMode = "warn"
    """What to do when a call would be traced (inputs/outputs) to an endpoint not in
    ``telemetry_endpoints``: ``warn`` (one ``ResidencyWarning`` per endpoint and policy),
    ``refuse`` (raise before anything is sent) or ``ignore``."""

    telemetry_endpoints: frozenset[str] | None = None
    """URL prefixes (``https://host[/path]``) allowed to receive trace content. ``None`` (not
    set): the known endpoints whose geography the destination Regions cover (from
    ``data/telemetry.json``: a policy covering every Region of the ``eu`` preset allows the
    LangSmith EU instance, one covering ``us`` the US SaaS); see
    :attr:`allowed_telemetry_endpoints`."""

    @model_validator(mode="before")
    @classmethod
    def _expand_preset(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        preset = data.pop("preset", None)
        add = data.pop("add_regions", None) or ()
        exclude = data.pop("exclude_regions", None) or ()
        if preset is not None:
            presets = region_table().presets
            if preset not in presets:
                raise ValueError(
                    f"unknown preset {preset!r}; allowed presets: {', '.join(sorted(presets))}"
                )
            data.setdefault("regions", presets[preset].regions)
            data.setdefault("prefer", presets[preset].prefer)
            data.setdefault("name", preset)
        if "regions" in data and (add or exclude):
            data["regions"] = (frozenset(data["regions"]) | frozenset(add)) - frozenset(exclude)
        return data

    @field_validator("regions", "source_regions", mode="before")
    @classmethod
    def _coerce_regions(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset([value])
        return value

    @field_validator("telemetry_endpoints", mode="before")
    @classmethod
    def _coerce_endpoints(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if isinstance(value, Iterable):
            return frozenset(_normalize_endpoint(str(v)) for v in value)
        return value

    @field_validator("regions", "source_regions")
    @classmethod
    def _known_regions(cls, value: frozenset[str]) -> frozenset[str]:
        table = region_table()
        unknown = sorted(r for r in value if r not in table)
        if unknown:
            hints = [
                f"{r!r} (did you mean {', '.join(difflib.get_close_matches(r, table.regions))}?)"
                if difflib.get_close_matches(r, table.regions)
                else repr(r)
                for r in unknown
            ]
            raise ValueError(f"unknown AWS Region(s): {', '.join(hints)}")
        return value

    @model_validator(mode="after")
    def _non_empty(self) -> ResidencyPolicy:
        if not self.regions:
            raise ValueError("a residency policy must allow at least one destination Region")
        return self

    # -- derived views ------------------------------------------------------------------
    @property
    def allowed_sources(self) -> frozenset[str]:
        """Source Regions the client may call from (defaults to the destination set)."""
        return self.source_regions or self.regions

    @property
    def allows_global(self) -> bool:
        """True when every commercial Region is allowed (a ``global.`` profile can comply)."""
        return region_table().partition_regions("aws") <= self.regions

    def __hash__(self) -> int:
        # Routing caches key on the policy every call; pydantic's frozen hash re-hashes every
        # field each time. The digest is a function of the fields (equal policies, equal
        # digests), computed once per instance.
        return hash(self.digest)

    @cached_property
    def digest(self) -> str:
        """Stable short digest of the policy's content, for traces and audit records."""
        canonical = json.dumps(
            {
                "regions": sorted(self.regions),
                "source_regions": sorted(self.allowed_sources),
                "mode": self.mode,
                "prefer": self.prefer,
                "allow_in_region": self.allow_in_region,
                **self._telemetry_digest_fields(),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def _telemetry_digest_fields(self) -> dict[str, Any]:
        # Defaults are left out so the digest of a policy without telemetry rules is unchanged.
        out: dict[str, Any] = {}
        if self.telemetry != "warn":
            out["telemetry"] = self.telemetry
        if self.telemetry_endpoints is not None:
            out["telemetry_endpoints"] = sorted(self.telemetry_endpoints)
        return out

    @property
    def allowed_telemetry_endpoints(self) -> frozenset[str]:
        """``telemetry_endpoints``, or when not set the known endpoints the Regions cover."""
        if self.telemetry_endpoints is not None:
            return self.telemetry_endpoints
        return _covered_endpoints(self.regions)

    def allows_endpoint(self, url: str) -> bool:
        """True when ``url`` lies under an allowed telemetry endpoint (scheme, host, path)."""
        return any(_under_prefix(url, p) for p in self.allowed_telemetry_endpoints)

    def allows_region(self, region: str) -> bool:
        return region in self.regions

    def outside(self, regions: Iterable[str]) -> frozenset[str]:
        """The subset of ``regions`` this policy does not allow."""
        return frozenset(regions) - self.regions

    def __str__(self) -> str:
        table = region_table()
        sources = (
            "same as destinations"
            if not self.source_regions or self.source_regions == self.regions
            else table.describe_set(self.source_regions)
        )
        return (
            f"ResidencyPolicy {self.name!r} ({self.mode}, prefer {self.prefer}, "
            f"in-Region {'allowed' if self.allow_in_region else 'refused'}): "
            f"destinations {table.describe_set(self.regions)}; sources {sources}"
        )

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ResidencyPolicy:
        """A named preset from ``data/regions.json`` (``ResidencyPolicy.presets()`` lists them):
        ``eu``, ``europe``, ``us``, ``apac``, ``jp``, ``au`` (Australia only), ``anz``
        (Australia and New Zealand), ``in``, ``ca``, ``us-gov`` or ``global`` (which prefers
        ``global.`` profiles)."""
        presets = region_table().presets
        if name not in presets:
            raise PolicyError(
                f"unknown residency preset {name!r}; allowed presets: {', '.join(sorted(presets))}"
            )
        return cls._build({"preset": name, **overrides}, origin=f"preset {name!r}")

    @classmethod
    def presets(cls) -> dict[str, str]:
        """Preset names and their descriptions."""
        return {n: p.description for n, p in sorted(region_table().presets.items())}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "policy") -> ResidencyPolicy:
        """Build from a mapping (the content of a policy file); errors name the bad key."""
        return cls._build(data, origin=origin)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ResidencyPolicy:
        """Load a ``.toml`` or ``.json`` policy file."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyFileError(f"cannot read policy file: {exc.strerror}", path=str(p)) from exc
        try:
            if p.suffix.lower() == ".json":
                data = json.loads(text)
            elif p.suffix.lower() == ".toml":
                data = _load_toml(text)
            else:
                raise PolicyFileError(
                    f"unsupported policy file type {p.suffix or '(none)'!r}; use .toml or .json",
                    path=str(p),
                )
        except (ValueError, TypeError) as exc:
            if isinstance(exc, PolicyFileError):
                raise
            raise PolicyFileError(f"not valid {p.suffix[1:].upper()}: {exc}", path=str(p)) from exc
        if not isinstance(data, Mapping):
            raise PolicyFileError("a policy file must hold a table/object", path=str(p))
        data = dict(data)
        data.setdefault("name", p.stem)
        return cls._build(data, origin=str(p))

    @classmethod
    def from_env(cls, var: str = POLICY_ENV_VAR) -> ResidencyPolicy | None:
        """The policy named by ``$LANGCHAIN_CRIS_POLICY`` (a preset name or file), if set."""
        value = os.environ.get(var)
        if not value:
            return None
        try:
            return cls.load(value)
        except PolicyError as exc:
            raise PolicyFileError(f"${var}={value!r}: {exc}") from exc

    @classmethod
    def load(cls, spec: str | os.PathLike[str] | ResidencyPolicy) -> ResidencyPolicy:
        """A preset name or a policy file path (what every CLI ``--policy`` accepts)."""
        if isinstance(spec, ResidencyPolicy):
            return spec
        text = os.fspath(spec)
        if text in region_table().presets:
            return cls.preset(text)
        if Path(text).suffix.lower() in (".toml", ".json") or os.sep in text:
            return cls.from_file(text)
        raise PolicyError(
            f"{text!r} is neither a preset nor a .toml/.json policy file; "
            f"allowed presets: {', '.join(sorted(region_table().presets))}"
        )

    @classmethod
    def _build(cls, data: Mapping[str, Any], *, origin: str) -> ResidencyPolicy:
        allowed = set(cls.model_fields) | set(_FILE_ONLY_KEYS)
        unknown = [k for k in data if k not in allowed]
        if unknown:
            parts = []
            for key in unknown:
                close = difflib.get_close_matches(key, allowed, n=1)
                parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise PolicyFileError(
                f"unknown key(s) {', '.join(parts)}; allowed keys: {', '.join(sorted(allowed))}",
                path=origin,
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or 'policy'}: {e['msg']}"
                for e in exc.errors()
            )
            raise PolicyFileError(problems, path=origin) from exc

    # -- algebra ------------------------------------------------------------------------
    def combine(self, other: ResidencyPolicy) -> ResidencyPolicy:
        """Strictest wins: Region intersections, enforce beats audit, in-Region only if both,
        telemetry refuse > warn > ignore, telemetry endpoints intersect.

        Raises:
            PolicyConflictError: the two policies share no destination or no source Region.
        """
        if other == self:
            return self
        regions = self.regions & other.regions
        if not regions:
            raise PolicyConflictError(self.name, other.name, "destination Region")
        sources = self.allowed_sources & other.allowed_sources
        if not sources:
            raise PolicyConflictError(self.name, other.name, "source Region")
        prefer: Preference = self.prefer if self.prefer == other.prefer else "geo"
        return ResidencyPolicy(
            name=f"{self.name}+{other.name}",
            regions=regions,
            source_regions=frozenset() if sources == regions else sources,
            mode="enforce" if "enforce" in (self.mode, other.mode) else "audit",
            prefer=prefer,
            allow_in_region=self.allow_in_region and other.allow_in_region,
            telemetry=max(self.telemetry, other.telemetry, key=_TELEMETRY_STRICTNESS.__getitem__),
            telemetry_endpoints=None
            if self.telemetry_endpoints is None and other.telemetry_endpoints is None
            else _intersect_endpoints(
                self.allowed_telemetry_endpoints, other.allowed_telemetry_endpoints
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` reads back to an equal policy."""
        out: dict[str, Any] = {
            "name": self.name,
            "regions": sorted(self.regions),
            "mode": self.mode,
            "prefer": self.prefer,
            "allow_in_region": self.allow_in_region,
        }
        if self.source_regions:
            out["source_regions"] = sorted(self.source_regions)
        if self.telemetry != "warn":
            out["telemetry"] = self.telemetry
        if self.telemetry_endpoints is not None:
            out["telemetry_endpoints"] = sorted(self.telemetry_endpoints)
        return out


def _covered_endpoints(regions: frozenset[str]) -> frozenset[str]:
    """Known endpoints whose geography ``regions`` cover: every Region of the preset the data
    file lists an endpoint under is allowed (``eu`` -> the LangSmith EU instance)."""
    from langchain_cris.data import load_data_file

    presets = region_table().presets
    table = load_data_file("telemetry.json").get("preset_endpoints") or {}
    found: set[str] = set()
    for preset, endpoints in table.items():
        if preset in presets and presets[preset].regions <= regions:
            found.update(_normalize_endpoint(e) for e in endpoints)
    return frozenset(found)


def _normalize_endpoint(url: str) -> str:
    """``https://Host:443/path/`` -> ``https://host/path``; refuses what is not an http(s) URL."""
    parsed = urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(
            f"telemetry endpoint {url!r} is not an http(s) URL prefix; "
            "expected e.g. 'https://eu.api.smith.langchain.com'"
        )
    default_port = 443 if parsed.scheme == "https" else 80
    port = parsed.port
    host = parsed.hostname.lower() + (f":{port}" if port and port != default_port else "")
    return f"{parsed.scheme}://{host}{parsed.path.rstrip('/')}"


def _under_prefix(url: str, prefix: str) -> bool:
    """Same scheme and host, and the path at or below the prefix's (on a ``/`` boundary)."""
    try:
        normalized = _normalize_endpoint(url)
    except ValueError:
        return False
    return normalized == prefix or normalized.startswith(prefix + "/")


def _intersect_endpoints(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    """Prefixes allowed by both: each prefix of one side that lies under a prefix of the other."""
    return frozenset(p for p in a if any(_under_prefix(p, q) for q in b)) | frozenset(
        q for q in b if any(_under_prefix(q, p) for p in a)
    )


def _load_toml(text: str) -> Any:
    import tomllib

    return tomllib.loads(text)
