"""The public API is pinned: adding or removing a name is a deliberate change."""

from __future__ import annotations

import langchain_cris

EXPECTED_ALL = [
    "Grant",
    "GrantPlan",
    "IamDocument",
    "InferenceProfile",
    "InvalidAccountIdError",
    "InvalidModelIdentifierError",
    "NoPolicyError",
    "PolicyConflictError",
    "PolicyError",
    "PolicyFileError",
    "ProfileCatalog",
    "ProfileNotAvailableError",
    "ResidencyError",
    "ResidencyPolicy",
    "ResidencyViolation",
    "Route",
    "RouteCandidate",
    "RouteRefusedError",
    "SourceRegionNotAllowedError",
    "StatementInfo",
    "UnknownModelError",
    "UnknownRegionError",
    "__version__",
    "build_identity_policy",
    "build_scp",
    "plan_grants",
    "resolve_route",
]


def test_all_imports() -> None:
    assert sorted(EXPECTED_ALL) == sorted(langchain_cris.__all__)
    for name in EXPECTED_ALL:
        assert getattr(langchain_cris, name) is not None


def test_library_never_imports_the_emulator() -> None:
    import subprocess
    import sys

    code = (
        "import sys, langchain_cris, langchain_cris.cli; "
        "import importlib, pkgutil\n"
        "for m in pkgutil.walk_packages(langchain_cris.__path__, 'langchain_cris.'):\n"
        "    if '.emulator' in m.name or '.cli.' in m.name or m.name.endswith('pytest_plugin'):\n"
        "        continue\n"
        "    try:\n"
        "        importlib.import_module(m.name)\n"
        "    except ImportError:\n"
        "        pass\n"
        "print(any(k.startswith('langchain_cris.emulator') for k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
