"""``reelpipe audit PATH... [--json] [--trust PEM] [--require LEVEL]``: check any file's Content Credentials.

For each file (folders recursively): the verdict, signer and issuer, claim generator, signing time,
digitalSourceType, actions and the ingredient tree with each ingredient's validation as recorded and as
re-checked. Exit 0 when every file passes, 1 when any fails (or cannot be read), 2 for usage errors. The JSON
shape is documented in :mod:`pipeline.provenance.audit`.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from rich.text import Text
from rich.tree import Tree

from pipeline.cli._common import out_console, print_json


def _text(text: str = "", style: str = "") -> Text:
    # fold long lines (signer names, paths) instead of cutting them off at the terminal's edge
    return Text(text, style=style, overflow="fold")


_STATE_STYLE = {"trusted": "bold green", "valid": "green", "invalid": "bold red", "missing": "yellow"}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from pipeline.provenance.vocabulary import POLICY_LEVELS

    p = sub.add_parser(
        "audit", help="check the C2PA provenance of any media files, ingredients included",
        description="Read each file's C2PA manifest (folders are searched recursively for media files) and "
                    "check it and every ingredient in its tree. A file fails when its own manifest is below "
                    "--require or any ingredient anywhere is invalid. Never goes online. "
                    "Exit 0 all pass, 1 any fails, 2 usage error.")
    p.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="media files or folders")
    p.add_argument("--json", action="store_true", help="print the report as JSON (schema reelpipe.audit/1)")
    p.add_argument("--trust", type=Path, action="append", default=[], metavar="PEM",
                   help="trust this PEM root certificate too (repeatable); your own root and "
                        "$REELPIPE_HOME/trust/*.pem are always trusted")
    p.add_argument("--require", choices=POLICY_LEVELS, default="valid",
                   help="the lowest acceptable verdict (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.provenance import audit_paths

    report = audit_paths(list(args.paths), trust=list(args.trust), require=args.require)
    if args.json:
        print_json(report.to_dict())
    else:
        render_report(report)
    return 0 if report.passed else 1


def _state(state: str, codes: list[str] | None = None) -> Text:
    text = _text(state.upper() if state == "invalid" else state, style=_STATE_STYLE.get(state, ""))
    if codes:
        text.append(" " + ", ".join(codes), style="red" if state == "invalid" else "dim")
    return text


def _actions(actions: list[str]) -> str:
    counts = Counter(actions)
    seen: list[str] = []
    for name in actions:
        if name not in seen:
            seen.append(name)
    return ", ".join(f"{n} ×{counts[n]}" if counts[n] > 1 else n for n in seen) or "(none)"


def _details(node: Tree, item: Any) -> None:
    from pipeline.provenance.vocabulary import digital_source_type_name

    if item.signer:
        node.add(_text(f"signer {item.signer}" + (f"  (issuer {item.issuer})" if item.issuer else ""), style="dim"))
    facts = []
    if item.generator:
        facts.append(f"generator {item.generator}")
    if item.signing_time:
        source = getattr(item, "signing_time_source", None)
        facts.append(f"signed {item.signing_time}" + (" (claimed by the signer)" if source == "claimed" else ""))
    if item.digital_source_type:
        facts.append(f"source {digital_source_type_name(item.digital_source_type)}")
    if facts:
        node.add(_text("  ·  ".join(facts), style="dim"))
    if item.actions:
        node.add(_text(f"actions {_actions(item.actions)}", style="dim"))


def _ingredient(parent: Tree, item: Any) -> None:
    label = _text(item.title, style="bold")
    label.append(f" ({item.relationship})", style="dim")
    label.append("  ")
    if item.state == "missing":
        label.append("no manifest", style="yellow")
    else:
        label.append_text(_state(item.state, item.codes))
        checks = []
        if item.recorded is not None:
            checks.append(f"recorded {item.recorded.state}")
        if item.rechecked is not None:
            checks.append(f"re-checked {item.rechecked.state}")
        if checks:
            label.append("  — " + ", ".join(checks), style="dim")
    node = parent.add(label)
    if item.state != "missing":
        _details(node, item)
    for child in item.ingredients:
        _ingredient(node, child)


def render_report(report: Any) -> None:
    """Print an :class:`~pipeline.provenance.audit.AuditReport` as trees, one per file, then a summary."""
    for audit in report.files:
        head = _text("PASS " if audit.passed else "FAIL ", style="bold green" if audit.passed else "bold red")
        head.append(str(audit.path), style="bold")
        if audit.error is not None:
            tree = Tree(head)
            tree.add(_text(f"error: {audit.error}", style="red"))
            out_console.print(tree, soft_wrap=False)
            continue
        verdict = audit.verdict
        head.append("  ")
        head.append_text(_state(verdict.state, verdict.codes))
        tree = Tree(head)
        if verdict.state != "missing":
            _details(tree, verdict)
        if verdict.ingredients:
            branch = tree.add(_text("ingredients", style="dim"))
            for item in verdict.ingredients:
                _ingredient(branch, item)
        for reason in audit.reasons:
            tree.add(_text(f"fails: {reason}", style="red"))
        out_console.print(tree, soft_wrap=False)
    counts = report.to_dict()["counts"]
    summary = (f"{counts['files']} file(s): {counts['passed']} passed, {counts['failed']} failed"
               + (f" ({counts['errors']} unreadable)" if counts["errors"] else "")
               + f"  ·  require {report.require}  ·  {len(report.trust_anchors)} trust anchor(s)")
    out_console.print(_text(summary, style="bold green" if report.passed else "bold red"))
