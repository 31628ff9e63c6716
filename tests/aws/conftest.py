"""Tests against real AWS: collected always, skipped cleanly without credentials."""

from __future__ import annotations

import os

import boto3
import pytest


def _have_credentials() -> bool:
    if os.environ.get("CI") and not os.environ.get("AWS_ACCESS_KEY_ID"):
        return False  # never probe the instance-metadata service from CI
    try:
        return boto3.Session().get_credentials() is not None
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _have_credentials():
        return
    skip = pytest.mark.skip(reason="no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID)")
    for item in items:
        if "tests/aws/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.aws)
            item.add_marker(skip)
