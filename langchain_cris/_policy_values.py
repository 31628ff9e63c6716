"""Reading a policy value from config, cached by content (the lower half of ``binding``).

A policy travels in config as a ``ResidencyPolicy``, a preset name, a policy file path or a
``to_dict()`` dict. Values are cached by content, never by identity or path alone: a file by
its path and ``stat`` (mtime, ctime, size, inode), a dict by its JSON text. The dicts the
package itself puts into metadata (:func:`residency_metadata`) are read-only and carry their
parsed policy, so reading them back costs nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NoReturn

from langchain_core.runnables import RunnableConfig

from langchain_cris.errors import PolicyError
from langchain_cris.policy import ResidencyPolicy

__all__ = [
    "POLICY_DIGEST_KEY",
    "POLICY_KEY",
    "POLICY_NAME_KEY",
    "RUNTIME_KEY",
    "PolicySpec",
    "parse_policy",
    "policy_from_config",
    "policy_spec_from_config",
    "residency_metadata",
]

POLICY_KEY = "cris_policy"
POLICY_NAME_KEY = "cris_policy_name"
POLICY_DIGEST_KEY = "cris_policy_digest"
#: Where LangGraph keeps the run's ``Runtime`` (its ``context``) in ``configurable``.
RUNTIME_KEY = "__pregel_runtime"

#: What may stand for a policy in config: an object, a preset name or file path, or a dict.
PolicySpec = ResidencyPolicy | str | os.PathLike[str] | Mapping[str, Any]


def _read_only(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(
        "the cris_policy dict in a residency binding's metadata is read-only; "
        "copy it (dict(...)) to change it"
    )


class _FrozenList(list[Any]):
    """A read-only list (equal to a plain list; copies are plain lists)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = extend = insert = pop = remove = clear = sort = reverse = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(self),))


class _PolicyDict(dict[str, Any]):
    """``policy.to_dict()`` as put into metadata by the package: read-only, carries the policy.

    Read-only so that the identity shortcut in :func:`parse_policy` can never return a policy
    the dict no longer describes; copies (``copy``, ``deepcopy``, pickling) are plain dicts.
    """

    __slots__ = ("policy",)

    def __init__(self, policy: ResidencyPolicy) -> None:
        data = {
            k: _FrozenList(v) if isinstance(v, list) else v for k, v in policy.to_dict().items()
        }
        super().__init__(data)
        self.policy = policy

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _read_only
    __ior__ = _read_only

    def copy(self) -> dict[str, Any]:
        return dict(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


def parse_policy(spec: PolicySpec) -> ResidencyPolicy:
    """Turn any accepted form of a policy into a ``ResidencyPolicy`` (cached by content).

    Raises:
        PolicyError: the preset is unknown, the file unreadable, or the dict invalid; the
            message names the valid choices.
    """
    if isinstance(spec, ResidencyPolicy):
        return spec
    if isinstance(spec, _PolicyDict):
        return spec.policy
    if isinstance(spec, str | os.PathLike):
        return _load(os.fspath(spec))
    if isinstance(spec, Mapping):
        try:
            key = json.dumps(spec, sort_keys=True, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise PolicyError(f"cris_policy dict is not JSON-ready: {exc}") from exc
        return _from_dict_cached(key)
    raise PolicyError(
        f"cris_policy must be a ResidencyPolicy, a preset name, a policy file path or a dict "
        f"from ResidencyPolicy.to_dict(); got {type(spec).__name__}"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, frozenset | set | tuple):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-ready")


def _load(text: str) -> ResidencyPolicy:
    """A preset (cached by name) or a file (cached by path *and* its current ``stat``)."""
    if text in ResidencyPolicy.presets():
        return _load_cached(text, None)
    try:
        st = os.stat(text)
    except OSError:
        return ResidencyPolicy.load(text)  # raises the typed error naming the problem
    return _load_cached(text, (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev))


@lru_cache(maxsize=256)
def _load_cached(text: str, version: tuple[int, ...] | None) -> ResidencyPolicy:
    return ResidencyPolicy.load(text)


@lru_cache(maxsize=256)
def _from_dict_cached(key: str) -> ResidencyPolicy:
    return ResidencyPolicy.from_dict(json.loads(key), origin="cris_policy in RunnableConfig")


def policy_spec_from_config(config: RunnableConfig | Mapping[str, Any] | None) -> Any:
    """The raw policy value in ``config`` (metadata first, then configurable), or None."""
    if not config:
        return None
    metadata = config.get("metadata")
    if metadata:
        spec = metadata.get(POLICY_KEY)
        if spec is not None:
            return spec
    configurable = config.get("configurable")
    if configurable:
        return configurable.get(POLICY_KEY)
    return None


def policy_from_config(config: RunnableConfig | Mapping[str, Any] | None) -> ResidencyPolicy | None:
    """The residency policy carried by ``config`` itself, or None when it carries none.

    Raises:
        PolicyError: the config names a policy that cannot be read.
    """
    spec = policy_spec_from_config(config)
    return None if spec is None else parse_policy(spec)


@lru_cache(maxsize=256)
def residency_metadata(policy: ResidencyPolicy) -> Mapping[str, Any]:
    """The config metadata that carries ``policy`` (cached; treat the result as read-only)."""
    return {
        POLICY_KEY: _PolicyDict(policy),
        POLICY_NAME_KEY: policy.name,
        POLICY_DIGEST_KEY: policy.digest,
    }
