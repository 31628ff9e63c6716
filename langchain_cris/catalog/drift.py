"""Route drift: where AWS's live answers differ from the catalog a team approved.

``compare_catalogs(reference, live, regions)`` lists, per source Region, every profile whose
destinations grew or shrank between the reference (the bundle or a pinned snapshot) and the
live answers; ``affected_policies`` says which policies a widening touches. The
``langchain-cris profiles --drift`` command prints this and exits 1 on any widening, so a
compliance team re-approves before AWS's change meets their traffic.

Kinds of change, per (profile, source Region):

* ``widened`` — the live row reaches Regions the reference row does not (exit 1);
* ``narrowed`` — the live row lost Regions (and gained none);
* ``new_source`` — the profile exists in the reference but could not be called from this
  Region there; AWS now answers for it;
* ``new_profile`` — a profile the reference does not know;
* ``gone`` — the reference row exists, the live answer does not list the profile.

Global rows count as changed only when their Region set changes, which is what an SCP or a
policy sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from langchain_cris.catalog.profiles import ProfileCatalog
from langchain_cris.policy import ResidencyPolicy

__all__ = ["DriftKind", "RouteDrift", "affected_policies", "compare_catalogs"]

DriftKind = Literal["widened", "narrowed", "new_source", "new_profile", "gone"]
_WIDENING: frozenset[str] = frozenset({"widened"})


@dataclass(frozen=True)
class RouteDrift:
    """One (profile, source Region) row that differs between reference and live."""

    profile_id: str
    source_region: str
    kind: DriftKind
    before: frozenset[str]
    after: frozenset[str]

    @property
    def added(self) -> frozenset[str]:
        return self.after - self.before

    @property
    def removed(self) -> frozenset[str]:
        return self.before - self.after

    @property
    def widening(self) -> bool:
        """True when a call that was judged by ``before`` may now reach more Regions."""
        return self.kind in _WIDENING

    def to_json(self, policies: Iterable[ResidencyPolicy] = ()) -> dict[str, Any]:
        out: dict[str, Any] = {
            "profile": self.profile_id,
            "source_region": self.source_region,
            "kind": self.kind,
            "added": sorted(self.added),
            "removed": sorted(self.removed),
            "before": sorted(self.before),
            "after": sorted(self.after),
        }
        if self.widening:
            out["affects_policies"] = [p.name for p in affected_policies(self, policies)]
        return out


def compare_catalogs(
    reference: ProfileCatalog, live: ProfileCatalog, regions: Iterable[str]
) -> list[RouteDrift]:
    """Every row of ``regions`` whose destinations differ between ``reference`` and ``live``.

    ``live`` must hold only live answers for ``regions`` (start it empty and refresh it), so a
    profile it does not list from a Region is one AWS did not answer for there.
    """
    out: list[RouteDrift] = []
    for region in sorted(set(regions)):
        live_rows = {p.profile_id: p.destinations(region) for p in live if region in p.routes}
        ref_rows = {p.profile_id: p.destinations(region) for p in reference if region in p.routes}
        for pid in sorted(live_rows.keys() | ref_rows.keys()):
            ref_row, live_row = ref_rows.get(pid), live_rows.get(pid)
            if ref_row == live_row:
                continue
            before, after = ref_row or frozenset(), live_row or frozenset()
            kind: DriftKind
            if live_row is None:
                kind = "gone"
            elif ref_row is None:
                kind = "new_source" if reference.get(pid) is not None else "new_profile"
            elif after - before:
                kind = "widened"
            else:
                kind = "narrowed"
            out.append(RouteDrift(pid, region, kind, before, after))
    return out


def affected_policies(
    drift: RouteDrift, policies: Iterable[ResidencyPolicy]
) -> list[ResidencyPolicy]:
    """Policies that allowed the reference row but not the live one.

    With live refresh on, those calls are now refused; with it off (offline), they would be
    sent to Regions outside the policy. Either way the route needs re-approval.
    """
    found = []
    for policy in policies:
        if drift.source_region not in policy.allowed_sources:
            continue
        if drift.before <= policy.regions and not drift.after <= policy.regions:
            found.append(policy)
    return found
