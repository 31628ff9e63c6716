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
    "CatalogFallbackWarning",
    "ChatBedrockCRIS",
    "Grant",
    "GrantPlan",
    "GuardrailCatalog",
    "GuardrailLookupError",
    "GuardrailResidencyViolation",
    "IamDocument",
    "InferenceProfile",
    "InvalidAccountIdError",
    "InvalidModelIdentifierError",
    "MissingSourceRegionError",
    "ModelOverrideError",
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
    "ResidencyWarning",
    "Route",
    "RouteCandidate",
    "RouteRefusedError",
    "SourceRegionNotAllowedError",
    "StatementInfo",
    "TelemetryResidencyError",
    "UnknownModelError",
    "UnknownRegionError",
    "UnroutableModelError",
    "ViolationEvent",
    "__version__",
    "audit_files",
    "build_guardrail_policy",
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


# The audit report and the reconciler were split into modules by concern (issue 13); their
# public faces keep every name they had, as the same objects.
REPORT_ALL = [
    "AuditReport",
    "Auditor",
    "CallGroup",
    "Discrepancy",
    "InputKind",
    "OutputFormat",
    "Violation",
    "ViolationKind",
    "audit_files",
    "detect_input_kind",
    "expand_paths",
]
RECONCILER_ALL = [
    "DEFAULT_DEADLINE_S",
    "DEFAULT_FIRST_POLL_S",
    "DEFAULT_MAX_INTERVAL_S",
    "AwsClients",
    "CloudTrailLookup",
    "EvidenceIndex",
    "Finding",
    "InvocationLogLookup",
    "PendingCall",
    "ReconcileReport",
    "ServedRegionReconciler",
    "Source",
    "Timer",
    "reconcile_audit_log",
]


def test_audit_faces_keep_their_names() -> None:
    from langchain_cris.audit import (
        _jsonstream,
        auditor,
        batch,
        evidence,
        files,
        reconciler,
        report,
        result,
        sources,
        summary,
    )

    assert sorted(report.__all__) == sorted(REPORT_ALL)
    assert sorted(reconciler.__all__) == sorted(RECONCILER_ALL)
    homes = {
        report: {
            "AuditReport": result,
            "Auditor": auditor,
            "CallGroup": summary,
            "Discrepancy": summary,
            "DiscrepancyKind": summary,
            "InputKind": _jsonstream,
            "OutputFormat": summary,
            "RouteClass": summary,
            "Violation": summary,
            "ViolationKind": summary,
            "audit_files": files,
            "detect_input_kind": _jsonstream,
            "expand_paths": _jsonstream,
            "CLOCK_SLACK": auditor,
            "DEFAULT_MAX_SAMPLES": auditor,
            "DEFAULT_MAX_VIOLATIONS": auditor,
        },
        reconciler: {
            "AwsClients": sources,
            "CloudTrailLookup": sources,
            "EvidenceIndex": evidence,
            "Finding": evidence,
            "InvocationLogLookup": sources,
            "PendingCall": evidence,
            "ReconcileReport": batch,
            "Source": sources,
            "WINDOW_MARGIN": sources,
            "find_in_sources": sources,
            "reconcile_audit_log": batch,
        },
    }
    for face, names in homes.items():
        for name, home in names.items():
            assert getattr(face, name) is getattr(home, name), f"{face.__name__}.{name}"
