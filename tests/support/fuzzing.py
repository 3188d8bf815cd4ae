"""schemathesis as the tests run it: the checks every answer must pass, bounded settings,
and one operation's valid and invalid requests sent with a tally of what came back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# tus sends a PATCH's bytes as this type: schemathesis knows none such.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
# Nor the body of a node's POST /blobs (a line of JSON, then bytes): sent as bytes.
schemathesis.serializer.alias("application/vnd.mdbx.blobs", "application/octet-stream")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Generated requests per operation and mode (valid, invalid): the ~95 operations of the
# live run stay within about two minutes.
EXAMPLES = 5
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same requests on every run: a failure is reproducible
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Tally:
    """What one role's run did: per operation, the examples sent; and what failed."""

    examples: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def fuzz_operation(
    operation: Any, send: Callable[[Any], int], tally: Tally, examples: int = EXAMPLES
) -> None:
    """Send ``examples`` valid and as many invalid requests of ``operation``; record
    failures."""
    label = operation.label
    bounded = settings(FUZZ_SETTINGS, max_examples=examples)
    tally.examples[label] = 0
    tally.statuses[label] = Counter()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @bounded
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            tally.examples[label] += 1
            tally.statuses[label][send(case)] += 1

        try:
            run()
        except Unsatisfiable:
            # Nothing of the operation can be invalid (no parameters, or free strings only).
            assert mode is GenerationMode.NEGATIVE, label
        # Every failure of every operation goes in the summary (schemathesis groups the
        # failures of one example in a BaseExceptionGroup).
        except (Exception, BaseExceptionGroup) as exc:
            tally.failures.append(f"{label} ({mode.value}): {type(exc).__name__}: {exc}")
