"""The public API is pinned: adding or removing a name is a deliberate change."""

from __future__ import annotations

import langchain_cris

EXPECTED_ALL = [
    "AuditReport",
    "BedrockAccessDeniedError",
    "BedrockConnectionError",
    "BedrockEmbeddingsCRIS",
    "BedrockInvalidRequestError",
    "BedrockModelNotFoundError",
    "BedrockRateLimitError",
    "BedrockServiceError",
    "BedrockTimeoutError",
    "CRISCallbackHandler",
    "ChatBedrockCRIS",
    "Grant",
    "GrantPlan",
    "IamDocument",
    "InferenceProfile",
    "InvalidAccountIdError",
    "InvalidModelIdentifierError",
    "MissingSourceRegionError",
    "NativeAsyncUnavailableWarning",
    "NoPolicyError",
    "PolicyConflictError",
    "PolicyError",
    "PolicyFileError",
    "ProfileCatalog",
    "ProfileNotAvailableError",
    "ResidencyError",
    "ResidencyMiddleware",
    "ResidencyPolicy",
    "ResidencyViolation",
    "Route",
    "RouteCandidate",
    "RouteRefusedError",
    "SourceRegionNotAllowedError",
    "StatementInfo",
    "UnknownModelError",
    "UnknownRegionError",
    "UnroutableModelError",
    "ViolationEvent",
    "__version__",
    "audit_files",
    "build_identity_policy",
    "build_scp",
    "native_async_available",
    "plan_grants",
    "policy_from_config",
    "resolve_route",
    "with_residency",
]


def test_all_imports() -> None:
    assert sorted(EXPECTED_ALL) == sorted(langchain_cris.__all__)
    for name in EXPECTED_ALL:
        assert getattr(langchain_cris, name) is not None


def test_library_never_imports_the_emulator() -> None:
    """Every library module imports cleanly without pulling in ``langchain_cris.emulator``."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(langchain_cris.__file__).parent
    modules = sorted(
        "langchain_cris." + ".".join(p.relative_to(root).with_suffix("").parts)
        for p in root.rglob("*.py")
        if "emulator" not in p.parts and p.parts[-2:] != ("cli", "emulator.py")
    )
    modules = [m.removesuffix(".__init__") for m in modules if not m.endswith("__main__")]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(k for k in sys.modules if k.startswith('langchain_cris.emulator')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
