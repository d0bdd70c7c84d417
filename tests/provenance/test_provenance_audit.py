"""``reelpipe audit``: a tree for people, a stable JSON shape for scripts, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from provenance_helpers import C2PA_FIXTURES, Media

from pipeline.cli import main
from pipeline.provenance import audit_paths


def audit_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["audit", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def folder(media: Media, tmp_path: Path) -> Path:
    """A folder of mixed files, one in a subfolder, plus a hidden file and a text file that are skipped."""
    root = tmp_path / "deliveries"
    (root / "day2").mkdir(parents=True)
    shutil.copyfile(media.trusted, root / "a-trusted.mp4")
    shutil.copyfile(media.untrusted, root / "b-untrusted.mp4")
    shutil.copyfile(media.video_tampered, root / "c-tampered.mp4")
    shutil.copyfile(media.clip, root / "d-unsigned.mp4")
    shutil.copyfile(media.not_video, root / "e-notes.mp4")
    shutil.copyfile(media.truncated, root / "day2" / "f-truncated.mp4")
    shutil.copyfile(media.trusted, root / ".hidden.mp4")
    (root / "README.txt").write_text("not media", encoding="utf-8")
    return root


def test_every_file_in_a_folder_is_audited_and_broken_ones_get_their_own_error(
        folder: Path, own_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = audit_json(capsys, str(folder))
    assert code == 1
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert sorted(files) == ["a-trusted.mp4", "b-untrusted.mp4", "c-tampered.mp4", "d-unsigned.mp4",
                             "e-notes.mp4", "f-truncated.mp4"]
    assert files["a-trusted.mp4"]["passed"] and files["a-trusted.mp4"]["verdict"]["state"] == "trusted"
    assert files["b-untrusted.mp4"]["passed"]
    assert files["b-untrusted.mp4"]["verdict"]["codes"] == ["signingCredential.untrusted"]
    assert not files["c-tampered.mp4"]["passed"]
    assert "assertion.bmffHash.mismatch" in files["c-tampered.mp4"]["reasons"][0]
    assert files["d-unsigned.mp4"]["reasons"] == ["no C2PA manifest (requires valid)"]
    assert files["e-notes.mp4"]["verdict"] is None
    assert "not a readable media file" in files["e-notes.mp4"]["error"]
    assert "truncated" in files["f-truncated.mp4"]["error"]
    assert report["counts"] == {"files": 6, "passed": 2, "failed": 4, "errors": 2}
    assert report["passed"] is False


def test_exit_zero_when_every_file_passes(media: Media, own_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(media.trusted), str(media.untrusted), str(media.composite_good)]) == 0
    assert main(["audit", "--require", "trusted", str(media.untrusted)]) == 1
    assert main(["audit", "--require", "trusted", "--trust", str(media.other.root_cert_path),
                 str(media.untrusted)]) == 0


def test_require_off_and_present(media: Media, own_home: Path) -> None:
    assert audit_paths([media.video_tampered, media.clip], require="off").passed
    present = audit_paths([media.video_tampered, media.clip], require="present")
    assert [f.passed for f in present.files] == [True, False]


def test_the_composite_built_from_a_tampered_clip_fails_and_the_tree_names_it(
        media: Media, own_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["audit", str(media.composite_bad)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "sequence-bad.mp4" in out
    assert "shot-a-tampered (componentOf)" in out
    assert "INVALID assertion.bmffHash.mismatch" in out
    assert "recorded invalid, re-checked invalid" in out
    assert "fails: ingredient 'shot-a-tampered' is invalid (assertion.bmffHash.mismatch)" in out
    assert "reference.png (inputTo)  no manifest" in out


def test_the_human_view_shows_signer_generator_source_and_actions(
        media: Media, own_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(media.composite_good)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "trusted" in out
    assert "signer CN=Own Signer, O=Own Studio" in out
    assert "generator reelpipe/" in out and "source compositeSynthetic" in out
    assert "actions c2pa.created, c2pa.placed ×4, c2pa.edited" in out
    assert "1 file(s): 1 passed, 0 failed" in out


def test_third_party_files(own_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = audit_json(capsys, str(C2PA_FIXTURES))
    assert code == 1  # video1_no_manifest.mp4 has none
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert files["video1.mp4"]["passed"] is True
    assert files["video1.mp4"]["verdict"]["state"] == "valid"
    assert files["video1.mp4"]["verdict"]["codes"] == ["signingCredential.untrusted"]
    assert files["video1_no_manifest.mp4"]["verdict"]["state"] == "missing"
    assert audit_json(capsys, "--require", "present", str(C2PA_FIXTURES / "video1.mp4"))[0] == 0


def test_usage_errors_exit_2(media: Media, own_home: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--trust", str(media.reference), str(media.trusted)]) == 2
    assert "not a PEM certificate file" in capsys.readouterr().err
    assert main(["audit", "--trust", str(tmp_path / "nope.pem"), str(media.trusted)]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["audit", str(empty)]) == 2
    assert "no media files to audit" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["audit", "--require", "strict", str(media.trusted)])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["audit"])
    assert info.value.code == 2


def test_a_missing_path_is_reported_and_the_others_still_audited(
        media: Media, own_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = audit_json(capsys, str(tmp_path / "typo.mp4"), str(media.trusted))
    assert code == 1
    assert "no such file" in report["files"][0]["error"]
    assert report["files"][1]["passed"] is True


# The documented shape (pipeline/provenance/audit.py): scripts may rely on these keys.
REPORT_KEYS = {"schema", "reelpipe_version", "c2pa_sdk_version", "require", "passed", "counts", "trust_anchors",
               "files"}
FILE_KEYS = {"path", "passed", "reasons", "error", "verdict"}
VERDICT_KEYS = {"state", "codes", "failures", "signer", "issuer", "generator", "signing_time",
                "signing_time_source", "digital_source_type", "title", "format", "manifest", "actions",
                "ingredients"}
INGREDIENT_KEYS = {"title", "relationship", "format", "state", "codes", "recorded", "rechecked", "manifest",
                   "signer", "issuer", "generator", "digital_source_type", "signing_time", "actions",
                   "ingredients"}


def test_the_json_shape_is_stable(media: Media, own_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, report = audit_json(capsys, str(media.composite_bad))
    assert set(report) == REPORT_KEYS
    assert report["schema"] == "reelpipe.audit/1"
    assert report["require"] == "valid"
    assert [a["source"] for a in report["trust_anchors"]] == ["own"]
    assert set(report["trust_anchors"][0]) == {"path", "subject", "fingerprint_sha256", "source"}
    [entry] = report["files"]
    assert set(entry) == FILE_KEYS
    verdict = entry["verdict"]
    assert set(verdict) == VERDICT_KEYS

    def check(items: list[dict]) -> int:
        seen = 0
        for item in items:
            assert set(item) == INGREDIENT_KEYS
            for check_ in (item["recorded"], item["rechecked"]):
                assert check_ is None or set(check_) == {"state", "codes"}
            seen += 1 + check(item["ingredients"])
        return seen

    assert check(verdict["ingredients"]) == 4  # two clips, each with its reference image
    tampered = verdict["ingredients"][1]
    assert tampered == tampered | {"title": "shot-a-tampered", "relationship": "componentOf", "state": "invalid",
                                   "codes": ["assertion.bmffHash.mismatch"],
                                   "recorded": {"state": "invalid", "codes": ["assertion.bmffHash.mismatch"]},
                                   "rechecked": {"state": "invalid", "codes": ["assertion.bmffHash.mismatch"]}}
