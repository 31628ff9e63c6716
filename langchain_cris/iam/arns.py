"""How IAM spells Bedrock: actions, condition keys, ARNs and Sids.

The identity policy, the SCP and the explanation are built from these few spellings so that
they agree character for character: an ARN spelled two ways is a grant that never matches.
How a Region list is shortened for people (``short_regions``) lives here too, because the plan's
"not granted" reasons and the explanation table both print Region lists the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from langchain_cris.regions import region_table

__all__ = [
    "INVOKE_ACTIONS",
    "PROFILE_ARN_KEY",
    "REGION_KEY",
    "UNSPECIFIED_REGION",
    "fm_arn",
    "global_fm_arn",
    "one_or_many",
    "partition_of",
    "profile_arn",
    "region_partitions",
    "short_regions",
    "sid_suffix",
]

#: The actions Converse, ConverseStream, InvokeModel and its streaming twin authorize as.
INVOKE_ACTIONS: tuple[str, ...] = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")

#: ``aws:RequestedRegion`` as SCPs and IAM see it for the global half of a ``global.`` call.
UNSPECIFIED_REGION = "unspecified"
PROFILE_ARN_KEY = "bedrock:InferenceProfileArn"
REGION_KEY = "aws:RequestedRegion"


def partition_of(region: str) -> str:
    """``aws``, ``aws-us-gov`` …: the partition every ARN in ``region`` starts with."""
    return region_table().regions[region].partition


def region_partitions(regions: Iterable[str]) -> list[str]:
    return sorted({partition_of(r) for r in regions})


def profile_arn(region: str, account: str, profile_id: str) -> str:
    return f"arn:{partition_of(region)}:bedrock:{region}:{account}:inference-profile/{profile_id}"


def fm_arn(region: str, model_id: str) -> str:
    return f"arn:{partition_of(region)}:bedrock:{region}::foundation-model/{model_id}"


def global_fm_arn(model_id: str) -> str:
    # Region- and account-less by design: AWS's required form for global CRIS.
    return f"arn:aws:bedrock:::foundation-model/{model_id}"


def sid_suffix(text: str) -> str:
    """``eu.anthropic.claude-sonnet-4-5-20250929-v1:0`` -> ``EuAnthropicClaudeSonnet4520250929V10``
    (Sids allow only ASCII letters and digits)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text))


def one_or_many(values: Iterable[str]) -> str | list[str]:
    """A scalar for one value (the shape of AWS's examples), else a sorted list."""
    items = sorted(set(values))
    return items[0] if len(items) == 1 else items


def short_regions(regions: Iterable[str]) -> str:
    """Full list up to eight Regions, else a count with the first and last (the JSON has all)."""
    items = sorted(regions)
    if not items:
        return "-"
    real = [r for r in items if r != UNSPECIFIED_REGION]
    if len(real) > 8:
        text = f"{len(real)} Regions ({real[0]} … {real[-1]})"
        if frozenset(real) == region_table().partition_regions("aws"):
            text = f"all {len(real)} commercial Regions"
    else:
        text = ", ".join(real)
    if UNSPECIFIED_REGION in items:
        text = f"{text}, {UNSPECIFIED_REGION}" if text else UNSPECIFIED_REGION
    return text
