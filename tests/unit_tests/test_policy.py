from __future__ import annotations

import json
from pathlib import Path

import pytest

from langchain_cris import (
    PolicyConflictError,
    PolicyError,
    PolicyFileError,
    ResidencyError,
    ResidencyPolicy,
)

EU = {"eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-3"}


def test_eu_preset_is_member_states_only() -> None:
    eu = ResidencyPolicy.preset("eu")
    assert eu.regions == EU
    for not_eu in ("eu-west-2", "eu-central-2", "il-central-1"):
        assert not_eu not in eu.regions
    assert eu.prefer == "geo"
    assert eu.mode == "enforce"


def test_europe_adds_london_and_zurich() -> None:
    assert ResidencyPolicy.preset("europe").regions == EU | {"eu-west-2", "eu-central-2"}


def test_global_preset_prefers_global_and_allows_all_commercial() -> None:
    g = ResidencyPolicy.preset("global")
    assert g.prefer == "global"
    assert g.allows_global
    assert len(g.regions) == 34
    assert "us-gov-west-1" not in g.regions
    assert not ResidencyPolicy.preset("europe").allows_global


@pytest.mark.parametrize("name", ["us", "apac", "jp", "au", "ca", "us-gov"])
def test_geographic_presets_prefer_geo(name: str) -> None:
    p = ResidencyPolicy.preset(name)
    assert p.prefer == "geo"
    assert p.regions


def test_au_excludes_auckland_and_apac_excludes_middle_east() -> None:
    assert ResidencyPolicy.preset("au").regions == {"ap-southeast-2", "ap-southeast-4"}
    assert "me-central-1" not in ResidencyPolicy.preset("apac").regions


def test_unknown_preset_lists_allowed() -> None:
    with pytest.raises(
        PolicyError,
        match="allowed presets: anz, apac, au, ca, eu, europe, global, in, jp, us, us-gov",
    ):
        ResidencyPolicy.preset("emea")


def test_policy_is_frozen_and_hashable() -> None:
    p = ResidencyPolicy.preset("eu")
    with pytest.raises(ValueError):
        p.mode = "audit"  # type: ignore[misc]
    assert hash(p) == hash(ResidencyPolicy.preset("eu"))
    assert {p, ResidencyPolicy.preset("eu")} == {p}


def test_digest_is_stable_and_content_based() -> None:
    a = ResidencyPolicy.preset("eu")
    b = ResidencyPolicy(name="renamed", regions=EU)
    assert a.digest == b.digest  # the name is not part of what the policy allows
    assert a.digest != ResidencyPolicy.preset("eu", mode="audit").digest
    assert a.digest.startswith("sha256:") and len(a.digest) == 23
    # pinned: a digest change means every trace and audit record would stop matching
    assert a.digest == ResidencyPolicy.preset("eu").digest


def test_str_is_readable() -> None:
    text = str(ResidencyPolicy.preset("eu"))
    assert "'eu'" in text and "enforce" in text and "eu-west-3" in text


def test_combine_is_strictest_wins() -> None:
    europe = ResidencyPolicy.preset("europe", mode="audit", prefer="global")
    fr_de = ResidencyPolicy(name="fr-de", regions={"eu-west-3", "eu-central-1", "eu-west-2"})
    both = europe.combine(fr_de)
    assert both.regions == {"eu-west-3", "eu-central-1", "eu-west-2"}
    assert both.mode == "enforce"
    assert both.prefer == "geo"
    assert both.name == "europe+fr-de"
    assert both == fr_de.combine(europe).model_copy(update={"name": "europe+fr-de"})


def test_combine_in_region_needs_both() -> None:
    a = ResidencyPolicy.preset("eu", allow_in_region=False)
    assert not a.combine(ResidencyPolicy.preset("europe")).allow_in_region


def test_combine_empty_intersection_names_both() -> None:
    with pytest.raises(PolicyConflictError, match="'eu' and 'us'"):
        ResidencyPolicy.preset("eu").combine(ResidencyPolicy.preset("us"))


def test_combine_source_regions_intersect() -> None:
    a = ResidencyPolicy(name="a", regions=EU, source_regions={"eu-central-1"})
    b = ResidencyPolicy(name="b", regions=EU, source_regions={"eu-west-1"})
    with pytest.raises(PolicyConflictError, match="source Region"):
        a.combine(b)


def test_unknown_region_suggests() -> None:
    with pytest.raises(ValueError, match=r"eu-centrall-1.*did you mean eu-central-1"):
        ResidencyPolicy(regions={"eu-centrall-1"})


def test_empty_policy_refused() -> None:
    with pytest.raises(ValueError, match="at least one destination Region"):
        ResidencyPolicy(regions=frozenset())


def test_toml_file_with_preset_and_additions(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(
        'preset = "eu"\nadd_regions = ["eu-west-2"]\nexclude_regions = ["eu-south-2"]\n'
        'mode = "audit"\nsource_regions = ["eu-central-1"]\n'
    )
    p = ResidencyPolicy.from_file(path)
    assert p.name == "acme"  # a file without `name` is named after itself
    assert p.regions == (EU | {"eu-west-2"}) - {"eu-south-2"}
    assert p.mode == "audit"
    assert p.allowed_sources == {"eu-central-1"}


def test_json_round_trip(tmp_path: Path) -> None:
    p = ResidencyPolicy.preset("europe", allow_in_region=False)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(p.to_dict()))
    assert ResidencyPolicy.from_file(path) == p
    assert ResidencyPolicy.from_dict(p.to_dict()) == p


def test_policy_file_typo_is_named(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text('preset = "eu"\nmdoe = "audit"\n')
    with pytest.raises(
        PolicyFileError, match=r"typo.toml: unknown key\(s\) 'mdoe' \(did you mean 'mode'\?\)"
    ):
        ResidencyPolicy.from_file(path)


def test_policy_file_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"preset": "eu", "mode": "block"}))
    with pytest.raises(PolicyFileError, match="mode: Input should be 'enforce' or 'audit'"):
        ResidencyPolicy.from_file(path)


def test_policy_file_bad_syntax_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("preset = \n")
    with pytest.raises(PolicyFileError, match="not valid TOML"):
        ResidencyPolicy.from_file(path)
    with pytest.raises(PolicyFileError, match="cannot read policy file"):
        ResidencyPolicy.from_file(tmp_path / "missing.toml")
    other = tmp_path / "p.yaml"
    other.write_text("x: 1")
    with pytest.raises(PolicyFileError, match=r"use \.toml or \.json"):
        ResidencyPolicy.from_file(other)


def test_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGCHAIN_CRIS_POLICY", raising=False)
    assert ResidencyPolicy.from_env() is None
    monkeypatch.setenv("LANGCHAIN_CRIS_POLICY", "europe")
    assert ResidencyPolicy.from_env() == ResidencyPolicy.preset("europe")
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"name": "x", "regions": ["eu-west-1"]}))
    monkeypatch.setenv("LANGCHAIN_CRIS_POLICY", str(path))
    assert ResidencyPolicy.from_env() == ResidencyPolicy(name="x", regions={"eu-west-1"})
    monkeypatch.setenv("LANGCHAIN_CRIS_POLICY", "nonsense")
    with pytest.raises(PolicyFileError, match=r"\$LANGCHAIN_CRIS_POLICY='nonsense'"):
        ResidencyPolicy.from_env()


def test_every_policy_error_is_a_value_error() -> None:
    assert issubclass(PolicyFileError, ResidencyError)
    assert issubclass(ResidencyError, ValueError)
