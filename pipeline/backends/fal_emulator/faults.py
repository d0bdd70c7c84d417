"""Fault injection for the fal emulator: the ``--faults`` spec and the decisions it makes.

The spec is a comma-separated list of rules, ``KIND:AMOUNT[:OPTION…]``. AMOUNT below 1 is the chance per
eligible request; 1 or more is a count (the first AMOUNT eligible requests get it). Options:
``on=ENDPOINT[+…]`` (``submit status result cancel file upload``), ``after=S`` (the ``Retry-After`` a
status fault sends), ``retry=0|1`` (the ``X-Fal-Needs-Retry`` header it sends), ``secs=S`` (``slow``),
``type=NAME`` (the ``error_type`` of ``error``).

===============  =================  ===========================================================================
kind             default endpoints  effect
===============  =================  ===========================================================================
429 500-504      all queue ones     that status with a ``detail`` body; not processed
422              submit             ``422`` with a ``detail`` list (``loc``, ``msg``, ``type``); not processed
slow             all                the answer is held back ``secs`` (a client timeout fires)
drop             submit             the request IS processed (a submit makes its job), then the connection
                                    drops before the answer is complete
error            submit             the job is accepted, then ends ``COMPLETED`` with ``error``/``error_type``
expire           result             the video URL in that result has already expired (its file answers 404);
                                    fetching the result again gives a fresh one
gone             result             the result itself has expired: ``404`` from then on for that request
===============  =================  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.backends.emulator_common import SeededFaultPlan, describe_rule
from pipeline.errors import UsageError

__all__ = ["ENDPOINTS", "FAULT_KINDS", "STATUS_KINDS", "FalFaultPlan", "FalFaultRule", "parse_fal_faults"]

ENDPOINTS: tuple[str, ...] = ("submit", "status", "result", "cancel", "file", "upload")
STATUS_KINDS: tuple[str, ...] = ("429", "500", "502", "503", "504")
FAULT_KINDS: tuple[str, ...] = (*STATUS_KINDS, "422", "slow", "drop", "error", "expire", "gone")
_QUEUE = frozenset({"submit", "status", "result", "cancel"})
_DEFAULTS: dict[str, frozenset[str]] = {
    **{k: _QUEUE for k in STATUS_KINDS},
    "422": frozenset({"submit"}),
    "slow": frozenset(ENDPOINTS),
    "drop": frozenset({"submit"}),
    "error": frozenset({"submit"}),
    "expire": frozenset({"result"}),
    "gone": frozenset({"result"}),
}


@dataclass
class FalFaultRule:
    """One rule: its kind, how often, where, and its options (see the module docstring)."""

    kind: str
    probability: float = 0.0
    count: int | None = None
    endpoints: frozenset[str] = frozenset(ENDPOINTS)
    seconds: float = 1.0
    retry: bool | None = None
    error_type: str = "content_policy_violation"
    fired: int = 0

    def describe(self) -> str:
        """The rule in spec form."""
        text = describe_rule(self, ENDPOINTS, _DEFAULTS[self.kind])
        if self.retry is not None:
            text += f":retry={int(self.retry)}"
        return text


def _bad(spec: str, message: str) -> UsageError:
    return UsageError(f"--faults {spec!r}: {message}",
                      hint="e.g. '429:1:after=0.1,503:2:retry=1,422:1,error:1,expire:1'; see docs/backends.md")


def parse_fal_faults(spec: str | None) -> list[FalFaultRule]:
    """Parse a fault spec.

    Raises:
        UsageError: the spec is malformed; the message names the rule.
    """
    rules: list[FalFaultRule] = []
    for item in (s.strip() for s in (spec or "").split(",")):
        if not item:
            continue
        parts = item.split(":")
        kind = parts[0].strip().lower()
        if kind not in FAULT_KINDS or len(parts) < 2:
            raise _bad(spec or "", f"{item!r}: use KIND:AMOUNT with KIND one of {', '.join(FAULT_KINDS)}")
        try:
            amount = float(parts[1])
        except ValueError:
            raise _bad(spec or "", f"{item!r}: {parts[1]!r} is not a number") from None
        if amount < 0 or (amount >= 1 and not amount.is_integer()):
            raise _bad(spec or "", f"{item!r}: AMOUNT is a probability below 1 or a whole count")
        rule = FalFaultRule(kind=kind, endpoints=_DEFAULTS[kind], seconds=2.0 if kind == "slow" else 1.0)
        if amount >= 1:
            rule.count = int(amount)
        else:
            rule.probability = amount
        for opt in parts[2:]:
            key, _, value = opt.partition("=")
            key = key.strip().lower()
            if key == "on":
                names = {v.strip().lower() for v in value.split("+") if v.strip()}
                if not names or names - set(ENDPOINTS):
                    raise _bad(spec or "", f"{item!r}: on= takes {', '.join(ENDPOINTS)}")
                rule.endpoints = frozenset(names)
            elif key in ("after", "secs"):
                try:
                    rule.seconds = max(0.0, float(value))
                except ValueError:
                    raise _bad(spec or "", f"{item!r}: {key}= needs seconds") from None
            elif key == "retry":
                if value not in ("0", "1"):
                    raise _bad(spec or "", f"{item!r}: retry= is 0 or 1")
                rule.retry = value == "1"
            elif key == "type":
                rule.error_type = value or rule.error_type
            else:
                raise _bad(spec or "", f"{item!r}: unknown option {key!r} (on=, after=, secs=, retry=, type=)")
        rules.append(rule)
    return rules


class FalFaultPlan(SeededFaultPlan[FalFaultRule]):
    """The fal emulator's faults: the rules in force and a seeded random generator (decisions are thread-safe); build it
    as ``FalFaultPlan(rules, seed=0)`` or with :meth:`parse` from a ``--faults`` spec (see the module docstring)."""

    @staticmethod
    def parse_rules(spec: str | None) -> list[FalFaultRule]:
        """Parse a ``--faults`` spec into rules (:func:`parse_fal_faults`)."""
        return parse_fal_faults(spec)
