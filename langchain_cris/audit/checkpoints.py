"""Signed checkpoints: anchors that a hash chain alone cannot give.

Anyone who can write the log can also recompute every hash after editing it, and nobody can
tell from a chain that its newest records were cut off. A checkpoint fixes both, up to its
position: it names a ``seq`` and the digest of the record there, and is signed with a key the
log's readers do not need to hold to *use* the log:

* **HMAC-SHA256** with a shared secret (``hmac``): standard library only; whoever verifies
  holds the key, so it proves "written by a holder of this key".
* **Ed25519** (``ed25519``, the ``[sign]`` extra, via ``cryptography``): the writer holds the
  private key, auditors only the public key, so an auditor cannot forge a checkpoint either.

A checkpoint is written into the log as a chained record (``"record":"checkpoint"``; its
``prev``/``seq`` are what it covers) and, when the sink is given ``checkpoints=``, also as a
line of a second file that can be kept elsewhere (another host, a WORM bucket). The signed
bytes are the checkpoint object without ``mac``/``sig``, as JSON with sorted keys and no
spaces (:func:`signed_bytes`); key material is never written, only a ``key_id`` (a hash of it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_cris.errors import ResidencyError

__all__ = [
    "CheckpointKeyError",
    "CheckpointSigner",
    "CheckpointVerifier",
    "key_id",
    "load_hmac_key",
    "signed_bytes",
]

MIN_HMAC_KEY_BYTES = 16
_SIGNATURE_KEYS = ("mac", "sig")


class CheckpointKeyError(ResidencyError):
    """A checkpoint key could not be read or is unusable (missing, too short, wrong type)."""


def key_id(material: bytes) -> str:
    """A short public name for a key (16 hex of a domain-separated SHA-256), never the key."""
    return hashlib.sha256(b"langchain-cris checkpoint key id\0" + material).hexdigest()[:16]


def load_hmac_key(*, path: str | os.PathLike[str] | None = None, env: str | None = None) -> bytes:
    """The HMAC key from a file (bytes, trailing whitespace stripped) or an environment variable.

    Raises:
        CheckpointKeyError: neither or both given, the file or variable is missing or empty, or
            the key is shorter than 16 bytes.
    """
    if (path is None) == (env is None):
        raise CheckpointKeyError("give exactly one of a key file or a key environment variable")
    if path is not None:
        try:
            key = Path(path).read_bytes().rstrip(b"\r\n\t ")
        except OSError as exc:
            raise CheckpointKeyError(f"cannot read key file {os.fspath(path)}: {exc}") from exc
        where = f"key file {os.fspath(path)}"
    else:
        assert env is not None
        value = os.environ.get(env)
        if value is None:
            raise CheckpointKeyError(f"environment variable {env} is not set")
        key, where = value.encode("utf-8"), f"environment variable {env}"
    if len(key) < MIN_HMAC_KEY_BYTES:
        raise CheckpointKeyError(
            f"{where} holds {len(key)} byte(s); an HMAC key needs at least "
            f"{MIN_HMAC_KEY_BYTES} (e.g. `head -c 32 /dev/urandom | base64`)"
        )
    return key


def signed_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's ``mac``/``sig`` cover: every other key, sorted, compact."""
    body = {k: v for k, v in checkpoint.items() if k not in _SIGNATURE_KEYS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _load_ed25519(path: str | os.PathLike[str], *, private: bool) -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise CheckpointKeyError(
            "Ed25519 checkpoints need the 'cryptography' package: "
            "pip install 'langchain-cris[sign]'"
        ) from exc
    try:
        data = Path(path).read_bytes()
        key: Any = (
            serialization.load_pem_private_key(data, password=None)
            if private
            else serialization.load_pem_public_key(data)
        )
    except (OSError, ValueError, TypeError) as exc:
        kind = "private" if private else "public"
        raise CheckpointKeyError(
            f"cannot read Ed25519 {kind} key {os.fspath(path)}: {exc}"
        ) from exc
    wanted = ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey
    if not isinstance(key, wanted):
        raise CheckpointKeyError(f"{os.fspath(path)} is a {type(key).__name__}, not Ed25519")
    return key


def _public_bytes(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    raw: bytes = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw


@dataclass(frozen=True, repr=False)
class CheckpointSigner:
    """How a sink signs its checkpoints: an HMAC key, an Ed25519 private key, or both.

    Example:
        .. code-block:: python

            from langchain_cris.audit.checkpoints import CheckpointSigner, load_hmac_key
            from langchain_cris.audit.sink import AuditSink

            signer = CheckpointSigner(hmac_key=load_hmac_key(env="CRIS_AUDIT_KEY"))
            sink = AuditSink("cris-audit.jsonl", signer=signer, checkpoints="anchors.jsonl")
    """

    hmac_key: bytes | None = None
    ed25519_key: Any = None  # cryptography's Ed25519PrivateKey

    def __post_init__(self) -> None:
        if self.hmac_key is None and self.ed25519_key is None:
            raise CheckpointKeyError("a CheckpointSigner needs hmac_key, ed25519_key or both")
        if self.hmac_key is not None and len(self.hmac_key) < MIN_HMAC_KEY_BYTES:
            raise CheckpointKeyError(f"hmac_key needs at least {MIN_HMAC_KEY_BYTES} bytes")

    @classmethod
    def from_ed25519_file(
        cls, path: str | os.PathLike[str], *, hmac_key: bytes | None = None
    ) -> CheckpointSigner:
        """A signer with the Ed25519 private key in a PEM (PKCS#8, unencrypted) file."""
        return cls(hmac_key=hmac_key, ed25519_key=_load_ed25519(path, private=True))

    def sign(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """Add ``alg``/``key_id`` and ``mac``/``sig`` to a checkpoint (in place; returned)."""
        algs, ids = [], []
        if self.hmac_key is not None:
            algs.append("hmac-sha256")
            ids.append(key_id(self.hmac_key))
        if self.ed25519_key is not None:
            algs.append("ed25519")
            ids.append(key_id(_public_bytes(self.ed25519_key.public_key())))
        checkpoint["alg"] = "+".join(algs)
        checkpoint["key_id"] = "+".join(ids)
        payload = signed_bytes(checkpoint)
        if self.hmac_key is not None:
            checkpoint["mac"] = hmac.new(self.hmac_key, payload, hashlib.sha256).hexdigest()
        if self.ed25519_key is not None:
            checkpoint["sig"] = self.ed25519_key.sign(payload).hex()
        return checkpoint

    def __repr__(self) -> str:  # never the key
        parts = []
        if self.hmac_key is not None:
            parts.append(f"hmac key_id={key_id(self.hmac_key)}")
        if self.ed25519_key is not None:
            parts.append("ed25519")
        return f"CheckpointSigner({', '.join(parts)})"


@dataclass(frozen=True, repr=False)
class CheckpointVerifier:
    """What a reader checks checkpoints with: the HMAC key and/or the Ed25519 public key."""

    hmac_key: bytes | None = None
    ed25519_public_key: Any = None

    @classmethod
    def from_public_key_file(
        cls, path: str | os.PathLike[str], *, hmac_key: bytes | None = None
    ) -> CheckpointVerifier:
        """A verifier with the Ed25519 public key in a PEM file."""
        return cls(hmac_key=hmac_key, ed25519_public_key=_load_ed25519(path, private=False))

    @property
    def algorithms(self) -> tuple[str, ...]:
        names = []
        if self.hmac_key is not None:
            names.append("hmac-sha256")
        if self.ed25519_public_key is not None:
            names.append("ed25519")
        return tuple(names)

    def check(self, checkpoint: Mapping[str, Any]) -> str | None:
        """``None`` when every signature this verifier can check is valid, else why not.

        A checkpoint without the signature a configured key expects fails: a reader who asked
        for Ed25519 is not satisfied by an HMAC (and vice versa).
        """
        payload = signed_bytes(checkpoint)
        if self.hmac_key is not None:
            mac = checkpoint.get("mac")
            if not isinstance(mac, str):
                return "no HMAC on this checkpoint"
            good = hmac.new(self.hmac_key, payload, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(mac, good):
                return "HMAC does not match (wrong key, or the checkpoint was altered)"
        if self.ed25519_public_key is not None:
            from cryptography.exceptions import InvalidSignature

            sig = checkpoint.get("sig")
            if not isinstance(sig, str):
                return "no Ed25519 signature on this checkpoint"
            try:
                self.ed25519_public_key.verify(bytes.fromhex(sig), payload)
            except (InvalidSignature, ValueError):
                return "Ed25519 signature does not verify (wrong key, or the checkpoint altered)"
        return None

    def __repr__(self) -> str:
        return f"CheckpointVerifier({', '.join(self.algorithms) or 'none'})"
