"""C2PA provenance: sign what reelpipe makes, check what it gets, audit any file.

This package is the only part of reelpipe that imports ``c2pa`` (in :mod:`._c2pa`, where every
``c2pa.C2paError`` becomes a :class:`~pipeline.errors.ProvenanceError`). Verification never goes online.

::

    identity = ensure_identity()                      # created on first use: identity.created_now
    sign_generated_clip(clip, identity=identity, title="harbor", digital_source_type="algorithmicMedia",
                        generator="reelpipe local renderer", model=None, reference_image=image)
    verdict = verify(clip)                            # trusted | valid | invalid | missing, with codes
    enforce_policy(verdict, "valid", name="shot 'harbor'")
    sign_composite(sequence, identity=identity, edit={...},
                   ingredients=[Ingredient(clip, "harbor"), Ingredient(logo, "logo.png", role="image")])
    report = audit_paths([Path("out")], trust=None, require="valid")   # report.passed, report.to_dict()

Modules: :mod:`.identity` (keys, certificates, trust list), :mod:`.sign`, :mod:`.verify` (verdicts and
policy), :mod:`.audit` (walk and report, the JSON shape), :mod:`.vocabulary` (IPTC source types, levels).
"""

from __future__ import annotations

from pipeline.provenance.audit import AUDIT_SCHEMA, AuditReport, FileAudit, audit_paths
from pipeline.provenance.identity import (
    Identity,
    TrustAnchor,
    add_trust_anchor,
    ensure_identity,
    find_identity,
    load_identity,
    load_trust_anchors,
    new_identity,
    reelpipe_home,
    use_identity,
)
from pipeline.provenance.sign import Ingredient, composite_source_type, sign_composite, sign_generated_clip
from pipeline.provenance.verify import (
    Check,
    IngredientVerdict,
    Verdict,
    enforce_policy,
    meets_policy,
    policy_failures,
    verify,
)
from pipeline.provenance.vocabulary import (
    DIGITAL_SOURCE_TYPES,
    POLICY_LEVELS,
    STATES,
    digital_source_type_for_backend,
)

__all__ = [
    "AUDIT_SCHEMA",
    "DIGITAL_SOURCE_TYPES",
    "POLICY_LEVELS",
    "STATES",
    "AuditReport",
    "Check",
    "FileAudit",
    "Identity",
    "Ingredient",
    "IngredientVerdict",
    "TrustAnchor",
    "Verdict",
    "add_trust_anchor",
    "audit_paths",
    "composite_source_type",
    "digital_source_type_for_backend",
    "enforce_policy",
    "ensure_identity",
    "find_identity",
    "load_identity",
    "load_trust_anchors",
    "meets_policy",
    "new_identity",
    "policy_failures",
    "reelpipe_home",
    "sign_composite",
    "sign_generated_clip",
    "use_identity",
    "verify",
]
