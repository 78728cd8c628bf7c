"""Schemathesis fuzzing of each running service: no 5xx, documented answers, 4xx stores nothing.

FUZZ_EXAMPLES sets the requests per service (100 by default; the full run uses 1000+).
"""

import os

import pytest

from saga_e2e.fuzz import fuzz_service

pytestmark = pytest.mark.e2e  # against the running system, like the rest of this directory
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))


@pytest.mark.parametrize("service", ["order", "payment", "inventory"])
def test_generated_requests_get_documented_answers_and_4xx_persist_nothing(service: str) -> None:
    tally = fuzz_service(service, EXAMPLES)

    print(tally.line())
    assert tally.requests >= EXAMPLES
    assert tally.by_class["4xx"] > 0 and tally.by_class["2xx"] > 0, tally.line()
    assert not tally.failures, "\n".join(tally.failures[:10])
