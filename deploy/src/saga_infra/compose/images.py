"""The images of the compose path: the official ones, or stand-ins built from Debian packages.

Each image compose needs comes from a variable (`KAFKA_IMAGE`, `POSTGRES_IMAGE`, ... and the
services' build arguments `PYTHON_BASE`, `UV_IMAGE`), defaulting to the official image.
`resolve` keeps a variable the caller set, uses the official image when the engine has it or can
pull it, and otherwise builds a stand-in:

- a root file system from Debian bookworm packages (`mmdebstrap --variant=minbase`), with the
  files of `deploy/docker/standins/<name>/rootfs` and the recipe's inputs copied in, then
  `docker import` with the official image's user, entry point, ports and volumes;
- the Kafka broker from the same Apache Kafka jars, resolved from Maven Central with
  `deploy/local/kafka/pom.xml` (plus `kafka-tools`, for the healthcheck's
  `kafka-broker-api-versions.sh`), Jaeger from the local stack's Go build, uv from its PyPI
  wheel.

Stand-ins are tagged `saga-standin/<name>:<version>-<recipe hash>` and their root file systems
cached as `.local/cache/images/<name>-<recipe hash>.tar`, so a second run imports or reuses
them in seconds. `SAGA_IMAGES=standin` skips the pulls, `SAGA_IMAGES=official` never builds one.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from saga_infra import jaeger_server
from saga_infra.compose.engine import Engine, buildx_available, docker_cli
from saga_infra.compose.recipes import SUITE, UV_VERSION, Image, catalog
from saga_infra.errors import MissingToolError, StackError
from saga_infra.settings import Settings

Progress = Callable[[str], None]

RECIPE_FORMAT = "1"  # bump to rebuild every stand-in
PULL_TIMEOUT_S = 300.0
MMDEBSTRAP_TIMEOUT_S = 1800.0
STANDIN_REPOSITORY = "saga-standin"
BUILD_ORDER = ("jaeger", "kafka", "postgres", "prometheus", "python", "uv")
_UV_DOWNLOAD = threading.Lock()


@dataclass
class Resolved:
    image: Image
    reference: str | None  # None: unavailable (its services are left out)
    source: str  # what the run prints: official, stand-in, given, unavailable
    seconds: float = 0.0

    @property
    def standin(self) -> bool:
        return self.source.startswith("stand-in")

    def line(self) -> str:
        took = f", {self.seconds:.0f} s" if self.seconds >= 1 else ""
        return f"images: {self.image.variable:<16} {self.reference or '-':<48} {self.source}{took}"


# -- the engine's images ------------------------------------------------------------------


def _docker(engine: Engine, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [docker_cli(), *args], env=engine.env(), capture_output=True, text=True, timeout=timeout
    )


def present(engine: Engine, reference: str) -> bool:
    return _docker(engine, "image", "inspect", "--format", "{{.Id}}", reference).returncode == 0


def pull(engine: Engine, reference: str) -> tuple[bool, str]:
    """Pull the image; (pulled, the engine's last line when it could not)."""
    try:
        done = _docker(engine, "pull", "--quiet", reference, timeout=PULL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, f"no answer within {PULL_TIMEOUT_S:.0f} s"
    lines = (done.stderr or done.stdout).strip().splitlines() or [""]
    return done.returncode == 0, lines[-1][:160]


# -- recipes ------------------------------------------------------------------------------


@dataclass
class Context:
    """What building the stand-ins needs from the checkout (and makes once per run)."""

    repo_root: Path
    settings: Settings
    progress: Progress
    cache: Path = field(init=False)

    def __post_init__(self) -> None:
        self.cache = self.repo_root / ".local/cache/images"

    def overlay(self, name: str) -> Path:
        return self.repo_root / "deploy/docker/standins" / name / "rootfs"

    def inputs(self, name: str) -> list[tuple[Path, str]]:
        """Files or directories copied into the root file system: (host path, directory)."""
        if name == "kafka":
            return [(kafka_libs(self), "/opt/kafka/libs")]
        if name == "jaeger":
            jaeger_server.ensure_binary(self.settings, self.progress)
            return [(self.settings.jaeger_bin, "/usr/local/bin/")]
        if name == "uv":
            return [(path, "/") for path in uv_binaries(self)]
        return []


def kafka_libs(context: Context) -> Path:
    """The Kafka jars of deploy/local/kafka/pom.xml plus kafka-tools, from Maven Central."""
    pom = (context.repo_root / "deploy/local/kafka/pom.xml").read_text()
    tools = (
        "    <dependency>\n      <groupId>org.apache.kafka</groupId>\n"
        "      <artifactId>kafka-tools</artifactId>\n      <version>${kafka.version}</version>\n"
        "    </dependency>\n  </dependencies>"
    )
    with_tools = pom.replace("</dependencies>", tools, 1)
    digest = hashlib.sha256(with_tools.encode()).hexdigest()[:16]
    libs = context.cache / f"kafka-libs-{digest}"
    if (libs / ".resolved").is_file():
        return libs
    mvn = shutil.which(context.settings.mvn)
    if mvn is None:
        raise MissingToolError("mvn not found; it resolves the Kafka jars of the Kafka stand-in")
    work = context.cache / f"kafka-libs-{digest}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "pom.xml").write_text(with_tools)
    context.progress("images: kafka: resolving the Apache Kafka jars (+ kafka-tools) with Maven")
    done = subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(work / "pom.xml"),
            "dependency:copy-dependencies",
            f"-Dkafka.libs.dir={work / 'libs'}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0 or not any((work / "libs").glob("kafka-tools-*.jar")):
        raise StackError(f"mvn could not resolve the Kafka jars: {done.stdout[-400:]}")
    shutil.rmtree(libs, ignore_errors=True)
    (work / "libs").rename(libs)
    shutil.rmtree(work)
    (libs / ".resolved").write_text(digest)
    return libs


def uv_binaries(context: Context) -> list[Path]:
    """uv and uvx of UV_VERSION, from its manylinux wheel on PyPI (checked by its sha256)."""
    with _UV_DOWNLOAD:  # the uv stand-in and uv's cache want it at once
        return _uv_binaries(context)


def _uv_binaries(context: Context) -> list[Path]:
    target = context.cache / f"uv-{UV_VERSION}"
    binaries = [target / "uv", target / "uvx"]
    if all(path.is_file() for path in binaries):
        return binaries
    index = "https://pypi.org/pypi/uv/json"
    try:
        with httpx.Client(timeout=60, follow_redirects=True) as client:
            files = client.get(index).raise_for_status().json()["releases"].get(UV_VERSION, [])
            wheels = [
                entry
                for entry in files
                if entry["filename"].endswith(".whl")
                and "manylinux_2_17_x86_64" in entry["filename"]
            ]
            if not wheels:
                raise StackError(f"no manylinux x86_64 wheel of uv {UV_VERSION} on PyPI")
            # A mirror may answer with URLs relative to the index.
            url = httpx.URL(index).join(wheels[0]["url"])
            wheel = client.get(url).raise_for_status().content
    except httpx.HTTPError as exc:
        raise StackError(f"downloading uv {UV_VERSION} from PyPI failed: {exc}") from exc
    if hashlib.sha256(wheel).hexdigest() != wheels[0]["digests"]["sha256"]:
        raise StackError(f"{wheels[0]['filename']}: sha256 does not match PyPI's")
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        for path in binaries:
            partial = path.with_name(f"{path.name}.partial")
            partial.write_bytes(archive.read(f"uv-{UV_VERSION}.data/scripts/{path.name}"))
            partial.chmod(0o755)
            partial.rename(path)
    return binaries


def _digest_path(digest: hashlib._Hash, path: Path, relative_to: Path) -> None:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file():
                _digest_path(digest, child, relative_to)
        return
    stat = path.stat()
    digest.update(f"{path.relative_to(relative_to)}:{stat.st_mode & 0o777}:".encode())
    if path.suffix == ".jar":  # versioned names: content is what the name says
        digest.update(str(stat.st_size).encode())
    else:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)


def recipe_hash(image: Image, context: Context, inputs: Sequence[tuple[Path, str]]) -> str:
    """A digest of everything that goes into the stand-in: a new one means a rebuild."""
    assert image.recipe is not None
    digest = hashlib.sha256()
    recipe = image.recipe
    digest.update(repr((RECIPE_FORMAT, SUITE, image.name, recipe)).encode())
    if not recipe.files_only:
        digest.update(repr(mmdebstrap_argv(image, context, inputs, Path("-"))).encode())
    overlay = context.overlay(image.name)
    if overlay.is_dir():
        _digest_path(digest, overlay, overlay)
    for source, destination in inputs:
        digest.update(destination.encode())
        _digest_path(digest, source, source.parent)
    return digest.hexdigest()[:12]


def standin_reference(image: Image, recipe_digest: str) -> str:
    assert image.recipe is not None
    return f"{STANDIN_REPOSITORY}/{image.name}:{image.recipe.version}-{recipe_digest}"


def mmdebstrap_argv(
    image: Image, context: Context, inputs: Sequence[tuple[Path, str]], output: Path
) -> list[str]:
    """The mmdebstrap command line of a stand-in's root file system."""
    assert image.recipe is not None
    recipe = image.recipe
    archives = context.cache / "apt-archives"
    shared, lock = shlex_quote(str(archives)), shlex_quote(str(archives / ".lock"))
    argv = [
        "mmdebstrap",
        "--variant=minbase",
        "--format=tar",
        '--aptopt=Apt::Install-Recommends "false"',
        # Downloaded packages are shared by every stand-in (and the next cold run). Two builds
        # run side by side, so the shared directory is read and filled under a lock, and only
        # with the .deb files (never apt's own lock file or partial/ of another build).
        "--skip=essential/unlink",
        f'--setup-hook=mkdir -p "$1/var/cache/apt/archives" {shared}'
        f' && flock {lock} find {shared} -maxdepth 1 -name "*.deb"'
        ' -exec cp -t "$1/var/cache/apt/archives" {} +',
        f'--customize-hook=flock {lock} find "$1/var/cache/apt/archives" -maxdepth 1'
        f' -name "*.deb" -exec cp -n -t {shared} {{}} +',
        '--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb',
    ]
    if recipe.packages:
        argv.append(f"--include={','.join(recipe.packages)}")
    if recipe.slim:
        for pattern in ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*"):
            argv.append(f"--dpkgopt=path-exclude={pattern}")
        argv.append("--dpkgopt=path-include=/usr/share/doc/*/copyright")
        # update-alternatives still links man pages (the JRE's postinst fails without it).
        argv.append('--setup-hook=mkdir -p "$1/usr/share/man/man1"')
    overlay = context.overlay(image.name)
    if overlay.is_dir():
        argv.append(f"--customize-hook=sync-in {shlex_quote(str(overlay))} /")
    for source, destination in inputs:
        if source.is_dir():
            argv.append(f'--customize-hook=mkdir -p "$1{destination}"')
            argv.append(f"--customize-hook=sync-in {shlex_quote(str(source))} {destination}")
        else:
            argv.append(f"--customize-hook=copy-in {shlex_quote(str(source))} {destination}")
    argv += [f"--customize-hook={hook}" for hook in recipe.hooks]
    argv += [SUITE, str(output)]
    return argv


def scratch_dir() -> str:
    """Where mmdebstrap unpacks: a roomy tmpfs that allows exec (twice as fast), else /tmp."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        mounts = []
    for line in mounts:
        fields = line.split()
        if len(fields) >= 4 and fields[1] == "/dev/shm" and fields[2] == "tmpfs":
            if "noexec" not in fields[3].split(",") and shutil.disk_usage("/dev/shm").free > 4e9:
                return "/dev/shm"
    return os.environ.get("TMPDIR", "/tmp")


def shlex_quote(text: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:+-]+", text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def _last_line(log: Path) -> str:
    """The log's last line that says something, for a one-line error."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def _files_tarball(inputs: Sequence[tuple[Path, str]], output: Path) -> None:
    with tarfile.open(output, "w") as tar:
        for source, destination in inputs:
            info = tar.gettarinfo(
                str(source), arcname=f"{destination.strip('/')}/{source.name}".lstrip("/")
            )
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with source.open("rb") as handle:
                tar.addfile(info, handle)


def build_standin(engine: Engine, image: Image, context: Context) -> Resolved:
    """Reuse the stand-in if the engine has it, import its cached tarball, or build both."""
    assert image.recipe is not None
    begun = time.monotonic()
    inputs = context.inputs(image.name)
    digest = recipe_hash(image, context, inputs)
    reference = standin_reference(image, digest)
    if present(engine, reference):
        return Resolved(image, reference, "stand-in (in the engine already)")
    context.cache.mkdir(parents=True, exist_ok=True)
    tarball = context.cache / f"{image.name}-{digest}.tar"
    how = "stand-in (imported from its cached tarball)"
    if not tarball.is_file():
        partial = tarball.with_name(f"{tarball.name}.partial")
        partial.unlink(missing_ok=True)
        if image.recipe.files_only:
            _files_tarball(inputs, partial)
            how = "stand-in (built from files)"
        else:
            if shutil.which("mmdebstrap") is None:
                raise MissingToolError(
                    f"{image.official} cannot be pulled and mmdebstrap, which builds its "
                    "stand-in, is missing: `make docker-install`"
                )
            log = context.cache / f"{image.name}-{digest}.log"
            context.progress(
                f"images: {image.name}: building its stand-in with mmdebstrap ({SUITE})"
            )
            with log.open("w") as out:
                built = subprocess.run(
                    mmdebstrap_argv(image, context, inputs, partial),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=MMDEBSTRAP_TIMEOUT_S,
                    env={**os.environ, "TMPDIR": scratch_dir()},
                )
            if built.returncode != 0:
                # Kept beside the log, which the next build of this recipe overwrites.
                failed = log.with_name(f"{log.stem}.failed.log")
                shutil.copyfile(log, failed)
                last = _last_line(failed)
                raise StackError(
                    f"mmdebstrap failed for the {image.name} stand-in"
                    f" (exit {built.returncode}: {last}); see {failed}"
                )
            how = f"stand-in (built from Debian {SUITE} packages)"
        partial.rename(tarball)
        for old in [
            *context.cache.glob(f"{image.name}-*.tar"),
            *context.cache.glob(f"{image.name}-*.log"),
        ]:
            if old.stem != tarball.stem:
                old.unlink(missing_ok=True)
    # docker import takes no STOPSIGNAL: the official image's settings go on in a build.
    rootfs = f"{reference}-rootfs"
    done = _docker(engine, "import", str(tarball), rootfs, timeout=900)
    if done.returncode != 0:
        raise StackError(f"docker import of {tarball} failed: {done.stderr.strip()[-300:]}")
    dockerfile = "\n".join(
        [
            f"FROM {rootfs}",
            *image.recipe.changes,
            f'LABEL org.opencontainers.image.description="stand-in for {image.official}, '
            'built by saga_infra.compose.images"',
            "",
        ]
    )
    env = engine.env()
    if not buildx_available(env):
        env["DOCKER_BUILDKIT"] = "0"
    done = subprocess.run(
        [docker_cli(), "build", "--quiet", "--tag", reference, "-"],
        input=dockerfile,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise StackError(f"building {reference} failed: {done.stderr.strip()[-300:]}")
    _docker(engine, "image", "rm", rootfs)  # untags it; the image keeps it as its parent
    # Earlier recipes' stand-ins: untagged (an image a container still uses stays).
    listed = _docker(
        engine, "images", "--format", "{{.Repository}}:{{.Tag}}", reference.split(":")[0]
    )
    for tag in listed.stdout.split():
        if tag != reference:
            _docker(engine, "image", "rm", tag)
    return Resolved(image, reference, how, time.monotonic() - begun)


def resolve(
    engine: Engine,
    context: Context,
    environ: Mapping[str, str] | None = None,
    wanted: Sequence[str] | None = None,
) -> list[Resolved]:
    """Decide every image (official, stand-in, given, unavailable), building stand-ins as needed."""
    env = os.environ if environ is None else environ
    mode = env.get("SAGA_IMAGES", "auto").strip() or "auto"
    if mode not in ("auto", "official", "standin"):
        raise StackError(f"SAGA_IMAGES={mode!r}: expected auto, official or standin")
    resolved: list[Resolved] = []
    to_build: list[Image] = []
    for image in catalog(context.repo_root):
        if wanted is not None and image.name not in wanted:
            continue
        if given := env.get(image.variable, "").strip():
            resolved.append(Resolved(image, given, f"given by {image.variable}"))
            continue
        if mode != "standin" or image.recipe is None:
            if present(engine, image.official):
                resolved.append(Resolved(image, image.official, "official (in the engine already)"))
                continue
            begun = time.monotonic()
            pulled, why = pull(engine, image.official)
            if pulled:
                resolved.append(
                    Resolved(image, image.official, "official (pulled)", time.monotonic() - begun)
                )
                continue
            context.progress(f"images: {image.official} cannot be pulled: {why}")
        if image.recipe is None or mode == "official":
            resolved.append(Resolved(image, None, "unavailable (no registry, no stand-in)"))
            continue
        to_build.append(image)
    # Two at a time: mmdebstrap waits on the mirror as much as on the CPU. The longest first
    # (Jaeger's needs its Go build), so the short ones fill in beside it.
    to_build.sort(
        key=lambda image: BUILD_ORDER.index(image.name) if image.name in BUILD_ORDER else 99
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = list(pool.map(lambda image: build_standin(engine, image, context), to_build))
    resolved += built
    order = {image.name: index for index, image in enumerate(catalog(context.repo_root))}
    return sorted(resolved, key=lambda item: order[item.image.name])


def compose_environment(resolved: Sequence[Resolved]) -> dict[str, str]:
    """The variables that point compose (and the Dockerfiles' build args) at the images."""
    return {item.image.variable: item.reference for item in resolved if item.reference}


def unavailable_services(resolved: Sequence[Resolved]) -> list[str]:
    return [
        service for item in resolved if item.reference is None for service in item.image.services
    ]
