"""SkillPack reconciler and the mirroring of skill ConfigMaps into run namespaces.

A SkillPack's ConfigMap has the pack's name and one `<skill>.md` key per skill. Packs in
the system namespace are copied into a run's namespace when a run there needs them
(ConfigMaps are namespace-local; reference §15), and refreshed on every run start.

Only ConfigMaps carrying our managed-by and skillpack labels are ever updated (#13 item
15): an unrelated ConfigMap that happens to have a pack's name is left untouched, and the
run that needs the pack fails saying so (`ConfigMapClashError`); the pack reports it in
its Ready condition. A run never mounts such a ConfigMap.
"""

from __future__ import annotations

from typing import Any

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.manager._context import Context, condition
from k8sclaw_protocol import AgentRun, SkillPack, names
from k8sclaw_protocol._skillpack import skill_files

Body = dict[str, Any]
ANNOTATION_MIRRORED_FROM = f"{names.GROUP}/mirrored-from"


class ConfigMapClashError(Exception):
    """A ConfigMap with the pack's name exists and is not one we manage."""


def managed_by_pack(body: Body, pack: str) -> bool:
    """Whether a ConfigMap carries our managed-by label and this pack's label."""
    labels = (body.get("metadata") or {}).get("labels") or {}
    return bool(
        labels.get(names.LABEL_MANAGED_BY) == names.MANAGED_BY
        and labels.get(names.LABEL_SKILLPACK) == pack
    )


def _clash(namespace: str, name: str) -> ConfigMapClashError:
    return ConfigMapClashError(
        f'ConfigMap "{name}" in namespace "{namespace}" is not managed by K8sClaw (it lacks '
        f"the labels {names.LABEL_MANAGED_BY}={names.MANAGED_BY} and "
        f'{names.LABEL_SKILLPACK}={name}), so SkillPack "{name}" cannot be mounted; the '
        "ConfigMap was left untouched — rename the SkillPack or the ConfigMap"
    )


def skill_data(pack: SkillPack) -> dict[str, str]:
    """One `<skill>.md` key per skill (`k8sclaw_protocol._skillpack.skill_files`)."""
    return skill_files(pack)


def configmap(pack: SkillPack, namespace: str, owned: bool) -> Body:
    """The ConfigMap of a SkillPack in `namespace` (owned by the pack when in its namespace)."""
    meta: Body = {
        "name": pack.name,
        "namespace": namespace,
        "labels": {
            names.LABEL_COMPONENT: names.COMPONENT_SKILLPACK,
            names.LABEL_SKILLPACK: pack.name,
            names.LABEL_MANAGED_BY: names.MANAGED_BY,
        },
    }
    if owned:
        meta["ownerReferences"] = [
            {
                "apiVersion": names.GROUP_VERSION,
                "kind": "SkillPack",
                "name": pack.name,
                "uid": pack.metadata.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    else:
        meta["annotations"] = {ANNOTATION_MIRRORED_FROM: f"{pack.namespace}/{pack.name}"}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": skill_data(pack)}


async def apply_configmap(ctx: Context, body: Body) -> None:
    """Create the ConfigMap, or bring data and labels of the existing one up to date;
    `ConfigMapClashError` (and no write) when the existing one is not ours."""
    meta = body["metadata"]
    try:
        await ctx.kube.create(_kube.core(meta["namespace"], "configmaps"), body)
    except _kube.ConflictError:
        patch = {"metadata": {"labels": meta["labels"]}, "data": body["data"]}
        path = _kube.core(meta["namespace"], "configmaps", meta["name"])
        current = await ctx.kube.get(path)
        if not managed_by_pack(current, meta["name"]):
            raise _clash(meta["namespace"], meta["name"]) from None
        stale = set(current.get("data") or {}) - set(body["data"])
        patch["data"] = {**dict.fromkeys(stale), **body["data"]}
        await ctx.kube.patch(path, patch)


async def reconcile(ctx: Context, body: Body, event_type: str | None) -> None:
    """SkillPack changed: keep its ConfigMap in sync and report Ready."""
    meta = body.get("metadata") or {}
    key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
    if event_type == "DELETED" or meta.get("deletionTimestamp"):  # maybe a tombstone
        ctx.state.skillpacks.pop(key, None)
        return  # the owner reference lets the garbage collector remove the ConfigMap
    pack = SkillPack.from_wire(body)
    ctx.state.skillpacks[key] = body
    if pack.status and pack.status.observed_generation == pack.metadata.generation:
        return
    try:
        await apply_configmap(ctx, configmap(pack, pack.namespace, owned=True))
    except ConfigMapClashError as clash:
        await _report_clash(ctx, body, pack, str(clash))
        return
    generation = pack.metadata.generation
    status = {
        "phase": "Ready",
        "configMapName": pack.name,
        "skillCount": len(pack.spec.skills),
        "observedGeneration": generation,
        "conditions": [
            condition(
                "Ready",
                True,
                "ConfigMapSynced",
                f"ConfigMap {pack.name} holds {len(pack.spec.skills)} skills",
                generation,
            )
        ],
    }
    await ctx.kube.patch(
        _kube.claw(pack.namespace, "skillpacks", pack.name, "status"), {"status": status}
    )
    ctx.event(body, "Synced", f"ConfigMap {pack.name} updated")


async def _report_clash(ctx: Context, body: Body, pack: SkillPack, message: str) -> None:
    generation = pack.metadata.generation
    status = {
        "phase": "Error",
        "observedGeneration": generation,
        "conditions": [condition("Ready", False, "ConfigMapConflict", message, generation)],
    }
    await ctx.kube.patch(
        _kube.claw(pack.namespace, "skillpacks", pack.name, "status"), {"status": status}
    )
    ctx.event(body, "ConfigMapConflict", message, warning=True)


async def _verify_managed(ctx: Context, namespace: str, name: str) -> None:
    """The pack's ConfigMap in `namespace` is ours, or absent (its projection is optional
    and the SkillPack reconciler creates it)."""
    try:
        current = await ctx.kube.get(_kube.core(namespace, "configmaps", name))
    except _kube.NotFoundError:
        return
    if not managed_by_pack(current, name):
        raise _clash(namespace, name)


async def mirror_for_run(ctx: Context, run: AgentRun) -> None:
    """Make sure every SkillPack ConfigMap the run mounts is ours: copy system-namespace
    packs into the run's namespace; check the others. `ConfigMapClashError` otherwise."""
    for ref in run.spec.skills:
        name = ref.skill_pack_ref
        if not name:
            continue
        source = ctx.state.skillpacks.get((names.SYSTEM_NAMESPACE, name))
        local = (run.namespace, name) in ctx.state.skillpacks
        if source is None or local or run.namespace == names.SYSTEM_NAMESPACE:
            await _verify_managed(ctx, run.namespace, name)
            continue
        pack = SkillPack.from_wire(source)
        await apply_configmap(ctx, configmap(pack, run.namespace, owned=False))
