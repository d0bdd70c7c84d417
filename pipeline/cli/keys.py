"""``reelpipe keys``: the signing identity and the trust list.

::

    reelpipe keys init [--force] [--name CN] [--org ORG]    make a root CA + C2PA signer; print its fingerprint
    reelpipe keys show                                      where the identity is, subject, expiry, trust list
    reelpipe keys use --cert CHAIN.pem --key KEY.pem [--root ROOT.pem]   sign with your own certificate
    reelpipe keys trust FILE.pem...                         trust more roots (copied into the config folder)

Everything lives under ``$REELPIPE_HOME`` (default ``~/.config/reelpipe``); the key file is 0600.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.cli._common import err_console, out_console, print_json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "keys", help="create or show the signing identity; manage trusted roots",
        description="The identity reelpipe signs clips and sequences with (C2PA), kept in $REELPIPE_HOME "
                    "(default ~/.config/reelpipe): a root CA and an end-entity signing certificate with the "
                    "profile C2PA requires, the key file 0600. A signed run creates one on first use.")
    keys = p.add_subparsers(dest="keys_command", metavar="ACTION")

    init = keys.add_parser("init", help="create a signing identity and print its fingerprint",
                           description="Create a root CA and an ES256 end-entity signing certificate "
                                       "(CA:FALSE, digitalSignature, EKU emailProtection).")
    init.add_argument("--force", action="store_true",
                      help="replace an existing identity (its root stays trusted for files it signed)")
    init.add_argument("--name", default="reelpipe signer",
                      help="the signer's common name, written into every file you sign (default: %(default)s)")
    init.add_argument("--org", default="reelpipe (self-issued)", help="the signer's organization")
    init.add_argument("--json", action="store_true", help="print the identity as JSON")
    init.set_defaults(func=run_init)

    show = keys.add_parser("show", help="print where the identity is, its subject, expiry and the trust list")
    show.add_argument("--json", action="store_true", help="print as JSON")
    show.set_defaults(func=run_show)

    use = keys.add_parser("use", help="sign with your own certificate chain and key (e.g. from a real CA)",
                          description="Record your own chain and key in the config folder; the files stay "
                                      "where they are. The chain starts with the signing certificate.")
    use.add_argument("--cert", type=Path, required=True, help="PEM certificate chain, signer first")
    use.add_argument("--key", type=Path, required=True, help="PEM private key (mode 0600)")
    use.add_argument("--root", type=Path, help="the root CA to trust for your own files")
    use.add_argument("--json", action="store_true", help="print the identity as JSON")
    use.set_defaults(func=run_use)

    trust = keys.add_parser("trust", help="trust more root certificates (PEM), e.g. a render service's",
                            description="Copy PEM trust anchors into $REELPIPE_HOME/trust/; every file there "
                                        "is trusted by checks and audits.")
    trust.add_argument("pem", type=Path, nargs="+", help="PEM certificate file(s)")
    trust.add_argument("--json", action="store_true", help="print the added anchors as JSON")
    trust.set_defaults(func=run_trust)

    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _print_identity(identity: Any, *, heading: str) -> None:
    out_console.print(heading, markup=False, style="bold")
    rows = [
        ("folder", str(identity.home)),
        ("kind", identity.kind),
        ("subject", identity.subject),
        ("issuer", identity.issuer),
        ("expires", f"{identity.not_after:%Y-%m-%d %H:%M} UTC"),
        ("algorithm", identity.alg.upper()),
        ("fingerprint", f"SHA-256 {identity.fingerprint}"),
        ("certificate", str(identity.cert_chain_path)),
        ("key", f"{identity.key_path} (0600)"),
        ("root", str(identity.root_cert_path) if identity.root_cert_path else "(not given: not trusted)"),
    ]
    for name, value in rows:
        out_console.print(f"  {name:<12} {value}", markup=False)


def run_init(args: argparse.Namespace) -> int:
    from pipeline.provenance import new_identity

    identity = new_identity(common_name=args.name, organization=args.org, force=args.force)
    if args.json:
        print_json(identity.to_dict())
    else:
        _print_identity(identity, heading="created a signing identity")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from pipeline.errors import ProvenanceError
    from pipeline.provenance import find_identity, load_identity, load_trust_anchors, reelpipe_home

    identity = find_identity()
    problem: str | None = None
    if identity is not None:
        try:
            load_identity()
        except ProvenanceError as exc:
            problem = str(exc)
    anchors = load_trust_anchors(identity=identity)
    if args.json:
        print_json({
            "home": str(reelpipe_home()),
            "identity": identity.to_dict() if identity else None,
            "problem": problem,
            "trust_anchors": [a.to_dict() for a in anchors],
        })
        return 0 if identity is not None and problem is None else 1
    if identity is None:
        err_console.print(f"no signing identity in {reelpipe_home()}", markup=False, style="yellow")
        err_console.print("hint: run 'reelpipe keys init' (a signed run also creates one on first use)",
                          markup=False, style="yellow")
        return 1
    _print_identity(identity, heading="signing identity")
    out_console.print("trust anchors", markup=False, style="bold")
    for anchor in anchors:
        out_console.print(f"  [{anchor.source}] {anchor.subject}  {anchor.path}", markup=False)
    if problem:
        err_console.print(f"error: {problem}", markup=False, style="bold red")
        return 1
    return 0


def run_use(args: argparse.Namespace) -> int:
    from pipeline.provenance import use_identity

    identity = use_identity(args.cert, args.key, root=args.root)
    if args.json:
        print_json(identity.to_dict())
    else:
        _print_identity(identity, heading="signing with your own certificate")
    return 0


def run_trust(args: argparse.Namespace) -> int:
    from pipeline.provenance import add_trust_anchor

    added = [add_trust_anchor(path) for path in args.pem]
    if args.json:
        print_json([a.to_dict() for a in added])
    else:
        for anchor in added:
            out_console.print(f"trusted {anchor.subject} (SHA-256 {anchor.fingerprint}) -> {anchor.path}",
                              markup=False)
    return 0
