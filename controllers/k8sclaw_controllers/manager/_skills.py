"""SkillPack reconciler and the mirroring of skill ConfigMaps into run namespaces.

A SkillPack's ConfigMap has the pack's name and one `<skill>.md` key per skill. Packs in
the system namespace are copied into a run's namespace when a run there needs them
(ConfigMaps are namespace-local; reference §15), and refreshed on every run start.
"""

from __future__ import annotations

from typing import Any

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.manager._context import Context, condition
from k8sclaw_protocol import AgentRun, SkillPack, names

Body = dict[str, Any]
ANNOTATION_MIRRORED_FROM = f"{names.GROUP}/mirrored-from"


def skill_data(pack: SkillPack) -> dict[str, str]:
    """One `<skill>.md` key per skill; a described skill gets a title and a quote line."""
    data = {}
    for skill in pack.spec.skills:
        text = skill.content
        if skill.description:
            text = f"# {skill.name}\n\n> {skill.description}\n\n{skill.content}"
        data[f"{skill.name}.md"] = text
    return data


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
    """Create the ConfigMap, or bring data and labels of the existing one up to date."""
    meta = body["metadata"]
    try:
        await ctx.kube.create(_kube.core(meta["namespace"], "configmaps"), body)
    except _kube.ConflictError:
        patch = {"metadata": {"labels": meta["labels"]}, "data": body["data"]}
        path = _kube.core(meta["namespace"], "configmaps", meta["name"])
        current = await ctx.kube.get(path)
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
    await apply_configmap(ctx, configmap(pack, pack.namespace, owned=True))
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


async def mirror_for_run(ctx: Context, run: AgentRun) -> None:
    """Copy system-namespace SkillPacks the run needs into the run's namespace."""
    for ref in run.spec.skills:
        name = ref.skill_pack_ref
        if not name or (run.namespace, name) in ctx.state.skillpacks:
            continue
        source = ctx.state.skillpacks.get((names.SYSTEM_NAMESPACE, name))
        if source is None or run.namespace == names.SYSTEM_NAMESPACE:
            continue
        pack = SkillPack.from_wire(source)
        await apply_configmap(ctx, configmap(pack, run.namespace, owned=False))
