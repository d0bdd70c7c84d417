"""Fault injection for the emulator: the ``--faults`` spec and the decisions it makes.

The spec is a comma-separated list of rules::

    SPEC   := RULE ("," RULE)*
    RULE   := KIND ":" AMOUNT (":" OPTION)*
    KIND   := 429 | 500 | 502 | 503 | 504 | slow | drop | truncate | moderation
    AMOUNT := below 1: the probability that each eligible request gets the fault;
              1 or more: a count — the first AMOUNT eligible requests get it, then no more
    OPTION := on=ENDPOINT[+ENDPOINT…]   limit the rule to these endpoints:
                                        create remix retrieve list delete content
            | after=SECONDS             429/503: the wait the response asks for (Retry-After and
                                        retry-after-ms; default 1)
            | secs=SECONDS              slow: how long the response is held back (default 2)

What each kind does, and where it applies unless ``on=`` says otherwise:

==============  =====================  ============================================================
kind            default endpoints      effect
==============  =====================  ============================================================
429             all                    ``429 rate_limit_exceeded`` with ``Retry-After``; not processed
500 502 503 504 all                    that status with a ``server_error`` body; not processed
slow            all                    the response is delayed by ``secs`` (a client timeout fires)
drop            all                    the request IS processed (a create creates its job), then the
                                       connection is dropped halfway through the (2xx) response body
truncate        content                the download declares its full length, sends half, and drops
moderation      create, remix          the job is accepted, then ends ``failed`` with
                                       ``moderation_blocked`` halfway through its latency
==============  =====================  ============================================================

Example: ``429:0.3,500:2,slow:0.2:secs=3,moderation:1,truncate:1,drop:1:on=create`` — 30 % of requests
are rate limited, the first two answer 500, 20 % are 3 s slow, the first job is blocked by moderation, the
first download is cut short, and the first create's response is lost after its job was created.
Probabilities use the emulator's seeded random generator, so a run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.backends.emulator_common import SeededFaultPlan, describe_rule
from pipeline.errors import UsageError

__all__ = ["ENDPOINTS", "FAULT_KINDS", "FaultPlan", "FaultRule", "parse_faults"]

ENDPOINTS: tuple[str, ...] = ("create", "remix", "retrieve", "list", "delete", "content")
STATUS_KINDS: tuple[str, ...] = ("429", "500", "502", "503", "504")
FAULT_KINDS: tuple[str, ...] = (*STATUS_KINDS, "slow", "drop", "truncate", "moderation")

_DEFAULT_ENDPOINTS: dict[str, frozenset[str]] = {
    **{k: frozenset(ENDPOINTS) for k in STATUS_KINDS},
    "slow": frozenset(ENDPOINTS),
    "drop": frozenset(ENDPOINTS),
    "truncate": frozenset({"content"}),
    "moderation": frozenset({"create", "remix"}),
}


@dataclass
class FaultRule:
    """One rule of a fault spec (see the module docstring).

    Attributes:
        kind: the fault.
        probability: the chance per eligible request (when ``count`` is None).
        count: how many of the first eligible requests get the fault (None: use ``probability``).
        endpoints: where the rule applies.
        seconds: ``after=`` for 429/503, ``secs=`` for slow.
        fired: how often the rule has fired so far.
    """

    kind: str
    probability: float = 0.0
    count: int | None = None
    endpoints: frozenset[str] = frozenset(ENDPOINTS)
    seconds: float = 1.0
    fired: int = 0

    def describe(self) -> str:
        """The rule in spec form."""
        text = describe_rule(self, ENDPOINTS, _DEFAULT_ENDPOINTS[self.kind])
        if self.kind in ("429", "503", "slow"):
            text += f":{'secs' if self.kind == 'slow' else 'after'}={self.seconds:g}"
        return text


def _bad(spec: str, message: str) -> UsageError:
    return UsageError(f"--faults {spec!r}: {message}",
                      hint="e.g. '429:0.3,500:2,slow:0.2:secs=3,moderation:1,truncate:1,drop:1:on=create'; "
                           "see docs/hosted.md")


def parse_faults(spec: str | None) -> list[FaultRule]:
    """Parse a fault spec into rules.

    Raises:
        UsageError: the spec is malformed; the message names the rule and what is wrong.
    """
    rules: list[FaultRule] = []
    if not spec or not spec.strip():
        return rules
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        parts = item.split(":")
        if len(parts) < 2:
            raise _bad(spec, f"{item!r} needs KIND:AMOUNT")
        kind = parts[0].strip().lower()
        if kind not in FAULT_KINDS:
            raise _bad(spec, f"unknown fault kind {kind!r} (use one of {', '.join(FAULT_KINDS)})")
        try:
            amount = float(parts[1])
        except ValueError:
            raise _bad(spec, f"{item!r}: {parts[1]!r} is not a number") from None
        if amount < 0:
            raise _bad(spec, f"{item!r}: the amount must not be negative")
        rule = FaultRule(kind=kind, endpoints=_DEFAULT_ENDPOINTS[kind],
                         seconds=2.0 if kind == "slow" else 1.0)
        if amount >= 1:
            if not amount.is_integer():
                raise _bad(spec, f"{item!r}: a count (1 or more) must be a whole number")
            rule.count = int(amount)
        else:
            rule.probability = amount
        for opt in parts[2:]:
            key, _, value = opt.partition("=")
            key = key.strip().lower()
            if key == "on":
                names = {v.strip().lower() for v in value.split("+") if v.strip()}
                unknown = names - set(ENDPOINTS)
                if not names or unknown:
                    raise _bad(spec, f"{item!r}: on= takes endpoints from {', '.join(ENDPOINTS)}")
                rule.endpoints = frozenset(names)
            elif key in ("after", "secs"):
                try:
                    rule.seconds = float(value)
                except ValueError:
                    raise _bad(spec, f"{item!r}: {key}= needs a number of seconds") from None
                if rule.seconds < 0:
                    raise _bad(spec, f"{item!r}: {key}= must not be negative")
            else:
                raise _bad(spec, f"{item!r}: unknown option {key!r} (on=, after=, secs=)")
        rules.append(rule)
    return rules


class FaultPlan(SeededFaultPlan[FaultRule]):
    """The OpenAI Videos emulator's faults: the rules in force and a seeded random generator (decisions are thread-safe); build it
    as ``FaultPlan(rules, seed=0)`` or with :meth:`parse` from a ``--faults`` spec (see the module docstring)."""

    @staticmethod
    def parse_rules(spec: str | None) -> list[FaultRule]:
        """Parse a ``--faults`` spec into rules (:func:`parse_faults`)."""
        return parse_faults(spec)
