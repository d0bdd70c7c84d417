"""Audit any files: verdict, signer, actions and the whole ingredient tree, against a policy level.

:func:`audit_paths` takes files and folders (folders are walked recursively for media files by extension,
hidden entries skipped). A file fails when it falls below the level (see
:func:`pipeline.provenance.verify.policy_failures`): its own manifest is invalid, *or any ingredient
anywhere in its tree is invalid* — a composite built from a tampered clip reads ``trusted`` at the top and
still fails, naming the clip. A file that is not media, truncated or malformed gets its own error and fails;
the others are still audited.

The JSON shape (``reelpipe audit --json``; ``schema`` changes only with a new number)::

    {
      "schema": "reelpipe.audit/1",
      "reelpipe_version": "0.1.0",
      "c2pa_sdk_version": "0.91.3",
      "require": "valid",                       # trusted | valid | present | off
      "passed": false,                          # every file passed
      "counts": {"files": 3, "passed": 1, "failed": 2, "errors": 1},
      "trust_anchors": [{"path", "subject", "fingerprint_sha256", "source": "own|config|flag"}],
      "files": [
        {
          "path": "out/harbor.mp4",
          "passed": false,
          "reasons": ["ingredient 'boat.mp4' is invalid (assertion.bmffHash.mismatch)"],
          "error": null,                        # or "not a readable media file (...)"; verdict is then null
          "verdict": {
            "state": "trusted",                 # trusted | valid | invalid | missing
            "codes": [],                        # failure codes of the file's own manifest
            "failures": [{"code", "explanation"}],
            "signer": "CN=reelpipe signer, O=reelpipe (self-issued)",
            "issuer": "CN=reelpipe signer Root CA, O=reelpipe (self-issued)",
            "generator": "reelpipe/0.1.0",
            "signing_time": "2026-01-01T12:00:00+00:00",
            "signing_time_source": "claimed",   # timestamp (a TSA vouches) | claimed (the signer says) | null
            "digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
            "title": "harbor.mp4", "format": "video/mp4", "manifest": "urn:c2pa:...",
            "actions": ["c2pa.created", "c2pa.placed", "c2pa.placed", "c2pa.edited"],
            "ingredients": [
              {
                "title": "boat.mp4", "relationship": "componentOf", "format": "video/mp4",
                "state": "invalid",             # re-checked where possible, else as recorded; missing = no manifest
                "codes": ["assertion.bmffHash.mismatch"],
                "recorded": {"state": "invalid", "codes": ["assertion.bmffHash.mismatch"]},   # or null
                "rechecked": {"state": "invalid", "codes": ["assertion.bmffHash.mismatch"]},  # or null
                "manifest": "urn:c2pa:...", "signer": "...", "issuer": "...", "generator": "...",
                "digital_source_type": "...", "signing_time": "...", "actions": ["c2pa.created"],
                "ingredients": [ ...the same shape... ]
              }
            ]
          }
        }
      ]
    }
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError, UsageError
from pipeline.provenance import _c2pa
from pipeline.provenance.identity import TrustAnchor, load_trust_anchors
from pipeline.provenance.verify import Verdict, anchors_pem, policy_failures, read_verdict
from pipeline.provenance.vocabulary import POLICY_LEVELS

__all__ = ["AUDIT_SCHEMA", "MEDIA_SUFFIXES", "AuditReport", "FileAudit", "audit_paths", "expand_paths"]

AUDIT_SCHEMA = "reelpipe.audit/1"

MEDIA_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".m4a", ".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".avif",
    ".heic", ".heif", ".wav", ".mp3", ".flac",
})
"""What a folder walk picks up. Files named on the command line are audited whatever their extension."""


@dataclass
class FileAudit:
    """The audit of one file: its verdict (or the error that prevented one) and why it failed, if it did."""

    path: Path
    verdict: Verdict | None
    error: str | None
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "passed": self.passed,
            "reasons": list(self.reasons),
            "error": self.error,
            "verdict": self.verdict.to_dict() if self.verdict else None,
        }


@dataclass
class AuditReport:
    """Every audited file, the policy level and the trust list used."""

    require: str
    files: list[FileAudit]
    trust_anchors: list[TrustAnchor]

    @property
    def passed(self) -> bool:
        """True when every file passed (and there was at least one)."""
        return bool(self.files) and all(f.passed for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape documented in this module's docstring."""
        from pipeline import __version__

        return {
            "schema": AUDIT_SCHEMA,
            "reelpipe_version": __version__,
            "c2pa_sdk_version": _c2pa.sdk_version(),
            "require": self.require,
            "passed": self.passed,
            "counts": {
                "files": len(self.files),
                "passed": sum(1 for f in self.files if f.passed),
                "failed": sum(1 for f in self.files if not f.passed),
                "errors": sum(1 for f in self.files if f.error is not None),
            },
            "trust_anchors": [a.to_dict() for a in self.trust_anchors],
            "files": [f.to_dict() for f in self.files],
        }


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files to audit: named files as given, folders walked recursively for media files (sorted, no
    hidden entries). A path that does not exist is kept, so it is reported as an error."""
    out: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found: list[Path] = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(Path(root) / f for f in files
                             if not f.startswith(".") and Path(f).suffix.lower() in MEDIA_SUFFIXES)
            out.extend(sorted(found))
        else:
            out.append(path)
    return out


def audit_paths(paths: list[Path], *, trust: list[Path] | None = None, require: str = "valid") -> AuditReport:
    """Audit every file in ``paths`` (folders recursively) against the level ``require``.

    Args:
        paths: files and folders.
        trust: extra PEM trust anchor files; the user's own root and ``trust/*.pem`` are always trusted.
        require: ``trusted`` | ``valid`` | ``present`` | ``off``.

    Returns:
        The :class:`AuditReport`; ``.passed`` says whether every file passed.

    Raises:
        UsageError: ``require`` is unknown, a trust file is bad, or there is nothing to audit.
    """
    if require not in POLICY_LEVELS:
        raise UsageError(f"unknown provenance level {require!r}", hint=f"use one of: {', '.join(POLICY_LEVELS)}")
    files = expand_paths(paths)
    if not files:
        raise UsageError("no media files to audit in " + ", ".join(str(p) for p in paths),
                         hint=f"folders are searched for: {', '.join(sorted(MEDIA_SUFFIXES))}")
    anchors = load_trust_anchors(trust)
    context = _c2pa.make_context(anchors_pem=anchors_pem(anchors))
    results: list[FileAudit] = []
    for path in files:
        try:
            verdict = read_verdict(path, context)
        except PipelineError as exc:
            results.append(FileAudit(path=path, verdict=None, error=exc.message))
            continue
        results.append(FileAudit(path=path, verdict=verdict, error=None,
                                 reasons=policy_failures(verdict, require)))
    return AuditReport(require=require, files=results, trust_anchors=anchors)
