"""The manifests `k8sclaw install` applies: package data, in the order of SPEC §11.

`load_bundle` reads the YAML shipped next to this package, pins every K8sClaw image to
the release (`names.image`), labels every object with the version, and places the
namespaced presets (policies, skills) into the namespace the user chose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from k8sclaw_protocol import names

MANIFESTS_DIR = Path(__file__).resolve().parent.parent / "manifests"
LABEL_VERSION = "app.kubernetes.io/version"
# (step, folder, control-plane namespace or the user's). Order = SPEC §11.
STEPS: tuple[tuple[str, str], ...] = (
    ("namespace", "namespace"),
    ("crds", "crds"),
    ("rbac", "rbac"),
    ("nats", "nats"),
    ("control plane", "controlplane"),
    ("webhook configurations", "webhook"),
    ("network policies", "network"),
    ("policy presets", "presets"),
    ("default skills", "skills"),
)
USER_NAMESPACE_STEPS = frozenset({"policy presets", "default skills"})
_IMAGE_KEYS = frozenset({"image", "defaultImage"})


@dataclass
class Step:
    """One install step: a name for the progress display and its objects."""

    name: str
    objects: list[dict[str, Any]] = field(default_factory=list)


def load_bundle(version: str, namespace: str, manifests: Path = MANIFESTS_DIR) -> list[Step]:
    """Every step with its objects, images pinned to `version`."""
    steps = []
    for name, folder in STEPS:
        step = Step(name)
        for path in sorted((manifests / folder).glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if doc:
                    step.objects.append(_prepare(doc, version, namespace, name))
        steps.append(step)
    return steps


def _prepare(doc: dict[str, Any], version: str, namespace: str, step: str) -> dict[str, Any]:
    meta = doc.setdefault("metadata", {})
    labels = meta.setdefault("labels", {})
    labels.setdefault(names.LABEL_PART_OF, names.MANAGED_BY)
    labels[names.LABEL_MANAGED_BY] = names.MANAGED_BY
    labels[LABEL_VERSION] = version
    if step in USER_NAMESPACE_STEPS:
        meta["namespace"] = namespace
    _pin_images(doc, version)
    return doc


def _pin_images(node: Any, version: str) -> None:
    """Give every untagged K8sClaw image the release tag (never `latest`)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _IMAGE_KEYS and isinstance(value, str) and _ours_untagged(value):
                node[key] = names.image(value, version)
            else:
                _pin_images(value, version)
    elif isinstance(node, list):
        for item in node:
            _pin_images(item, version)


def _ours_untagged(image: str) -> bool:
    return image.startswith(names.IMAGE_REGISTRY + "/") and ":" not in image.rsplit("/", 1)[-1]


def to_yaml(steps: list[Step]) -> str:
    """The whole bundle as one multi-document YAML stream (`install --dry-run`)."""
    docs = [obj for step in steps for obj in step.objects]
    return yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True)


def object_ref(obj: dict[str, Any]) -> str:
    """`kind/name` (with namespace) as the progress display shows it."""
    meta = obj["metadata"]
    where = f" -n {meta['namespace']}" if meta.get("namespace") else ""
    return f"{obj['kind'].lower()}/{meta['name']}{where}"
