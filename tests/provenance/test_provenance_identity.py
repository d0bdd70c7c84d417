"""``reelpipe keys``: a signing identity with the certificate profile C2PA requires, and the trust list."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from provenance_helpers import Media, sign_clip

from pipeline.cli import main
from pipeline.errors import ProvenanceError
from pipeline.provenance import ensure_identity, load_identity, use_identity, verify


def test_keys_init_makes_a_c2pa_signer_chain_and_prints_its_fingerprint(
        fresh_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "init"]) == 0
    out = capsys.readouterr().out
    folder = fresh_home / "identity"
    signer = x509.load_pem_x509_certificate((folder / "signer.pem").read_bytes())
    root = x509.load_pem_x509_certificate((folder / "root-ca.pem").read_bytes())
    assert signer.fingerprint(hashes.SHA256()).hex(":").upper() in out
    assert (folder / "signer.key").stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    # the end-entity profile C2PA requires
    assert signer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert signer.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in list(eku)
    aki = signer.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert isinstance(signer.public_key(), ec.EllipticCurvePublicKey)
    assert signer.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert signer.issuer == root.subject != signer.subject
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    # the root's private key is not kept
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "identity.json", "root-ca.pem", "signer.key", "signer.pem"]


def test_keys_init_will_not_overwrite_without_force_and_keeps_the_old_root_trusted(
        fresh_home: Path, media: Media, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = ensure_identity()
    clip = sign_clip(media.clip, tmp_path / "old.mp4", first, title="old")
    assert main(["keys", "init"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["keys", "init", "--force", "--name", "Jo Editor", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["subject"] == "CN=Jo Editor, O=reelpipe (self-issued)"
    assert second["fingerprint_sha256"] != first.fingerprint
    assert verify(clip).state == "trusted"  # signed with the old identity, still trusted


def test_ensure_identity_creates_on_first_use_and_says_so_once(fresh_home: Path) -> None:
    made = ensure_identity()
    assert made.created_now is True
    assert made.home == fresh_home and made.alg == "es256"
    again = ensure_identity()
    assert again.created_now is False
    assert again.fingerprint == made.fingerprint
    assert made.not_after > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)


def test_a_key_readable_by_others_is_refused(fresh_home: Path) -> None:
    identity = ensure_identity()
    identity.key_path.chmod(0o644)
    with pytest.raises(ProvenanceError, match="readable by other users") as info:
        load_identity()
    assert info.value.hint == f"chmod 600 {identity.key_path}"


def test_keys_show(fresh_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "show"]) == 1
    assert "no signing identity" in capsys.readouterr().err
    identity = ensure_identity()
    assert main(["keys", "show"]) == 0
    out = capsys.readouterr().out
    assert str(identity.cert_chain_path) in out
    assert "CN=reelpipe signer, O=reelpipe (self-issued)" in out
    assert f"{identity.not_after:%Y-%m-%d}" in out
    assert main(["keys", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["identity"]["fingerprint_sha256"] == identity.fingerprint
    assert [a["source"] for a in shown["trust_anchors"]] == ["own"]
    assert "PRIVATE KEY" not in json.dumps(shown)


def _own_ca_chain(folder: Path, *, ca_signer: bool = False) -> tuple[Path, Path, Path]:
    """A chain from "a real CA": root -> signer (or a self-signed CA as signer when ``ca_signer``)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acme Media CA")])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA384()))
    key = ec.generate_private_key(ec.SECP256R1())
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acme Newsroom")]))
               .issuer_name(root_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca_signer, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=ca_signer, crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False))
    if not ca_signer:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                        critical=False)
    cert = builder.sign(root_key, hashes.SHA384())
    chain, key_file, root_file = folder / "chain.pem", folder / "key.pem", folder / "root.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    root_file.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return chain, key_file, root_file


def test_a_user_can_sign_with_their_own_ca_certificate(fresh_home: Path, media: Media, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    chain, key, root = _own_ca_chain(tmp_path / "acme")
    assert main(["keys", "use", "--cert", str(chain), "--key", str(key), "--root", str(root)]) == 0
    assert "CN=Acme Newsroom" in capsys.readouterr().out
    identity = load_identity()
    assert identity.kind == "external" and identity.cert_chain_path == chain.resolve()
    clip = sign_clip(media.clip, tmp_path / "acme.mp4", identity, title="acme")
    verdict = verify(clip)
    assert (verdict.state, verdict.signer, verdict.issuer) == ("trusted", "CN=Acme Newsroom", "CN=Acme Media CA")
    assert ensure_identity().created_now is False  # an external identity is used, not replaced


def test_a_ca_certificate_cannot_be_the_signer(fresh_home: Path, tmp_path: Path) -> None:
    chain, key, _ = _own_ca_chain(tmp_path / "bad", ca_signer=True)
    with pytest.raises(ProvenanceError) as info:
        use_identity(chain, key)
    message = str(info.value)
    assert "CA certificate (CA:TRUE)" in message and "no extended key usage" in message


def test_a_key_that_does_not_match_the_certificate_is_refused(fresh_home: Path, tmp_path: Path) -> None:
    chain, _, _ = _own_ca_chain(tmp_path / "a")
    _, other_key, _ = _own_ca_chain(tmp_path / "b")
    with pytest.raises(ProvenanceError, match="does not belong to this certificate"):
        use_identity(chain, other_key)


def test_keys_trust_adds_an_anchor_that_checks_then_trust(fresh_home: Path, media: Media,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert verify(media.untrusted).state == "valid"
    assert media.other.root_cert_path is not None
    assert main(["keys", "trust", str(media.other.root_cert_path)]) == 0
    assert "CN=Other Signer Root CA" in capsys.readouterr().out
    assert verify(media.untrusted).state == "trusted"
    assert main(["keys", "trust", str(media.reference)]) == 2
    assert "not a PEM certificate file" in capsys.readouterr().err


def test_an_expired_signing_certificate_is_refused(fresh_home: Path, tmp_path: Path) -> None:
    identity = ensure_identity()
    root_key = ec.generate_private_key(ec.SECP256R1())
    cert = x509.load_pem_x509_certificate(identity.cert_chain_path.read_bytes())
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)
    key = serialization.load_pem_private_key(identity.key_path.read_bytes(), password=None)
    expired = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
               .not_valid_before(past - dt.timedelta(days=1)).not_valid_after(past)
               .sign(root_key, hashes.SHA256()))
    identity.cert_chain_path.write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ProvenanceError, match="expired on") as info:
        ensure_identity()
    assert "keys init --force" in (info.value.hint or "")
    shutil.rmtree(fresh_home)
