"""The serving app's config (one Ray Serve application per MoltingModel) and the pure builders of
the Serve config that runs it: the dict for ``serve.run`` / the Serve REST API and the
``serveConfigV2`` YAML of a KubeRay ``RayService``.

The operator builds a ``ServeAppConfig`` and calls these builders; `molting serve` and the local
driver do the same. What changes on every rollout step (revisions, weights, filter, generation
defaults, limits) goes into the deployments' ``user_config`` and is applied by ``reconfigure()``
without restarting replicas; only what needs a new process (the base model, the device, the
adapter cache size) goes into the application ``args``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from molting_workloads.contract.base import WireModel
from molting_workloads.contract.capture import CaptureSettings
from molting_workloads.contract.errors import ServeConfigError
from molting_workloads.contract.human_eval import HumanEvalSettings
from molting_workloads.contract.policies import FilterPolicy, GenerationDefaults

IMPORT_PATH = "molting_workloads.serving.app:build_app"
GENERATOR = "Generator"
INGRESS = "Ingress"
STICKY_HEADER = "x-user-id"  # the default header that keeps a user on one revision

_HEADER_PATTERN = r"^[A-Za-z0-9-]+$"
_REVISION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class RevisionEntry(WireModel):
    """One adapter revision the app can serve, and its share of user traffic."""

    revision: str = Field(
        ...,
        min_length=1,
        max_length=63,
        pattern=_REVISION_PATTERN,
        description="The revision id (also the multiplexed model id and the response header).",
    )
    adapter: str = Field(
        ..., min_length=1, max_length=1024, description="Path of the LoRA adapter folder."
    )
    weight: int = Field(
        0, ge=0, le=100, description="Percent of user traffic; 0 still serves pinned requests."
    )
    filter: bool | None = Field(
        None, description="Whether the filter runs on this revision's answers (none: as "
        "filter.enabled says): an A/B of a cleaned model without the filter against the original "
        "with it.",
    )


class ServeAppConfig(WireModel):
    """Everything the serving app of one MoltingModel needs."""

    name: str = Field(
        ...,
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="The Serve application name (the MoltingModel's name); also the model id.",
    )
    base_model: str = Field(..., min_length=1, max_length=512, description="Hub id or path.")
    base_model_revision: str | None = Field(None, max_length=128)
    revisions: list[RevisionEntry] = Field(
        default_factory=list,
        max_length=128,
        description="Revisions in rollout order: stable first, the candidate last (sticky "
        "assignment keeps a candidate's users as its weight grows).",
    )
    filter: FilterPolicy = Field(default_factory=FilterPolicy)
    generation: GenerationDefaults = Field(default_factory=GenerationDefaults)
    capture: CaptureSettings = Field(
        default_factory=CaptureSettings, description="Conversation capture (off by default)."
    )
    sticky_header: str = Field(STICKY_HEADER, max_length=128, pattern=_HEADER_PATTERN)
    revision_header: str = Field(
        "x-molting-revision",
        max_length=128,
        pattern=_HEADER_PATTERN,
        description="Response header naming the revision; on a request it pins one.",
    )
    probe_label_header: str = Field(
        "x-molting-probe",
        max_length=128,
        pattern=_HEADER_PATTERN,
        description="Request header that marks probe traffic (counted apart from users).",
    )
    route_prefix: str = Field("/", max_length=256, pattern=r"^/[A-Za-z0-9._~/-]*$")
    max_adapters_per_replica: int = Field(4, ge=1, le=64)
    replicas: int = Field(1, ge=1, le=64, description="Generator replicas.")
    max_prompt_chars: int = Field(16000, ge=1, le=10_000_000)
    max_tokens_limit: int = Field(2048, ge=1, le=131072)
    device: str | None = Field(None, max_length=32, description="cpu, cuda, cuda:0; None: auto.")
    quantize_4bit: bool = Field(False, alias="quantize4bit")
    num_gpus: float = Field(0.0, ge=0.0, le=8.0, description="GPUs per Generator replica.")
    num_cpus: float = Field(1.0, ge=0.0, le=100.0, description="CPUs per Generator replica.")
    max_batch_size: int = Field(8, ge=1, le=256, description="Generator batch (@serve.batch).")
    batch_wait_timeout_s: float = Field(0.005, ge=0.0, le=1.0)
    max_queued_requests: int = Field(
        64, ge=1, le=10_000,
        description="Requests waiting for a batch, per Generator replica; past it the server "
        "answers 503 with Retry-After instead of letting latency grow.",
    )
    ingress_max_ongoing_requests: int = Field(128, ge=1, le=10_000)
    api_key_file: str | None = Field(
        None,
        max_length=1024,
        description="A mounted secret file with the bearer token; MOLTING_API_KEY also works.",
    )
    human_eval: HumanEvalSettings | None = Field(
        None, description="The human evaluation page (/eval); None: its defaults."
    )

    @field_validator("sticky_header", "revision_header", "probe_label_header")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @model_validator(mode="after")
    def _revisions_add_up(self) -> ServeAppConfig:
        names = [r.revision for r in self.revisions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"revisions: duplicate revision ids {duplicates}")
        total = sum(r.weight for r in self.revisions)
        if self.revisions and total != 100:
            raise ValueError(
                f"revisions: weights must add up to 100, got {total} "
                f"({', '.join(f'{r.revision}={r.weight}' for r in self.revisions)})"
            )
        headers = {self.sticky_header, self.revision_header, self.probe_label_header}
        if len(headers) != 3:
            raise ValueError("stickyHeader, revisionHeader and probeLabelHeader must differ")
        if self.capture.enabled and not self.capture.directory:
            raise ValueError("capture.directory: capture is enabled but names no folder")
        problems = self.human_eval.problems(names) if self.human_eval else []
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def weights(self) -> dict[str, int]:
        return {r.revision: r.weight for r in self.revisions}

    def with_weights(self, weights: dict[str, int]) -> ServeAppConfig:
        """A copy with new weights (revisions not named get 0); validated again."""
        unknown = set(weights) - {r.revision for r in self.revisions}
        if unknown:
            raise ServeConfigError(f"with_weights: unknown revisions {sorted(unknown)}")
        revisions = [r.model_copy(update={"weight": weights.get(r.revision, 0)}) for r in self.revisions]
        return validate_config({**self.to_wire(), "revisions": [r.to_wire() for r in revisions]})


class AppArgs(WireModel):
    """The application ``args``: what is fixed for the life of a replica."""

    name: str
    base_model: str
    base_model_revision: str | None = None
    device: str | None = None
    quantize_4bit: bool = Field(False, alias="quantize4bit")
    max_adapters_per_replica: int = 4
    api_key_file: str | None = None


class GeneratorSettings(WireModel):
    """The Generator's ``user_config``: batching, the queue bound, and the adapters to load
    before traffic."""

    max_batch_size: int = 8
    batch_wait_timeout_s: float = 0.005
    max_queued_requests: int = 64
    prewarm: list[RevisionEntry] = Field(default_factory=list)


class IngressSettings(WireModel):
    """The Ingress's ``user_config``: the traffic split, the filter and the request limits."""

    revisions: list[RevisionEntry] = Field(default_factory=list)
    filter: FilterPolicy = Field(default_factory=FilterPolicy)
    generation: GenerationDefaults = Field(default_factory=GenerationDefaults)
    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    sticky_header: str = STICKY_HEADER
    revision_header: str = "x-molting-revision"
    probe_label_header: str = "x-molting-probe"
    max_prompt_chars: int = 16000
    max_tokens_limit: int = 2048
    human_eval: HumanEvalSettings | None = None
    settings_hash: str | None = Field(
        None, description="settings_hash of the whole app config this came from; the Ingress "
        "reports it on /stats, so it says which config the app runs, replicas and base model "
        "included.",
    )


def validate_config(data: Any, source: str = "serve config") -> ServeAppConfig:
    """A ``ServeAppConfig`` from a dict, or ``ServeConfigError`` naming each bad field."""
    try:
        return ServeAppConfig.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()
        )
        raise ServeConfigError(f"{source}: {problems}") from error


def load_config(path: str) -> ServeAppConfig:
    """Read a ServeAppConfig YAML (or JSON) file."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise ServeConfigError(f"{path}: cannot read the serve config: {error}") from error
    return validate_config(data, path)


def build_app_args(cfg: ServeAppConfig) -> AppArgs:
    return AppArgs(
        name=cfg.name,
        base_model=cfg.base_model,
        base_model_revision=cfg.base_model_revision,
        device=cfg.device,
        quantize_4bit=cfg.quantize_4bit,
        max_adapters_per_replica=cfg.max_adapters_per_replica,
        api_key_file=cfg.api_key_file,
    )


def build_generator_settings(cfg: ServeAppConfig) -> GeneratorSettings:
    # Revisions with traffic are loaded on reconfigure, before requests need them.
    hot = [r for r in cfg.revisions if r.weight > 0][: cfg.max_adapters_per_replica]
    return GeneratorSettings(
        max_batch_size=cfg.max_batch_size,
        batch_wait_timeout_s=cfg.batch_wait_timeout_s,
        max_queued_requests=cfg.max_queued_requests,
        prewarm=hot,
    )


def build_ingress_settings(cfg: ServeAppConfig) -> IngressSettings:
    return IngressSettings(
        revisions=cfg.revisions,
        filter=cfg.filter,
        generation=cfg.generation,
        capture=cfg.capture,
        sticky_header=cfg.sticky_header,
        revision_header=cfg.revision_header,
        probe_label_header=cfg.probe_label_header,
        max_prompt_chars=cfg.max_prompt_chars,
        max_tokens_limit=cfg.max_tokens_limit,
        human_eval=cfg.human_eval,
        settings_hash=settings_hash(cfg),
    )


def settings_hash(cfg: ServeAppConfig) -> str:
    """The one fingerprint of a Serve app config: everything that shapes the app (the split, the
    filter, generation, replicas, resources, the base model). It travels in the Ingress's
    user_config and the Ingress reports it on /stats, so the app itself says which config it
    runs; the operator compares it with what the spec builds now."""
    text = json.dumps(cfg.to_wire(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_app_entry(cfg: ServeAppConfig) -> dict:
    """One entry of the Serve config's ``applications`` list."""
    generator_actor: dict[str, Any] = {"num_cpus": cfg.num_cpus}
    if cfg.num_gpus:
        generator_actor["num_gpus"] = cfg.num_gpus
    return {
        "name": cfg.name,
        "route_prefix": cfg.route_prefix,
        "import_path": IMPORT_PATH,
        "args": build_app_args(cfg).to_wire(),
        "deployments": [
            {
                "name": INGRESS,
                "num_replicas": 1,
                "max_ongoing_requests": cfg.ingress_max_ongoing_requests,
                "user_config": build_ingress_settings(cfg).to_wire(),
                "ray_actor_options": {"num_cpus": 0},
            },
            {
                "name": GENERATOR,
                "num_replicas": cfg.replicas,
                # Queued requests wait inside the replica, where the engine batches them and
                # refuses past max_queued_requests (503 + Retry-After); the slack covers
                # requests still loading their adapter.
                "max_ongoing_requests": cfg.max_batch_size + cfg.max_queued_requests + 8,
                "user_config": build_generator_settings(cfg).to_wire(),
                "ray_actor_options": generator_actor,
            },
        ],
    }


def build_serve_config(cfg: ServeAppConfig, *, http_options: dict | None = None) -> dict:
    """The Serve config (``ServeDeploySchema``) for this app alone.

    ``http_options`` (host, port) matters only when the config also starts Serve, as in the local
    driver; KubeRay sets them itself.
    """
    config: dict[str, Any] = {"applications": [build_app_entry(cfg)]}
    if http_options:
        config["http_options"] = dict(http_options)
    return config


def to_ray_service_yaml(cfg: ServeAppConfig) -> str:
    """The ``serveConfigV2`` string of a KubeRay ``RayService``."""
    return yaml.safe_dump(build_serve_config(cfg), sort_keys=False, default_flow_style=False)


def _ingress_user_config(config: dict, app: str) -> dict | None:
    for entry in config.get("applications") or []:
        if entry.get("name") != app:
            continue
        for deployment in entry.get("deployments") or []:
            if deployment.get("name") == INGRESS:
                return deployment.get("user_config") or {}
    return None


def weights_of(config: dict, app: str) -> dict[str, int] | None:
    """The traffic split inside a Serve config (the Ingress's user_config), if the app is there:
    the reader of what ``build_serve_config`` writes."""
    user_config = _ingress_user_config(config, app)
    if user_config is None:
        return None
    revisions = user_config.get("revisions") or []
    return {r["revision"]: int(r.get("weight", 0)) for r in revisions if r.get("weight")}


def ingress_settings_of(config: dict, app: str) -> IngressSettings | None:
    """The Ingress's settings inside a Serve config (its revisions, adapters and settings_hash),
    None when the app is not there or they are not settings this version writes."""
    user_config = _ingress_user_config(config, app)
    if user_config is None:
        return None
    try:
        return IngressSettings.model_validate(user_config)
    except ValidationError:
        return None
