"""The bedrock control plane: inference profiles and foundation models, per source Region.

``GetInferenceProfile`` answers ``models[].modelArn`` with one foundation-model ARN per
destination Region *for the caller's Region*, the authoritative destination set per the user
guide. ``CreateInferenceProfile`` creates application profiles that route like the profile they
copy (or stay in one Region when copying a foundation-model ARN).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

from langchain_cris.catalog import InferenceProfile, parse_model_arn_region
from langchain_cris.emulator.aws_errors import AwsError, validation
from langchain_cris.emulator.invoke_formats import family_of
from langchain_cris.emulator.pagination import decode_token, encode_token
from langchain_cris.emulator.protocol import Request, Response
from langchain_cris.emulator.state import EmulatorState

__all__ = ["ControlPlane"]

_EPOCH_CREATED = 1_730_000_000.0  # fixed "createdAt" of system profiles (2024-10-27)
_PROVIDERS = {
    "anthropic": "Anthropic",
    "amazon": "Amazon",
    "meta": "Meta",
    "cohere": "Cohere",
}


def _invalid_token() -> AwsError:
    return validation("The provided pagination token is invalid.")


class ControlPlane:
    """Handles the bedrock (control plane) REST operations the library uses."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # -- inference profiles ----------------------------------------------------------------
    def _summary(self, profile: InferenceProfile, source: str) -> dict[str, Any]:
        account = self.state.config.account_id
        meta = self.state.application_profiles.get(profile.arn or "", {})
        created = float(meta.get("created", _EPOCH_CREATED))  # type: ignore[arg-type]
        summary: dict[str, Any] = {
            "inferenceProfileName": profile.name or _display_name(profile),
            "description": str(meta.get("description", "")) or _description(profile),
            "createdAt": created,
            "updatedAt": created,
            "inferenceProfileArn": profile.arn_for(source, account),
            "models": [
                {"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{profile.model_id}"}
                for r in sorted(profile.destinations(source))
            ],
            "inferenceProfileId": profile.profile_id,
            "status": "ACTIVE",
            "type": profile.profile_type,
        }
        return summary

    def _visible(self, source: str) -> list[InferenceProfile]:
        return [
            p
            for p in self.state.catalog
            if p.destinations(source)
            and (p.profile_type == "SYSTEM_DEFINED" or (p.arn or "").split(":")[3] == source)
        ]

    def list_inference_profiles(self, request: Request, source: str) -> Response:
        type_equals = request.query_value("type")
        if type_equals not in (None, "SYSTEM_DEFINED", "APPLICATION"):
            raise validation(
                f"1 validation error detected: Value '{type_equals}' at 'typeEquals' failed to "
                "satisfy constraint: Member must satisfy enum value set: "
                "[SYSTEM_DEFINED, APPLICATION]"
            )
        profiles = [
            p for p in self._visible(source) if p.profile_type == (type_equals or "SYSTEM_DEFINED")
        ]
        return Response.json(self._page(request, [self._summary(p, source) for p in profiles]))

    def _page(self, request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
        raw_max = request.query_value("maxResults")
        limit = int(raw_max) if raw_max else 1000
        if not 1 <= limit <= 1000:
            raise validation(
                f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy "
                "constraint: Member must have value less than or equal to 1000"
            )
        fingerprint = request.query_value("type") or ""
        offset = decode_token(request.query_value("nextToken"), fingerprint, _invalid_token) or 0
        page = items[offset : offset + limit]
        out: dict[str, Any] = {"inferenceProfileSummaries": page}
        if offset + limit < len(items):
            out["nextToken"] = encode_token(offset + limit, fingerprint)
        return out

    def get_inference_profile(self, identifier: str, source: str) -> Response:
        profile = self.state.catalog.get(identifier)
        visible = profile is not None and profile in self._visible(source)
        if identifier.startswith("arn:") and identifier.split(":")[3] != source:
            visible = False
        if profile is None or not visible:
            raise AwsError("ResourceNotFoundException", "Inference profile not found.")
        return Response.json(self._summary(profile, source))

    def create_inference_profile(self, request: Request, source: str) -> Response:
        body = request.json()
        name = body.get("inferenceProfileName")
        copy_from = (body.get("modelSource") or {}).get("copyFrom")
        if not name or not copy_from:
            raise validation("inferenceProfileName and modelSource.copyFrom are required.")
        with self.state.lock:
            for meta in self.state.application_profiles.values():
                if meta["name"] == name and meta["region"] == source:
                    raise AwsError(
                        "ConflictException", f"An inference profile named {name} already exists."
                    )
        routes, model_id = self._copy_routes(str(copy_from), source)
        profile_id = "".join(
            secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12)
        )
        arn = (
            f"arn:aws:bedrock:{source}:{self.state.config.account_id}:"
            f"application-inference-profile/{profile_id}"
        )
        profile = InferenceProfile(
            profile_id=profile_id,
            model_id=model_id,
            geography="application",
            routes={source: frozenset(routes)},
            profile_type="APPLICATION",
            arn=arn,
            name=str(name),
        )
        with self.state.lock:
            self.state.application_profiles[arn] = {
                "name": name,
                "region": source,
                "description": body.get("description", ""),
                "tags": body.get("tags", []),
                "created": time.time(),
            }
        self.state.catalog.add(profile)
        return Response.json({"inferenceProfileArn": arn, "status": "ACTIVE"}, status=201)

    def _copy_routes(self, copy_from: str, source: str) -> tuple[Iterable[str], str]:
        if ":foundation-model/" in copy_from:
            region, model_id = parse_model_arn_region(copy_from)
            if region != source:
                raise validation("The foundation model ARN must be in the Region of the request.")
            if model_id not in self.state.catalog.model_ids():
                raise AwsError("ResourceNotFoundException", f"Model {model_id} not found.")
            return [source], model_id
        profile = self.state.catalog.get(copy_from)
        if (
            profile is None
            or profile.profile_type != "SYSTEM_DEFINED"
            or not copy_from.startswith(f"arn:aws:bedrock:{source}:")
            or not profile.destinations(source)
        ):
            raise AwsError("ResourceNotFoundException", f"Inference profile {copy_from} not found.")
        return profile.destinations(source), profile.model_id

    # -- foundation models -----------------------------------------------------------------
    def list_foundation_models(self, request: Request, source: str) -> Response:
        catalog = self.state.catalog
        by_type = request.query_value("byInferenceType")
        by_provider = (request.query_value("byProvider") or "").lower()
        by_output = request.query_value("byOutputModality")
        profiled = {p.model_id for p in self._visible(source) if p.profile_type == "SYSTEM_DEFINED"}
        summaries = []
        for model_id in sorted(catalog.model_ids()):
            types = []
            if source in catalog.on_demand_regions(model_id):
                types.append("ON_DEMAND")
            if model_id in profiled:
                types.append("INFERENCE_PROFILE")
            if not types or (by_type and by_type not in types):
                continue
            provider = model_id.split(".", 1)[0]
            output = (
                "EMBEDDING" if family_of(model_id) in ("titan-embed", "cohere-embed") else "TEXT"
            )
            if (by_provider and provider != by_provider) or (by_output and by_output != output):
                continue
            summaries.append(
                {
                    "modelArn": f"arn:aws:bedrock:{source}::foundation-model/{model_id}",
                    "modelId": model_id,
                    "modelName": model_id.split(".", 1)[-1],
                    "providerName": _PROVIDERS.get(provider, provider.title()),
                    "inputModalities": ["TEXT"],
                    "outputModalities": [output],
                    "responseStreamingSupported": output == "TEXT",
                    "customizationsSupported": [],
                    "inferenceTypesSupported": types,
                    "modelLifecycle": {"status": "ACTIVE"},
                }
            )
        return Response.json({"modelSummaries": summaries})


def _display_name(profile: InferenceProfile) -> str:
    prefix = profile.profile_id.split(".", 1)[0].upper()
    return f"{prefix} {profile.model_id}"


def _description(profile: InferenceProfile) -> str:
    return f"Routes requests to {profile.model_id} across Regions."
