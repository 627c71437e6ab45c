"""Manifests of another release: `k8sclaw install --version V` for V other than the CLI's.

A release publishes `k8sclaw-manifests-V.tar.gz` (the `manifests/` tree of that version)
and `k8sclaw-manifests-V.tar.gz.sha256` under `<base>/vV/`, where `<base>` is
$K8SCLAW_RELEASE_URL or the project's GitHub releases. `fetch_manifests` downloads
both, checks the SHA-256 before reading a byte of the archive, and extracts regular
files only (no links, no paths outside the target). `write_release_bundle` makes the
two files from package data (the release workflow and the tests use it).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

from k8sclaw.installer._bundle import MANIFESTS_DIR, STEPS
from k8sclaw.kube import KubeError

DEFAULT_RELEASE_URL = "https://github.com/k8sclaw/k8sclaw/releases/download"
RELEASE_URL_ENV = "K8SCLAW_RELEASE_URL"
_TIMEOUT = 30.0
_MAX_BYTES = 64 * 1024 * 1024


class ReleaseDownloadError(KubeError):
    """The manifests of the requested release could not be fetched or verified."""

    exit_code = 12


def bundle_name(version: str) -> str:
    """File name of a release's manifests archive."""
    return f"k8sclaw-manifests-{version}.tar.gz"


def release_url(version: str) -> str:
    """Where the archive of `version` lives (no trailing slash)."""
    base = (os.environ.get(RELEASE_URL_ENV) or DEFAULT_RELEASE_URL).rstrip("/")
    return f"{base}/v{version}/{bundle_name(version)}"


def fetch_manifests(version: str, into: Path) -> Path:
    """Download, verify and extract the manifests of `version`; the `manifests` dir."""
    url = release_url(version)
    archive = _download(url, version)
    expected = _download(f"{url}.sha256", version).decode("ascii", "replace").split()
    actual = hashlib.sha256(archive).hexdigest()
    if not expected or expected[0].lower() != actual:
        raise ReleaseDownloadError(
            f"checksum mismatch for {bundle_name(version)}: the .sha256 file says "
            f"{(expected or ['nothing'])[0][:16]}, the download is {actual[:16]}",
            hint=f"the download is corrupt or was tampered with; retry, or check {RELEASE_URL_ENV}",
        )
    return _extract(archive, into, version)


def _download(url: str, version: str) -> bytes:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as resp:
            data: bytes = resp.read(_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()  # the error carries the open response
        if exc.code == 404:
            raise ReleaseDownloadError(
                f"release {version} has no manifests at {url} (HTTP 404)",
                hint="check the version on the releases page, or point "
                f"{RELEASE_URL_ENV} at a mirror that has it",
            ) from exc
        raise ReleaseDownloadError(
            f"downloading {url} failed: HTTP {exc.code} {exc.reason}",
            hint=f"retry later, or point {RELEASE_URL_ENV} at a mirror",
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ReleaseDownloadError(
            f"cannot download {url} ({' '.join(str(reason).split())[:120]})",
            hint=f"check the network (offline?), or point {RELEASE_URL_ENV} at a reachable "
            f"mirror; this CLI's own release needs no download",
        ) from exc
    if len(data) > _MAX_BYTES:
        raise ReleaseDownloadError(f"{url} is larger than {_MAX_BYTES} bytes", hint="check the URL")
    return data


def _extract(archive: bytes, into: Path, version: str) -> Path:
    """Regular files under `manifests/` only; anything else means a bad archive."""
    root = into.resolve()
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar.getmembers():
                target = (root / member.name).resolve()
                if not target.is_relative_to(root / "manifests") or not (
                    member.isfile() or member.isdir()
                ):
                    raise ReleaseDownloadError(
                        f"{bundle_name(version)} holds an unexpected entry {member.name!r}",
                        hint="the archive is not a K8sClaw manifests bundle; check "
                        f"{RELEASE_URL_ENV}",
                    )
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                target.write_bytes(source.read() if source else b"")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ReleaseDownloadError(
            f"{bundle_name(version)} is not a readable .tar.gz ({exc})",
            hint=f"retry, or check {RELEASE_URL_ENV}",
        ) from exc
    manifests = root / "manifests"
    missing = [folder for _, folder in STEPS if not (manifests / folder).is_dir()]
    if missing:
        raise ReleaseDownloadError(
            f"{bundle_name(version)} lacks the manifest folders {', '.join(missing)}",
            hint=f"the archive is not a K8sClaw manifests bundle; check {RELEASE_URL_ENV}",
        )
    return manifests


def write_release_bundle(out_dir: Path, version: str, manifests: Path = MANIFESTS_DIR) -> Path:
    """Write the archive of `manifests` and its `.sha256` for `version`; the archive path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / bundle_name(version)
    with tarfile.open(archive, "w:gz") as tar:
        for _, folder in STEPS:
            tar.add(manifests / folder, arcname=f"manifests/{folder}")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    Path(f"{archive}.sha256").write_text(f"{digest}  {archive.name}\n")
    return archive
