"""The user's signing identity and trust list: certificates and keys made with ``cryptography``.

``reelpipe keys init`` (or the first signed run) creates a two-level chain under the config folder::

    $REELPIPE_HOME/                  default ~/.config/reelpipe/
      identity/                      0700
        identity.json                which chain and key to sign with (a generated or the user's own)
        root-ca.pem                  the user's own root CA: trusted for the user's own files
        signer.pem                   the end-entity signing certificate (the chain C2PA embeds)
        signer.key                   its EC P-256 private key, 0600
      trust/                         more trust anchors: every *.pem here is trusted (``keys trust``)

The end-entity certificate has the profile C2PA requires: ``CA:FALSE``, key usage ``digitalSignature``,
extended key usage ``emailProtection``, subject and authority key identifiers; ES256 (ECDSA P-256, SHA-256).
A self-signed CA used as the signer is rejected by C2PA validators, hence the two levels. The root's private
key is not kept: it signs the one end-entity certificate and is discarded, so a stolen config folder cannot
mint more signers. ``keys init --force`` makes a new identity and keeps the old root in ``trust/`` so files
signed before stay trusted.

A user with a certificate from a real CA points reelpipe at it instead (``reelpipe keys use``): the chain and
key stay where they are and ``identity.json`` records their paths.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pipeline.errors import ProvenanceError, UsageError
from pipeline.fsutil import write_bytes_atomic, write_json_atomic, write_text_atomic
from pipeline.secrets import register_secret

__all__ = [
    "Identity",
    "TrustAnchor",
    "add_trust_anchor",
    "ensure_identity",
    "find_identity",
    "load_identity",
    "load_trust_anchors",
    "new_identity",
    "reelpipe_home",
    "trust_dir",
    "use_identity",
]

IDENTITY_DIR = "identity"
TRUST_DIR = "trust"
_ROOT_DAYS = 3650
_SIGNER_DAYS = 730

# Extended key usages C2PA validators accept for a claim signer (C2PA 2.x, "Certificate profile").
_C2PA_EKUS = {
    ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string,
    "1.3.6.1.5.5.7.3.36",  # id-kp-documentSigning
    "1.3.6.1.4.1.311.76.59.1.9",  # Microsoft document signing
    "1.3.6.1.4.1.62558.2.1",  # c2pa-kp-claimSigning
}


def reelpipe_home(home: Path | None = None) -> Path:
    """The user's reelpipe config folder: ``home``, else ``$REELPIPE_HOME``, else ``~/.config/reelpipe``."""
    if home is not None:
        return Path(home).expanduser()
    env = os.environ.get("REELPIPE_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".config" / "reelpipe"


def trust_dir(home: Path | None = None) -> Path:
    """The folder whose ``*.pem`` files are extra trust anchors."""
    return reelpipe_home(home) / TRUST_DIR


@dataclass(frozen=True)
class Identity:
    """A signing identity: a certificate chain, its private key, and (when known) the root that issued it.

    Attributes:
        home: the config folder it was loaded from.
        cert_chain_path: PEM file, end-entity certificate first, then any intermediates.
        key_path: PEM private key of the end-entity certificate (0600).
        root_cert_path: the root CA certificate (trusted for the user's own files), or None when a user's
            own chain was given without its root.
        fingerprint: SHA-256 of the end-entity certificate (DER), colon-separated hex.
        subject, issuer: the end-entity certificate's subject and issuer, ``CN=..., O=...``.
        not_after: when the signing certificate expires (UTC).
        alg: the C2PA signing algorithm for the key (``es256``, ``es384``, ``es512``, ``ps256``, ``ed25519``).
        kind: ``generated`` (made by reelpipe) or ``external`` (the user's own chain).
        created_now: True when this call created the identity (say so once).
    """

    home: Path
    cert_chain_path: Path
    key_path: Path
    root_cert_path: Path | None
    fingerprint: str
    subject: str
    issuer: str
    not_after: dt.datetime
    alg: str
    kind: str = "generated"
    created_now: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (paths and certificate facts; never key material)."""
        return {
            "home": str(self.home),
            "kind": self.kind,
            "cert_chain": str(self.cert_chain_path),
            "key": str(self.key_path),
            "root": str(self.root_cert_path) if self.root_cert_path else None,
            "fingerprint_sha256": self.fingerprint,
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": self.not_after.isoformat(),
            "alg": self.alg,
            "created_now": self.created_now,
        }

    def read_chain_pem(self) -> bytes:
        """The certificate chain, PEM."""
        return self.cert_chain_path.read_bytes()

    def read_key_pem(self) -> bytes:
        """The private key, PEM (checked to be 0600 and registered so logs can never show it)."""
        _check_key_permissions(self.key_path)
        data = self.key_path.read_bytes()
        register_secret(data.decode("ascii", "replace").strip())
        return data


@dataclass(frozen=True)
class TrustAnchor:
    """One trusted root certificate and where it came from."""

    path: Path
    subject: str
    fingerprint: str
    pem: str
    source: str = "config"  # own | config | flag

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "subject": self.subject, "fingerprint_sha256": self.fingerprint,
                "source": self.source}


def _dn(name: x509.Name) -> str:
    """``CN=..., O=...`` in the order the certificate lists them, most specific first."""
    parts = [attr.rfc4514_string() for rdn in name.rdns for attr in rdn]
    cn = [p for p in parts if p.startswith("CN=")]
    return ", ".join(cn + [p for p in parts if not p.startswith("CN=")])


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _not_after(cert: x509.Certificate) -> dt.datetime:
    return cert.not_valid_after_utc


def _alg_for_key(key: Any, path: Path) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        alg = by_curve.get(key.curve.name)
        if alg:
            return alg
        raise ProvenanceError(f"{path}: EC curve {key.curve.name} is not allowed for C2PA",
                              hint="use P-256, P-384 or P-521")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    raise ProvenanceError(f"{path}: unsupported private key type {type(key).__name__}",
                          hint="C2PA signs with EC (P-256/384/521), Ed25519 or RSA-PSS keys")


def _check_key_permissions(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise ProvenanceError(f"{path}: signing key not found",
                              hint="run 'reelpipe keys init' to make a new identity") from exc
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ProvenanceError(
            f"{path}: the signing key is readable by other users (mode {stat.S_IMODE(mode):04o})",
            hint=f"chmod 600 {path}")


def _load_certs(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read certificate file ({exc.strerror})",
                         hint="check the path") from exc
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise UsageError(f"{path}: not a PEM certificate file",
                         hint="a trust anchor or chain is PEM text starting with -----BEGIN CERTIFICATE-----"
                         ) from exc
    return certs


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _make_chain(common_name: str, organization: str, now: dt.datetime
                ) -> tuple[x509.Certificate, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A root CA and an end-entity signer certificate with the C2PA profile; returns (root, signer, key)."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{common_name} Root CA", organization)
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_ROOT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(root_ski, critical=False)
        .sign(root_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization)).issuer_name(root_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_SIGNER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return root, signer, signer_key


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Serialise identity creation between processes (two runs starting at once make one identity)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _identity_dir(home: Path) -> Path:
    return home / IDENTITY_DIR


def find_identity(home: Path | None = None) -> Identity | None:
    """The identity recorded under ``home``, or None when there is none. Does not read the private key."""
    home = reelpipe_home(home)
    record = _identity_dir(home) / "identity.json"
    if not record.exists():
        return None
    try:
        data = json.loads(record.read_text("utf-8"))
        base = record.parent
        chain = base / data["cert_chain"]
        key = base / data["key"]
        root = base / data["root"] if data.get("root") else None
        kind = str(data.get("kind", "generated"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProvenanceError(f"{record}: unreadable identity record ({exc})",
                              hint="run 'reelpipe keys init --force' to make a new identity") from exc
    try:
        certs = _load_certs(chain)
    except UsageError as exc:  # the identity's own files are broken: not a command-line mistake
        raise ProvenanceError(exc.message, hint="run 'reelpipe keys init --force' to make a new identity") from exc
    if not certs:
        raise ProvenanceError(f"{chain}: no certificate in the signing chain",
                              hint="run 'reelpipe keys init --force' to make a new identity")
    leaf = certs[0]
    return Identity(
        home=home, cert_chain_path=chain, key_path=key, root_cert_path=root,
        fingerprint=_fingerprint(leaf), subject=_dn(leaf.subject), issuer=_dn(leaf.issuer),
        not_after=_not_after(leaf), alg=_alg_for_public_key(leaf), kind=kind,
    )


def _alg_for_public_key(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(key.curve.name, "es256")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return "ps256"


def load_identity(home: Path | None = None) -> Identity:
    """Load the signing identity under ``home`` and check it can sign now.

    Raises:
        ProvenanceError: there is no identity, its key is readable by others, or its certificate expired.
    """
    identity = find_identity(home)
    if identity is None:
        raise ProvenanceError(f"no signing identity in {_identity_dir(reelpipe_home(home))}",
                              hint="run 'reelpipe keys init' (a signed run also creates one on first use)")
    _check_key_permissions(identity.key_path)
    now = dt.datetime.now(dt.timezone.utc)
    if identity.not_after <= now:
        raise ProvenanceError(
            f"the signing certificate {identity.cert_chain_path} expired on {identity.not_after:%Y-%m-%d}",
            hint="run 'reelpipe keys init --force' for a new one (files signed before stay trusted)")
    return identity


def new_identity(home: Path | None = None, *, common_name: str = "reelpipe signer",
                 organization: str = "reelpipe (self-issued)", force: bool = False) -> Identity:
    """Create a new signing identity (root CA + end-entity signer) under ``home``.

    Args:
        home: the config folder (default :func:`reelpipe_home`).
        common_name, organization: the signer's subject. It is written into every file you sign, so the
            default carries no user or host name.
        force: replace an existing identity; its root moves to ``trust/`` so older files stay trusted.

    Raises:
        UsageError: an identity exists and ``force`` is False.
    """
    home = reelpipe_home(home)
    folder = _identity_dir(home)
    with _locked(home):
        try:
            existing = find_identity(home)
        except ProvenanceError:
            if not force:
                raise
            existing = None  # a broken identity is exactly what --force is for
        if existing is not None and not force:
            raise UsageError(f"a signing identity already exists in {folder} ({existing.subject})",
                             hint="use --force to replace it; the old root stays trusted for files it signed")
        if existing is not None and existing.kind == "generated" and existing.root_cert_path \
                and existing.root_cert_path.exists():
            old_root = existing.root_cert_path.read_bytes()
            fp = existing.fingerprint.replace(":", "")[:16].lower()
            write_bytes_atomic(trust_dir(home) / f"previous-root-{fp}.pem", old_root)
        return replace(_create(home, common_name=common_name, organization=organization), created_now=True)


def _create(home: Path, *, common_name: str, organization: str) -> Identity:
    folder = _identity_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        os.chmod(folder, 0o700)
    now = dt.datetime.now(dt.timezone.utc)
    root, signer, key = _make_chain(common_name, organization, now)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    register_secret(key_pem.decode("ascii").strip())
    # the key first: a crash before identity.json is written leaves no half identity behind
    write_bytes_atomic(folder / "signer.key", key_pem, mode=0o600)
    write_bytes_atomic(folder / "signer.pem", _pem(signer), mode=0o644)
    write_bytes_atomic(folder / "root-ca.pem", _pem(root), mode=0o644)
    write_json_atomic(folder / "identity.json", {
        "version": 1, "kind": "generated", "cert_chain": "signer.pem", "key": "signer.key",
        "root": "root-ca.pem", "created": now.isoformat(timespec="seconds"),
    })
    identity = find_identity(home)
    assert identity is not None
    return identity


def ensure_identity(home: Path | None = None) -> Identity:
    """The signing identity under ``home``; create one if there is none (``created_now`` then says so).

    Raises:
        ProvenanceError: the identity exists but cannot sign (key permissions, expired certificate).
    """
    home = reelpipe_home(home)
    if find_identity(home) is None:
        with _locked(home):
            if find_identity(home) is None:  # another process may have made it while we waited
                made = _create(home, common_name="reelpipe signer", organization="reelpipe (self-issued)")
                _check_key_permissions(made.key_path)
                return replace(made, created_now=True)
    return load_identity(home)


def _check_signer_profile(cert: x509.Certificate) -> list[str]:
    """Problems with ``cert`` as a C2PA claim signer (empty when it fits the profile)."""
    problems: list[str] = []
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            problems.append("it is a CA certificate (CA:TRUE); C2PA needs an end-entity signer")
    except x509.ExtensionNotFound:
        pass
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            problems.append("its key usage lacks digitalSignature")
    except x509.ExtensionNotFound:
        problems.append("it has no key usage extension (digitalSignature is required)")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if not {oid.dotted_string for oid in eku} & _C2PA_EKUS:
            problems.append("its extended key usage has none of emailProtection, documentSigning, "
                            "c2pa claimSigning")
    except x509.ExtensionNotFound:
        problems.append("it has no extended key usage (emailProtection or documentSigning is required)")
    try:
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        problems.append("it has no authority key identifier")
    if cert.issuer == cert.subject:
        problems.append("it is self-signed; C2PA rejects a self-signed signer")
    return problems


def use_identity(cert_chain: Path, key: Path, *, root: Path | None = None, home: Path | None = None) -> Identity:
    """Point reelpipe at the user's own certificate chain and key (e.g. from a real CA).

    The files stay where they are; ``identity.json`` records their absolute paths. The chain must start with
    the end-entity certificate and fit C2PA's signer profile; the key must match it and be 0600.

    Raises:
        ProvenanceError: the chain or key does not fit (every problem is listed).
        UsageError: a file cannot be read or is not PEM.
    """
    home = reelpipe_home(home)
    cert_chain, key = Path(cert_chain).resolve(), Path(key).resolve()
    certs = _load_certs(cert_chain)
    if not certs:
        raise UsageError(f"{cert_chain}: no certificate found", hint="give the PEM chain, signer first")
    leaf = certs[0]
    problems = _check_signer_profile(leaf)
    _check_key_permissions(key)
    try:
        private_key = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{key}: not an unencrypted PEM private key ({exc})",
                         hint="export the key as unencrypted PKCS#8 PEM with mode 0600") from exc
    _alg_for_key(private_key, key)  # rejects key types C2PA cannot sign with
    pub = private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    leaf_pub = leaf.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    if pub != leaf_pub:
        problems.append(f"the key {key.name} does not belong to this certificate")
    if _not_after(leaf) <= dt.datetime.now(dt.timezone.utc):
        problems.append(f"it expired on {_not_after(leaf):%Y-%m-%d}")
    if problems:
        raise ProvenanceError(f"{cert_chain}: the signing certificate {_dn(leaf.subject)} cannot sign C2PA "
                              "manifests:\n" + "\n".join(f"  - {p}" for p in problems),
                              hint="C2PA needs an end-entity certificate with CA:FALSE, digitalSignature, "
                                   "EKU emailProtection (or documentSigning) and an authority key identifier")
    # the root is trusted for the user's own files only when the user names it: a chain file that embeds
    # a public CA's root must not make everything that CA ever issued trusted
    root_path = Path(root).resolve() if root is not None else None
    if root_path is not None and not _load_certs(root_path):
        raise UsageError(f"{root_path}: no certificate found", hint="give the PEM root certificate")
    folder = _identity_dir(home)
    with _locked(home):
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "identity.json", {
            "version": 1, "kind": "external", "cert_chain": str(cert_chain), "key": str(key),
            "root": str(root_path) if root_path else None,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        })
    return load_identity(home)


def add_trust_anchor(pem_file: Path, home: Path | None = None) -> TrustAnchor:
    """Copy a PEM trust anchor into the config's ``trust/`` folder and return it.

    Raises:
        UsageError: the file is not a PEM certificate.
    """
    certs = _load_certs(Path(pem_file))
    if not certs:
        raise UsageError(f"{pem_file}: no certificate found", hint="give a PEM file with the root certificate")
    dest_dir = trust_dir(home)
    text = "".join(_pem(c).decode("ascii") for c in certs)
    fp = _fingerprint(certs[0]).replace(":", "")[:16].lower()
    dest = dest_dir / f"{Path(pem_file).stem}-{fp}.pem"
    write_text_atomic(dest, text)
    return TrustAnchor(path=dest, subject=_dn(certs[0].subject), fingerprint=_fingerprint(certs[0]),
                       pem=text, source="config")


def load_trust_anchors(extra: list[Path] | None = None, *, identity: Identity | None = None,
                       home: Path | None = None) -> list[TrustAnchor]:
    """Every trust anchor for a verification: the user's own root, ``trust/*.pem``, then ``extra``.

    Args:
        extra: PEM files given for this run (``--trust``, the recipe's ``provenance.trust``).
        identity: the identity whose root is trusted; default: the one under ``home``, if any.
        home: the config folder.

    Raises:
        UsageError: a file in ``extra`` or ``trust/`` is missing or not PEM.
    """
    home = reelpipe_home(home)
    anchors: list[TrustAnchor] = []
    seen: set[str] = set()

    def add(path: Path, source: str) -> None:
        for cert in _load_certs(path):
            fp = _fingerprint(cert)
            if fp in seen:
                continue
            seen.add(fp)
            anchors.append(TrustAnchor(path=path, subject=_dn(cert.subject), fingerprint=fp,
                                       pem=_pem(cert).decode("ascii"), source=source))

    own = identity if identity is not None else find_identity(home)
    if own is not None and own.root_cert_path is not None and own.root_cert_path.exists():
        add(own.root_cert_path, "own")
    folder = trust_dir(home)
    if folder.is_dir():
        for pem in sorted(folder.glob("*.pem")):
            add(pem, "config")
    for path in extra or []:
        if not Path(path).is_file():
            raise UsageError(f"{path}: trust anchor file not found", hint="--trust takes a PEM certificate file")
        add(Path(path), "flag")
    return anchors

