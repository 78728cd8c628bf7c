"""What each image of the compose path is: its variable, its official image, and the recipe of
its stand-in built from Debian packages (packages, hooks, the official image's user, entry point,
ports and volumes). `images` resolves and builds them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from saga_infra import kafka_server
from saga_infra.errors import StackError
from saga_infra.settings import JAEGER_VERSION

SUITE = "bookworm"
UV_VERSION = "0.13.9"  # the uv the Dockerfiles' UV_IMAGE default names


@dataclass(frozen=True)
class Recipe:
    """How a stand-in is made: Debian packages, files copied in, then `docker import`."""

    version: str  # of what it stands in for, in its tag
    packages: tuple[str, ...] = ()
    # Shell run by mmdebstrap as customize hooks ($1 is the root file system).
    hooks: tuple[str, ...] = ()
    # `docker import --change` lines: the official image's user, entry point, ports, volumes.
    changes: tuple[str, ...] = ()
    # A plain tarball of these files instead of a Debian root file system (uv).
    files_only: bool = False
    # Drop docs, man pages and translations (not for Postgres: initdb's locales need them).
    slim: bool = True


@dataclass(frozen=True)
class Image:
    name: str
    variable: str  # compose variable or build argument
    official: str
    recipe: Recipe | None  # None: no stand-in can be built here (Grafana)
    services: tuple[str, ...] = ()  # compose services that need it


_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def catalog(repo_root: Path) -> list[Image]:
    """Every image of docker-compose.yml and the Dockerfiles, with its stand-in recipe."""
    kafka_version = kafka_server.kafka_version(repo_root / "deploy/local/kafka/pom.xml")
    jaeger_tag = jaeger_v2_tag(JAEGER_VERSION)
    return [
        Image(
            "python",
            "PYTHON_BASE",
            "python:3.11-slim-bookworm",
            Recipe(
                version="3.11-bookworm",
                packages=("python3", "ca-certificates", "netbase", "tzdata"),
                hooks=('ln -sf /usr/bin/python3 "$1/usr/local/bin/python"',),
                changes=("ENV LANG=C.UTF-8", f"ENV {_PATH}", 'CMD ["python3"]'),
            ),
            ("init", "order", "payment", "inventory"),
        ),
        Image(
            "uv",
            "UV_IMAGE",
            f"ghcr.io/astral-sh/uv:{UV_VERSION}",
            Recipe(version=UV_VERSION, files_only=True, changes=('ENTRYPOINT ["/uv"]',)),
            ("init", "order", "payment", "inventory"),
        ),
        Image(
            "kafka",
            "KAFKA_IMAGE",
            f"apache/kafka:{kafka_version}",
            Recipe(
                version=kafka_version,
                packages=("openjdk-17-jre-headless", "bash", "procps"),
                hooks=(
                    'chroot "$1" useradd --uid 1000 --create-home --home-dir /home/appuser '
                    "--shell /bin/bash appuser",
                    'mkdir -p "$1/var/lib/kafka/data" "$1/etc/kafka/secrets" '
                    '"$1/mnt/shared/config" "$1/opt/kafka/logs" "$1/usr/logs"',
                    'chroot "$1" chown -R appuser:appuser /opt/kafka /mnt/shared/config /usr/logs',
                    'chroot "$1" chown -R appuser:root /var/lib/kafka /etc/kafka',
                    'chmod -R ug+w "$1/etc/kafka" "$1/var/lib/kafka"',
                ),
                changes=(
                    "ENV LANG=C.UTF-8",
                    f"ENV {_PATH}",
                    "USER appuser",
                    "EXPOSE 9092",
                    'VOLUME ["/etc/kafka/secrets", "/var/lib/kafka/data", "/mnt/shared/config"]',
                    'CMD ["/etc/kafka/docker/run"]',
                ),
            ),
            ("kafka",),
        ),
        Image(
            "postgres",
            "POSTGRES_IMAGE",
            "postgres:15",
            Recipe(
                version="15-bookworm",
                packages=("postgresql-15",),
                hooks=(
                    # The package's postinst made a cluster of Debian's own; the entry point
                    # makes one in PGDATA instead.
                    'rm -rf "$1/etc/postgresql/15" "$1/var/lib/postgresql/15"',
                    'chroot "$1" localedef -i en_US -c -f UTF-8 -A /usr/share/locale/locale.alias '
                    "en_US.UTF-8",
                    'mkdir -p "$1/var/lib/postgresql/data" "$1/var/run/postgresql" '
                    '"$1/docker-entrypoint-initdb.d"',
                    'chroot "$1" chown -R postgres:postgres /var/lib/postgresql '
                    "/var/run/postgresql",
                    'chmod 700 "$1/var/lib/postgresql/data"',
                    'chmod 3777 "$1/var/run/postgresql"',
                ),
                changes=(
                    "ENV LANG=en_US.utf8",
                    "ENV PGDATA=/var/lib/postgresql/data",
                    "ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:"
                    "/usr/sbin:/usr/bin:/sbin:/bin",
                    "STOPSIGNAL SIGINT",
                    "EXPOSE 5432",
                    'VOLUME ["/var/lib/postgresql/data"]',
                    'ENTRYPOINT ["docker-entrypoint.sh"]',
                    'CMD ["postgres"]',
                ),
                slim=False,
            ),
            ("postgres",),
        ),
        Image(
            "jaeger",
            "JAEGER_IMAGE",
            f"jaegertracing/jaeger:{jaeger_tag}",
            Recipe(
                version=jaeger_tag,
                packages=("ca-certificates", "wget"),
                hooks=(
                    'mv "$1/usr/local/bin/jaeger-"* "$1/usr/local/bin/jaeger"',
                    'chroot "$1" useradd --system --uid 10001 --no-create-home jaeger',
                ),
                changes=(
                    f"ENV {_PATH}",
                    "USER 10001",
                    "EXPOSE 4317 4318 16686",
                    'ENTRYPOINT ["/usr/local/bin/jaeger"]',
                ),
            ),
            ("jaeger",),
        ),
        Image(
            "prometheus",
            "PROMETHEUS_IMAGE",
            "prom/prometheus:v2.53.0",
            Recipe(
                version="2.42-bookworm",
                packages=("prometheus", "wget"),
                hooks=(
                    'mkdir -p "$1/prometheus"',
                    'chroot "$1" chown nobody:nogroup /prometheus',
                ),
                changes=(
                    f"ENV {_PATH}",
                    "USER nobody",
                    "WORKDIR /prometheus",
                    "EXPOSE 9090",
                    'VOLUME ["/prometheus"]',
                    'ENTRYPOINT ["/usr/bin/prometheus"]',
                    'CMD ["--config.file=/etc/prometheus/prometheus.yml", '
                    '"--storage.tsdb.path=/prometheus"]',
                ),
            ),
            ("prometheus",),
        ),
        # No Debian package and no build from a module registry: only the official image.
        Image("grafana", "GRAFANA_IMAGE", "grafana/grafana:11.6.0", None, ("grafana",)),
    ]


def jaeger_v2_tag(v1_version: str) -> str:
    """Jaeger tags v1.x and v2.x releases together, from v1.63.0 / v2.0.0 on."""
    major, minor, patch = (int(part) for part in v1_version.removeprefix("v").split("."))
    if major != 1 or minor < 63:
        raise StackError(f"no Jaeger v2 release pairs with {v1_version}")
    return f"2.{minor - 63}.{patch}"
