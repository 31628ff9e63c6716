"""Whether the native async transport (aiobotocore, the ``[async]`` extra) can be used here.

Computed once per process and warned about once: without aiobotocore, or with a botocore outside
aiobotocore's narrow pin, the chat model keeps langchain-aws's thread-pool path. Why aiobotocore
at all, with the measurements behind the choice, is told in :mod:`.async_pool`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
import warnings
from typing import Final

__all__ = [
    "ASYNC_EXTRA_INSTALL",
    "NativeAsyncUnavailableWarning",
    "native_async_available",
    "native_async_unavailable_reason",
    "warn_native_async_unavailable",
]

#: How to get the native transport.
ASYNC_EXTRA_INSTALL: Final = 'pip install "langchain-cris[async]"'


class NativeAsyncUnavailableWarning(RuntimeWarning):
    """Async calls fall back to the thread pool because aiobotocore is missing or mismatched."""


_reason_lock = threading.Lock()
_reason_cache: list[str | None] = []  # one slot once computed; a list keeps it mutable
_warned = threading.Event()


def _compute_unavailable_reason() -> str | None:
    try:
        importlib.import_module("aiobotocore.session")
        importlib.import_module("aiobotocore.config")
    except ImportError as exc:
        return f"aiobotocore cannot be imported ({exc})"
    return _botocore_pin_mismatch()


def _botocore_pin_mismatch() -> str | None:
    """Why the installed botocore is outside aiobotocore's pin, or ``None`` if it is inside.

    pip warns about, but still allows, such an environment; aiobotocore then breaks in subtle
    ways, so we refuse it up front instead.
    """
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # packaging comes with langchain-core; without it, trust pip
        return None
    try:
        requires = importlib.metadata.requires("aiobotocore") or []
        botocore_version = importlib.metadata.version("botocore")
        aio_version = importlib.metadata.version("aiobotocore")
    except importlib.metadata.PackageNotFoundError:
        return None  # vendored or unusual install: nothing to compare against
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if (
            req.name == "botocore"
            and req.marker is None
            and not req.specifier.contains(botocore_version, prereleases=True)
        ):
            return (
                f"aiobotocore {aio_version} requires botocore{req.specifier} but botocore "
                f"{botocore_version} is installed"
            )
    return None


def native_async_unavailable_reason() -> str | None:
    """Why native async cannot be used here, or ``None`` when it can (computed once)."""
    with _reason_lock:
        if not _reason_cache:
            _reason_cache.append(_compute_unavailable_reason())
        return _reason_cache[0]


def native_async_available() -> bool:
    """Whether :class:`AsyncBedrockRuntimePool` can be used (aiobotocore installed and matched).

    Example:
        .. code-block:: python

            if not native_async_available():
                warn_native_async_unavailable()
    """
    return native_async_unavailable_reason() is None


def warn_native_async_unavailable(stacklevel: int = 2) -> bool:
    """Warn, once per process, that async calls run on the thread pool and how to fix it.

    Args:
        stacklevel: Passed to :func:`warnings.warn` so the warning points at the caller.

    Returns:
        ``True`` if this call emitted the warning, ``False`` if native async is available or
        the warning was already given.
    """
    reason = native_async_unavailable_reason()
    if reason is None or _warned.is_set():
        return False
    with _reason_lock:
        if _warned.is_set():
            return False
        _warned.set()
    warnings.warn(
        f"langchain-cris: native async is unavailable ({reason}); ainvoke/astream run the sync "
        f"client in the event loop's thread pool, which caps concurrency at a few calls. "
        f"Install matching versions with: {ASYNC_EXTRA_INSTALL}",
        NativeAsyncUnavailableWarning,
        stacklevel=stacklevel + 1,
    )
    return True
