"""Offline checks of the saga's Helm chart (deploy/k8s/saga): no cluster is needed or used.

    uv run --frozen python deploy/k8s/helm_check.py        # `make helm-check`

1. helm, built once from its Go module (HELM_PACKAGE@HELM_VERSION) into .local/cache/helm
   (HELM_BIN: a helm binary to use instead);
2. `helm lint --strict` and `helm template` of the chart with its default values and with each
   values variant in deploy/k8s/saga/ci/;
3. every rendered document validated against its schema: Kubernetes' own kinds against the
   JSON schemas that the kubernetes-validate package bundles (at the oldest and the newest
   Kubernetes the chart claims, KUBE_VERSIONS), strictly (no unknown field); the operators'
   kinds against the openAPIV3Schema of their CRDs, converted to JSON Schema, unknown fields
   refused too. The CRDs come from the operators' registries, cached in .local/cache/k8s-crds:
   CloudNativePG, KEDA and the Prometheus Operator from their Go modules (`go mod download`:
   a module's zip holds its config/crd tree), Strimzi's generated from io.strimzi:api by
   io.strimzi:crd-generator (both on Maven Central, deploy/k8s/strimzi-crds/pom.xml), which is
   how Strimzi makes the CRDs it ships. The CEL rules of a CRD (x-kubernetes-validations) are
   not evaluated: only an API server does that.

deploy/tests/test_helm_chart.py imports this module for the same rendering and validation.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from saga_infra.golang import find_go

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "k8s" / "saga"
VARIANTS_DIR = CHART / "ci"
CACHE = Path(os.environ.get("SAGA_CACHE_DIR", REPO / ".local" / "cache"))
STRIMZI_POM = REPO / "deploy" / "k8s" / "strimzi-crds" / "pom.xml"

HELM_PACKAGE = "helm.sh/helm/v3/cmd/helm"
HELM_VERSION = "v3.22.0"
HELM_BUILD_TIMEOUT_S = 1200
RELEASE = "saga"
NAMESPACE = "saga"
# The chart's kubeVersion floor and the newest Kubernetes whose schemas kubernetes-validate
# bundles: core kinds are validated against both.
KUBE_VERSIONS = ("1.29.0", "1.37.0")
RENDER_KUBE_VERSION = KUBE_VERSIONS[-1]

Document = dict[str, Any]
# libyaml's safe loader when PyYAML has it (the CRDs are large), else the pure-Python one.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Progress = Callable[[str], None]


class CheckError(RuntimeError):
    """A check failed (the message says which and why)."""


class HelmUnavailableError(CheckError):
    """No helm binary, and none can be built here (no Go)."""


# ---- helm ---------------------------------------------------------------------------------


def helm_binary(progress: Progress = print) -> Path:
    """HELM_BIN, else the cached build, else build it now with `go install` (about a minute)."""
    given = os.environ.get("HELM_BIN")
    if given:
        path = Path(given)
        if not path.is_file():
            raise HelmUnavailableError(f"HELM_BIN={given} is not a file")
        return path
    binary = CACHE / "helm" / f"helm-{HELM_VERSION}"
    if binary.is_file():
        return binary
    go = find_go()
    if go is None:
        raise HelmUnavailableError(
            f"helm is not cached at {binary} and there is no go to build {HELM_PACKAGE}"
            f"@{HELM_VERSION} (install Go, or set HELM_BIN to a helm binary)"
        )
    binary.parent.mkdir(parents=True, exist_ok=True)
    log = binary.with_name(f"helm-{HELM_VERSION}-build.log")
    progress(f"helm-check: building {HELM_PACKAGE}@{HELM_VERSION} into {binary} (once)")
    began = time.monotonic()
    with tempfile.TemporaryDirectory(dir=binary.parent) as gobin, log.open("w") as out:
        ldflags = f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0"}
        argv = [go, "install", "-trimpath", f"-ldflags={ldflags}", f"{HELM_PACKAGE}@{HELM_VERSION}"]
        build = subprocess.Popen(argv, cwd=gobin, env=env, stdout=out, stderr=out)
        next_note = began + 30
        while build.poll() is None:
            if time.monotonic() - began > HELM_BUILD_TIMEOUT_S:
                build.kill()
                build.wait()
                raise CheckError(f"building helm took over {HELM_BUILD_TIMEOUT_S} s; see {log}")
            time.sleep(0.5)
            if time.monotonic() >= next_note:
                progress(f"helm-check: still building helm ({time.monotonic() - began:.0f} s)")
                next_note += 30
        built = Path(gobin) / "helm"
        if build.returncode != 0 or not built.is_file():
            raise CheckError(f"go install of helm failed ({build.returncode}); see {log}")
        built.rename(binary)
    progress(f"helm-check: built helm in {time.monotonic() - began:.0f} s")
    return binary


def _run(argv: Sequence[str | Path], what: str, cwd: Path = REPO, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        raise CheckError(f"{what} failed ({done.returncode}):\n{detail}")
    return done.stdout


def helm_version(helm: Path) -> str:
    return _run([helm, "version", "--short"], "helm version").strip()


def values_args(values: Iterable[Path] = (), sets: Mapping[str, str] | None = None) -> list[str]:
    args: list[str] = []
    for path in values:
        args += ["--values", str(path)]
    for key, value in (sets or {}).items():
        args += ["--set", f"{key}={value}"]
    return args


def lint(helm: Path, values: Iterable[Path] = ()) -> str:
    """`helm lint --strict`; its summary line."""
    out = _run(
        [
            helm,
            "lint",
            "--strict",
            "--kube-version",
            RENDER_KUBE_VERSION,
            CHART,
            *values_args(values),
        ],
        "helm lint",
    )
    return out.strip().splitlines()[-1]


def render_text(
    helm: Path, values: Iterable[Path] = (), sets: Mapping[str, str] | None = None
) -> str:
    return _run(
        [
            helm,
            "template",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            "--kube-version",
            RENDER_KUBE_VERSION,
            *values_args(values, sets),
        ],
        "helm template",
    )


def render(
    helm: Path, values: Iterable[Path] = (), sets: Mapping[str, str] | None = None
) -> list[Document]:
    """The documents `helm template` renders (hooks included)."""
    text = render_text(helm, values, sets)
    return [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc]


def variants() -> dict[str, list[Path]]:
    """The values sets checked: the defaults, then each file in the chart's ci/ folder."""
    found: dict[str, list[Path]] = {"default": []}
    for path in sorted(VARIANTS_DIR.glob("*-values.yaml")):
        found[path.name.removesuffix("-values.yaml")] = [path]
    return found


# ---- CRDs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoModuleCrds:
    """CRD files inside a Go module's zip (fetched by `go mod download`)."""

    name: str
    module: str
    version: str
    files: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class StrimziCrds:
    """Strimzi's CRDs, generated from its api classes (Maven Central) by its crd-generator."""

    kinds: tuple[tuple[str, str], ...] = (
        ("Kafka", "io.strimzi.api.kafka.model.kafka.Kafka"),
        ("KafkaNodePool", "io.strimzi.api.kafka.model.nodepool.KafkaNodePool"),
        ("KafkaTopic", "io.strimzi.api.kafka.model.topic.KafkaTopic"),
        ("KafkaUser", "io.strimzi.api.kafka.model.user.KafkaUser"),
    )
    name: str = "strimzi"

    @property
    def version(self) -> str:
        found = re.search(r"<strimzi.version>([^<]+)</strimzi.version>", STRIMZI_POM.read_text())
        if found is None:
            raise CheckError(f"no <strimzi.version> in {STRIMZI_POM}")
        return found.group(1)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


GO_CRDS = (
    GoModuleCrds(
        "cloudnative-pg",
        "github.com/cloudnative-pg/cloudnative-pg",
        "v1.30.1",
        ("config/crd/bases/postgresql.cnpg.io_clusters.yaml",),
    ),
    GoModuleCrds(
        "keda",
        "github.com/kedacore/keda/v2",
        "v2.21.0",
        (
            "config/crd/bases/keda.sh_scaledobjects.yaml",
            "config/crd/bases/keda.sh_triggerauthentications.yaml",
        ),
    ),
    GoModuleCrds(
        "prometheus-operator",
        "github.com/prometheus-operator/prometheus-operator",
        "v0.85.0",
        ("example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",),
    ),
)
STRIMZI = StrimziCrds()


def _go() -> str:
    go = find_go()
    if go is None:
        raise CheckError(
            "go not found: it fetches the CloudNativePG, KEDA and Prometheus Operator CRDs"
        )
    return go


def fetch_go_crds(source: GoModuleCrds, progress: Progress = print) -> list[Path]:
    """The source's CRD files, copied from its module (downloaded if not in the module cache)."""
    target = CACHE / "k8s-crds" / f"{source.name}-{source.version}"
    wanted = [target / Path(f).name for f in source.files]
    if all(p.is_file() for p in wanted):
        return wanted
    progress(f"helm-check: go mod download {source.module}@{source.version}")
    with tempfile.TemporaryDirectory() as cwd:  # outside any module
        out = _run(
            [_go(), "mod", "download", "-json", f"{source.module}@{source.version}"],
            f"go mod download {source.module}@{source.version}",
            cwd=Path(cwd),
        )
    info = json.loads(out)
    if info.get("Error"):
        raise CheckError(f"go mod download {source.module}@{source.version}: {info['Error']}")
    target.mkdir(parents=True, exist_ok=True)
    for rel, dest in zip(source.files, wanted, strict=True):
        shutil.copyfile(Path(info["Dir"]) / rel, dest)
        dest.chmod(0o644)
    return wanted


def _java_major(java: str) -> int:
    done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if not found:
        return 0
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def find_java(minimum: int = 21) -> str:
    """A java of at least `minimum`: STRIMZI_JAVA, PATH, JAVA_HOME, then /usr/lib/jvm/*."""
    candidates: list[str] = []
    if os.environ.get("STRIMZI_JAVA"):
        candidates.append(os.environ["STRIMZI_JAVA"])
    if shutil.which("java"):
        candidates.append(str(shutil.which("java")))
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    candidates += sorted(str(p) for p in Path("/usr/lib/jvm").glob("*/bin/java"))
    seen: list[str] = []
    for java in candidates:
        if java in seen or not Path(java).is_file():
            continue
        seen.append(java)
        if _java_major(java) >= minimum:
            return java
    raise CheckError(
        f"no Java {minimum}+ found (tried {', '.join(seen) or 'none'}): Strimzi's crd-generator "
        "needs one to make its CRDs; set STRIMZI_JAVA to a java binary"
    )


def fetch_strimzi_crds(progress: Progress = print) -> list[Path]:
    """Strimzi's CRDs for STRIMZI.kinds, generated once into the cache."""
    version = STRIMZI.version
    target = CACHE / "k8s-crds" / f"strimzi-{version}"
    wanted = {kind: target / f"{kind.lower()}.yaml" for kind, _ in STRIMZI.kinds}
    if all(p.is_file() for p in wanted.values()):
        return list(wanted.values())
    mvn = shutil.which("mvn")
    if mvn is None:
        raise CheckError("mvn not found: it resolves Strimzi's api and crd-generator jars")
    java = find_java()
    progress(f"helm-check: generating Strimzi {version} CRDs (io.strimzi:crd-generator, {java})")
    target.mkdir(parents=True, exist_ok=True)
    classpath_file = target / "classpath.txt"
    _run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            STRIMZI_POM,
            "dependency:build-classpath",
            f"-Dmdep.outputFile={classpath_file}",
        ],
        "mvn dependency:build-classpath (Strimzi api + crd-generator)",
        timeout=600,
    )
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        # The arguments of Strimzi's own api/pom.xml (the generator run that makes its CRDs).
        argv: list[str | Path] = [
            java,
            "-cp",
            classpath_file.read_text().strip(),
            "io.strimzi.crdgenerator.CrdGenerator",
            "--label",
            "app:strimzi",
            "--label",
            "strimzi.io/crd-install:true",
            "--target-kube",
            "1.16+",
            "--crd-api-version",
            "v1",
            "--api-versions",
            "v1",
            "--storage-version",
            "v1",
            "--yaml",
        ]
        argv += [f"{cls}={Path(tmp) / wanted[kind].name}" for kind, cls in STRIMZI.kinds]
        _run(argv, "Strimzi CrdGenerator", timeout=600)
        for path in wanted.values():
            (Path(tmp) / path.name).rename(path)
    classpath_file.unlink(missing_ok=True)
    return list(wanted.values())


# ---- schemas ------------------------------------------------------------------------------


def crd_to_json_schema(schema: Any) -> Any:
    """A CRD's structural openAPIV3Schema as JSON Schema (draft 4), strict like the API server.

    Objects with `properties` refuse unknown fields (as `kubectl apply`'s strict field
    validation does) unless marked x-kubernetes-preserve-unknown-fields; int-or-string and
    nullable become the types they stand for.
    """
    if isinstance(schema, list):
        return [crd_to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        key: crd_to_json_schema(value)
        for key, value in schema.items()
        if not key.startswith("x-kubernetes-") and key != "nullable"
    }
    for key in ("properties", "patternProperties", "definitions"):
        if isinstance(schema.get(key), dict):
            out[key] = {name: crd_to_json_schema(sub) for name, sub in schema[key].items()}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and "additionalProperties" not in schema and not preserve:
        out["additionalProperties"] = False
    return out


@dataclass
class SchemaSet:
    """JSON schemas of custom resources, by (apiVersion, kind), with where each came from."""

    schemas: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)

    def add_crd(self, crd: Mapping[str, Any], source: str) -> None:
        spec = crd["spec"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            api_version = f"{spec['group']}/{version['name']}"
            schema = crd_to_json_schema(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            schema.setdefault("required", [])
            schema["properties"]["apiVersion"] = {"enum": [api_version]}
            schema["properties"]["kind"] = {"enum": [spec["names"]["kind"]]}
            key = (api_version, spec["names"]["kind"])
            self.schemas[key] = schema
            self.sources[key] = source

    def add_files(self, paths: Iterable[Path], source: str) -> None:
        for path in paths:
            for doc in yaml.load_all(path.read_text(), Loader=_LOADER):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    self.add_crd(doc, source)


def load_schemas(progress: Progress = print) -> tuple[SchemaSet, list[str]]:
    """Every CRD schema the chart's resources need; and a line per source (name, version, kinds)."""
    schemas = SchemaSet()
    for source in GO_CRDS:
        schemas.add_files(fetch_go_crds(source, progress), source.label)
    schemas.add_files(fetch_strimzi_crds(progress), STRIMZI.label)
    lines = []
    for label in [s.label for s in GO_CRDS] + [STRIMZI.label]:
        kinds = sorted(
            {f"{kind} ({api})" for (api, kind), src in schemas.sources.items() if src == label}
        )
        lines.append(f"{label}: {', '.join(kinds)}")
    return schemas, lines


_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def metadata_problems(doc: Document) -> Iterator[str]:
    """What the API server would refuse in metadata that no JSON schema describes."""
    meta = doc.get("metadata") or {}
    name = meta.get("name", "")
    if not name or len(name) > 253 or not _NAME.match(name):
        yield f"metadata.name {name!r} is not a DNS subdomain name"
    for key, value in (meta.get("labels") or {}).items():
        prefix, _, label = key.rpartition("/")
        if len(label) > 63 or not _LABEL_NAME.match(label) or (prefix and not _NAME.match(prefix)):
            yield f"label key {key!r} is invalid"
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            yield f"label {key}={value!r}: not a valid label value"
    for key, value in (meta.get("annotations") or {}).items():
        if not isinstance(value, str):
            yield f"annotation {key}: {value!r} is not a string"


def describe(doc: Document) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def validate_document(doc: Document, schemas: SchemaSet) -> tuple[str, list[str]]:
    """(what it was validated against, its problems) for one rendered document."""
    import jsonschema
    import kubernetes_validate

    problems = list(metadata_problems(doc))
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    if key in schemas.schemas:
        validator = jsonschema.Draft4Validator(schemas.schemas[key])
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"{where}: {error.message}")
        return f"CRD {schemas.sources[key]}", problems
    against = []
    for version in KUBE_VERSIONS:
        try:
            checked = kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return "nothing", [*problems, f"no schema for {key[0]} {key[1]}"]
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(p) for p in error.path) or "(root)"
            problems.append(f"Kubernetes {version}: {where}: {error.message}")
        else:
            against.append(checked)
    return f"Kubernetes {' and '.join(dict.fromkeys(against)) or '?'}", problems


def validate_documents(docs: Sequence[Document], schemas: SchemaSet) -> list[str]:
    """Every problem of every document, each line naming its document; [] when all validate."""
    problems = []
    for doc in docs:
        _against, found = validate_document(doc, schemas)
        problems += [f"{describe(doc)}: {p}" for p in found]
    return problems


# ---- main ---------------------------------------------------------------------------------


def _kinds(docs: Sequence[Document]) -> str:
    counts: dict[str, int] = {}
    for doc in docs:
        counts[doc["kind"]] = counts.get(doc["kind"], 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python deploy/k8s/helm_check.py",
        description="helm lint + template of deploy/k8s/saga, each manifest schema-checked offline",
    )
    parser.parse_args(argv)
    began = time.monotonic()
    try:
        helm = helm_binary()
        print(f"helm-check: {helm_version(helm)} ({helm})")
        schemas, lines = load_schemas()
        for line in lines:
            print(f"helm-check: CRD schemas {line}")
        failed = 0
        total = 0
        for name, values in variants().items():
            shown = ", ".join(str(p.relative_to(REPO)) for p in values) or "default values"
            print(f"helm-check: [{name}] lint ({shown}): {lint(helm, values)}")
            docs = render(helm, values)
            print(f"helm-check: [{name}] template: {len(docs)} documents ({_kinds(docs)})")
            problems = validate_documents(docs, schemas)
            total += len(docs)
            bad = {p.split(":", 1)[0] for p in problems}
            for problem in problems:
                print(f"helm-check: [{name}] INVALID {problem}")
            print(
                f"helm-check: [{name}] schemas: {len(docs) - len(bad)}/{len(docs)} documents valid "
                f"(core kinds against Kubernetes {' and '.join(KUBE_VERSIONS)}, "
                "custom resources against their CRDs)"
            )
            failed += len(bad)
    except CheckError as error:
        print(f"helm-check: error: {error}", file=sys.stderr)
        return 1
    if failed:
        print(f"helm-check: {failed} of {total} documents invalid", file=sys.stderr)
        return 1
    print(f"helm-check: ok, {total} documents valid ({time.monotonic() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
