"""The committed CRD YAML is exactly what the model generates (no silent pruning)."""

from __future__ import annotations

from k8sclaw.installer import CRDS_DIR
from k8sclaw_protocol import _crdgen


def test_committed_crds_match_the_model() -> None:
    generated = _crdgen.render_all()
    committed = {p.name: p.read_text() for p in CRDS_DIR.glob("*.yaml")}
    assert set(committed) == set(generated), "run `make crds`"
    for name, text in generated.items():
        assert committed[name] == text, f"{name} drifted from the model; run `make crds`"


def test_every_model_field_is_in_the_schema() -> None:
    """A field missing from the schema would be pruned by the API server (upstream bug)."""
    from k8sclaw_protocol import KINDS

    for model in KINDS:
        crd = _crdgen.crd_for(model)
        props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        for part in ("spec", "status"):
            field_model = model.model_fields[part].annotation
            sub = next(
                a for a in getattr(field_model, "__args__", (field_model,)) if a is not type(None)
            )
            wire_names = {f.alias or n for n, f in sub.model_fields.items()}
            assert wire_names == set(props[part]["properties"]), (model.__name__, part)
