"""The chaos run's own local stack: its environment, bringing it up, stopping what it started."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

from saga_e2e import own_stack
from saga_e2e.own_stack import StackSpec, System

__all__ = [
    "CHAOS",
    "CHAOS_DEFAULTS",
    "System",
    "bring_up",
    "chaos_environ",
    "deadline_environ",
    "point_at_chaos_stack",
    "shut_down",
]

Progress = Callable[[str], None]

# Never the defaults (9092/5432/8001-8003): a chaos run kills processes, and must never kill the
# system the main e2e run or a developer is using. CHAOS_<VAR> overrides each one.
CHAOS_DEFAULTS = {
    "STACK_DIR": "/tmp/chaosstack",
    "KAFKA_PORT": "19092",
    "KAFKA_CONTROLLER_PORT": "19093",
    "PG_PORT": "15432",
    "ORDER_HTTP_PORT": "18101",
    "PAYMENT_HTTP_PORT": "18102",
    "INVENTORY_HTTP_PORT": "18103",
    "JAEGER": "0",  # a chaos run measures the saga, not its tracing
    "PROMETHEUS": "0",  # nor its metrics (and must never take make dev's 9090)
}
CHAOS = StackSpec("chaos", "CHAOS", CHAOS_DEFAULTS)


def deadline_environ(deadline_s: float) -> dict[str, str]:
    """The order service's deadline settings for a run with a saga deadline of `deadline_s`."""
    return {
        "ORDER_SAGA_DEADLINE_S": f"{deadline_s:g}",
        # The service refuses a stuck threshold at or past the deadline.
        "ORDER_SAGA_STUCK_AFTER_S": f"{min(60.0, deadline_s / 2):g}",
        "ORDER_SAGA_DEADLINE_CHECK_S": f"{min(5.0, deadline_s / 4):g}",
    }


def chaos_environ(source: MutableMapping[str, str]) -> dict[str, str]:
    """The stack variables of the chaos stack: CHAOS_<VAR> if set, else the chaos default."""
    return CHAOS.environ(source)


def point_at_chaos_stack(environ: MutableMapping[str, str]) -> None:
    """Rewrite `environ` (os.environ, or a test's monkeypatched one) to the chaos stack only."""
    CHAOS.point_at(environ)


def bring_up(progress: Progress) -> System:
    """Start whatever of the chaos stack is not running (infra, migrations, services)."""
    return own_stack.bring_up(progress, CHAOS.name)


def shut_down(system: System, progress: Progress) -> None:
    """Stop the parts this run started; a stack that was already running keeps running."""
    own_stack.shut_down(system, progress)
