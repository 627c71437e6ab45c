"""`k8sclaw install --version V` for another release: download from a local release
server, checksum verified, and one-line errors for 404, offline, mismatch, bad archives."""

from __future__ import annotations

import functools
import hashlib
import io
import shutil
import socket
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from k8sclaw.cli import cli
from k8sclaw.installer import MANIFESTS_DIR, bundle_name, write_release_bundle

OTHER = "0.0.9"
MARKER = "k8sclaw.test/fetched-release"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def releases(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A release server on 127.0.0.1 serving `<root>/v<V>/...`; yields (base URL, root)."""
    root = tmp_path / "releases"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _publish(root: Path, tmp_path: Path, version: str = OTHER) -> Path:
    """Release `version`: today's manifests with a marker annotation on the namespace."""
    manifests = tmp_path / "src" / "manifests"
    shutil.copytree(MANIFESTS_DIR, manifests)
    ns_file = manifests / "namespace" / "namespace.yaml"
    doc = yaml.safe_load(ns_file.read_text())
    doc["metadata"].setdefault("annotations", {})[MARKER] = version
    ns_file.write_text(yaml.safe_dump(doc))
    return write_release_bundle(root / f"v{version}", version, manifests)


def _dry_run(base: str, version: str = OTHER) -> Result:
    return CliRunner().invoke(
        cli, ["install", "--dry-run", "--version", version], env={"K8SCLAW_RELEASE_URL": base}
    )


def _one_line(result: Result, *needles: str) -> None:
    assert result.exit_code == 12, (result.exit_code, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))]
    assert len(errors) == 2 and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr


def test_other_version_is_fetched_verified_and_pinned(
    releases: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = releases
    _publish(root, tmp_path)
    result = _dry_run(base)
    assert result.exit_code == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    (namespace,) = [d for d in docs if d["kind"] == "Namespace"]
    assert namespace["metadata"]["annotations"][MARKER] == OTHER
    images = [
        c["image"]
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
        if c["image"].startswith("ghcr.io/k8sclaw/")
    ]
    assert images and all(i.endswith(f":{OTHER}") for i in images)
    assert {d["metadata"]["labels"]["app.kubernetes.io/version"] for d in docs} == {OTHER}


def test_missing_release_is_a_404(releases: tuple[str, Path]) -> None:
    _one_line(_dry_run(releases[0], "0.0.8"), "release 0.0.8", "HTTP 404", "K8SCLAW_RELEASE_URL")


def test_offline(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _one_line(_dry_run(f"http://127.0.0.1:{port}"), "cannot download", "offline")


def test_checksum_mismatch(releases: tuple[str, Path], tmp_path: Path) -> None:
    base, root = releases
    archive = _publish(root, tmp_path)
    Path(f"{archive}.sha256").write_text(f"{hashlib.sha256(b'other').hexdigest()}  x\n")
    _one_line(_dry_run(base), "checksum mismatch", "tampered")


def test_archive_escaping_its_folder_is_refused(releases: tuple[str, Path], tmp_path: Path) -> None:
    base, root = releases
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("manifests/../../escaped.yaml")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    folder = root / f"v{OTHER}"
    folder.mkdir()
    (folder / bundle_name(OTHER)).write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    (folder / f"{bundle_name(OTHER)}.sha256").write_text(f"{digest}  {bundle_name(OTHER)}\n")
    _one_line(_dry_run(base), "unexpected entry", "manifests/../../escaped.yaml")
    assert not list(tmp_path.rglob("escaped.yaml"))
