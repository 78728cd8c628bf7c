"""python -m saga_infra.compose: the compose path on a real Docker engine (see README)."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

from saga_infra import jaeger_server
from saga_infra.compose import engine as engines
from saga_infra.compose import images, run, stage, uv_cache
from saga_infra.errors import StackError
from saga_infra.settings import Settings


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m saga_infra.compose",
        description="docker-compose.yml on a real Docker engine: engine, images, up, e2e.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "install", help="apt-get install docker.io and mmdebstrap (root), build the compose CLI"
    )
    engine_parser = commands.add_parser("engine", help="the project's dockerd (when none runs)")
    engine_parser.add_argument("action", choices=["up", "down", "status", "env"])
    commands.add_parser(
        "available", help="exit 0 when a Docker engine answers or can be started here"
    )
    commands.add_parser("images", help="resolve every image: official, or a stand-in built here")
    commands.add_parser(
        "prepare",
        help="the one-time builds before make test (.ci/run): engine, compose CLI, images, "
        "uv's cache, and the local stack's Jaeger",
    )
    stage_parser = commands.add_parser(
        "stage",
        help="each service's build context: the contracts wheels its uv.lock names (make stage) "
        "and uv's cache from its lock, for `make -C services/<name> image` without PyPI",
    )
    stage_parser.add_argument(
        "services",
        nargs="*",
        metavar="service",
        help=f"{', '.join(uv_cache.SERVICES)} (none: all three, and the init job's uv cache)",
    )
    commands.add_parser("up", help="docker compose up --build --detach --wait (make up)")
    down_parser = commands.add_parser("down", help="docker compose down (make down)")
    down_parser.add_argument("--volumes", action="store_true", help="remove the volumes too")
    e2e_parser = commands.add_parser("e2e", help="make compose-e2e")
    e2e_parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    where = engines.paths(settings.repo_root)
    try:
        if args.command == "install":
            engines.install_packages(_say)
            engines.build_compose(where, _say)
            _say(f"install: compose CLI {where.compose_binary}")
            return 0
        if args.command == "available":
            return 0 if available() else 1
        if args.command == "engine":
            return _engine(args.action, where)
        if args.command in ("images", "prepare"):
            stack = run.prepare(settings, _say, project="saga")
            if args.command == "prepare" and settings.jaeger:
                # Built here, not inside a test's timeout (the Jaeger stand-in has it already).
                jaeger_server.ensure_binary(settings, _say)
            if stack.engine.started:
                _say(
                    "images: the engine keeps running (`python -m saga_infra.compose engine down`)"
                )
            return 0
        if args.command == "stage":
            context = images.Context(settings.repo_root, settings, _say)
            chosen = args.services or list(uv_cache.SERVICES)
            stage.stage(context, _say, chosen, init=not args.services)
            return 0
        if args.command == "up":
            return run.up(settings, _say)
        if args.command == "down":
            return run.down(settings, _say, volumes=args.volumes)
        return run.e2e(settings, _say, [a for a in args.pytest_args if a != "--"])
    except (StackError, run.ComposeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def available() -> bool:
    """An engine answers, or Debian's dockerd is installed and we are root to start it."""
    if os.environ.get("DOCKER_HOST") or engines.DEFAULT_SOCKET.exists():
        return True
    if engines.running_dockerds():
        return True
    return shutil.which("dockerd") is not None and os.geteuid() == 0


def _engine(action: str, where: engines.Paths) -> int:
    if action == "up":
        engine = engines.find_or_start(where, _say)
        engines.ensure_compose(where, engine, _say)
        for line in engine.export_lines():
            _say(line)
        return 0
    if action == "down":
        engines.stop(where, _say)
        return 0
    found = engines.find(where)
    if found is None:
        _say("engine: none answers")
        return 1
    if action == "env":
        if (where.config_dir / "cli-plugins").is_dir() and found.host == where.host:
            found.config_dir = where.config_dir
        for line in found.export_lines():
            _say(line)
        return 0
    _say(f"engine: Docker {found.version} at {found.host}, {found.origin}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
