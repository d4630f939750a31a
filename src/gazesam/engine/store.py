"""A dataset-wide embedding store in Zarr: images encoded once (on a cluster), read anywhere.

Layout of ``STORE.zarr`` (a Zarr v3 folder hierarchy; any Zarr reader can open it)::

    zarr.json                 root group; attribute "gazesam": {"format": "gazesam-embeddings", "version": 1}
    <model key>/zarr.json     one group per model + checkpoint: model name, checkpoint SHA-256, dtype, shape
    <model key>/<digest>/     one array per encoded image, one chunk: the image embedding, keyed by the
                              content hash of the pixels the encoder saw (:func:`~gazesam.engine.cache.image_digest`);
                              attributes hold original_size, input_size and the model name
    <model key>/inputs/*.json what each ``gazesam encode`` input expects (its digests) and whether it finished
    .tmp/                     writes in progress

Writes are atomic per embedding: an array is written completely into ``.tmp/`` and renamed into place;
a rename onto an existing embedding fails and is dropped (the content is the same, keyed by its hash). So
two writers never corrupt the store, a reader never sees half an embedding, and a killed writer leaves
only what it finished plus a ``.tmp`` leftover the next writer removes. An input's manifest says which
digests it needs: a store with missing ones is reported as incomplete and the next ``encode`` writes only
those.

The store stays float16 by default: the masks decoded from float16 embeddings keep an IoU of at least
0.998 with the float32 ones (tests/test_distributed_store.py; benchmarks/bench_distributed.py measures it).

zarr is an optional extra (``pip install gazesam[distributed]``), imported when a store is opened.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from gazesam.core.errors import InputError, OutputError
from gazesam.core.outputs import os_error_message, write_text
from gazesam.core.processes import pid_alive
from gazesam.engine.predictor import ImageEmbedding

FORMAT = "gazesam-embeddings"
VERSION = 1
DTYPES = {"fp16": "float16", "fp32": "float32"}
#: a ``.tmp`` entry older than this is a killed writer's leftover (a live writer finishes one in seconds)
STALE_TMP_S = 3600.0


def _zarr() -> Any:
    try:
        import zarr
    except ImportError:
        raise InputError("the embedding store needs zarr: pip install gazesam[distributed]") from None
    return zarr


def model_identity(predictor: Any) -> tuple[str, str]:
    """(model name, checkpoint SHA-256) of a predictor: what a stored embedding must match."""
    name = getattr(getattr(predictor, "spec", None), "name", None)
    sha = getattr(predictor, "checkpoint_sha256", None)
    if not name or not sha:
        raise InputError("this predictor does not name its model and checkpoint hash; the embedding store "
                         "needs both to key what it stores")
    return str(name), str(sha)


class EmbeddingStore:
    """One Zarr embedding store on disk, opened for one model and checkpoint.

    ``mode="r"``: the store must exist and hold this model (``InputError`` naming what it holds otherwise).
    ``mode="a"``: created when absent; ``precision`` ("fp16" or "fp32") fixes the stored dtype of a new
    model group and must match an existing one. ``get``/``put`` are safe from several threads, processes
    and machines sharing the folder.
    """

    def __init__(self, path: str | os.PathLike, model: str, checkpoint_sha256: str, *, mode: str = "r",
                 precision: str = "fp16", runtime: str = "") -> None:
        if mode not in ("r", "a"):
            raise InputError(f"store mode is 'r' or 'a', got {mode!r}")
        if precision not in DTYPES:
            raise InputError(f"store precision is fp16 or fp32, got {precision!r}")
        self.zarr = _zarr()
        self.path = Path(path).expanduser()
        self.model = model
        self.checkpoint_sha256 = checkpoint_sha256
        self.key = f"{model}-{checkpoint_sha256[:16]}"
        self.writable = mode == "a"
        self.reads = 0
        self.writes = 0
        if self.writable:
            self._create_root()
            self._create_model_group(precision, runtime)
        self._check_root()
        self.info = self._check_model_group()
        self.dtype = self.info["dtype"]
        self.precision = next(k for k, v in DTYPES.items() if v == self.dtype)
        if self.writable and self.precision != precision:
            raise InputError(f"{self.path} holds {self.model} embeddings as {self.dtype}; encode with "
                             f"--precision {self.precision} or use another store")

    @classmethod
    def for_predictor(cls, path: str | os.PathLike, predictor: Any, *, mode: str = "r",
                      precision: str = "fp16") -> "EmbeddingStore":
        """The store at ``path`` opened for ``predictor``'s model and checkpoint."""
        name, sha = model_identity(predictor)
        return cls(path, name, sha, mode=mode, precision=precision,
                   runtime=str(getattr(predictor, "runtime_name", "") or ""))

    # ---- creation (create-and-rename, so concurrent writers agree) -----------------------------------
    def _tmp_dir(self) -> Path:
        return self.path / ".tmp" / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"

    def _create_root(self) -> None:
        if (self.path / "zarr.json").exists():
            return
        if self.path.exists() and any(self.path.iterdir()):
            raise InputError(f"{self.path} exists and is not an embedding store; give a new or an existing "
                             "store folder")
        tmp = self.path.with_name(f".tmp-{os.getpid()}-{uuid.uuid4().hex}-{self.path.name}")
        try:
            self.zarr.open_group(store=str(tmp), mode="w", zarr_format=3,
                                 attributes={"gazesam": {"format": FORMAT, "version": VERSION}})
            if self.path.exists():  # an empty folder the user made: fill it in place
                os.replace(tmp / "zarr.json", self.path / "zarr.json")
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                try:
                    os.rename(tmp, self.path)
                except OSError:  # another writer created it first
                    shutil.rmtree(tmp, ignore_errors=True)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise OutputError(os_error_message(exc, self.path)) from None

    def _create_model_group(self, precision: str, runtime: str) -> None:
        group = self.path / self.key
        if (group / "zarr.json").exists():
            return
        tmp = self._tmp_dir()
        attrs = {"gazesam": {"model": self.model, "checkpoint_sha256": self.checkpoint_sha256,
                             "dtype": DTYPES[precision], "encoded_with_runtime": runtime,
                             "key": "content hash of the encoded image (blake2b-128 of shape, dtype, pixels)"}}
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            self.zarr.open_group(store=str(tmp), mode="w", zarr_format=3, attributes=attrs)
            (tmp / "inputs").mkdir()
            try:
                os.rename(tmp, group)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise OutputError(os_error_message(exc, group)) from None

    # ---- checks a reader makes --------------------------------------------------------------------
    def _read_json(self, path: Path) -> dict[str, Any]:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    def _check_root(self) -> None:
        if not self.path.is_dir():
            raise InputError(f"embedding store {self.path} does not exist; make it with gazesam encode")
        meta = self._read_json(self.path / "zarr.json").get("attributes", {}).get("gazesam", {})
        if meta.get("format") != FORMAT:
            raise InputError(f"{self.path} is not a gazesam embedding store (no {FORMAT!r} root metadata)")
        if int(meta.get("version", 0)) > VERSION:
            raise InputError(f"{self.path} is store format version {meta.get('version')}; this gazesam reads "
                             f"version {VERSION} (upgrade gazesam)")

    def _check_model_group(self) -> dict[str, Any]:
        meta = self._read_json(self.path / self.key / "zarr.json").get("attributes", {}).get("gazesam")
        if not meta:
            held = ", ".join(self.models()) or "nothing"
            raise InputError(f"{self.path} has no embeddings of {self.model} with checkpoint "
                             f"{self.checkpoint_sha256[:12]} (it holds: {held}); encode with this model first")
        if meta.get("model") != self.model or meta.get("checkpoint_sha256") != self.checkpoint_sha256:
            raise InputError(f"{self.path / self.key}: metadata names {meta.get('model')} "
                             f"{str(meta.get('checkpoint_sha256'))[:12]}, not {self.model} {self.checkpoint_sha256[:12]}")
        if meta.get("dtype") not in DTYPES.values():
            raise InputError(f"{self.path / self.key}: unknown stored dtype {meta.get('dtype')!r}")
        return meta

    def models(self) -> list[str]:
        """The ``model-checkpoint`` groups this store holds."""
        out = []
        for d in sorted(self.path.iterdir()) if self.path.is_dir() else []:
            meta = self._read_json(d / "zarr.json").get("attributes", {}).get("gazesam", {})
            if d.is_dir() and "model" in meta:
                out.append(f"{meta['model']} ({str(meta.get('checkpoint_sha256'))[:12]}, {meta.get('dtype')})")
        return out

    # ---- embeddings -----------------------------------------------------------------------------------
    def _array_dir(self, digest: str) -> Path:
        if not digest or any(c not in "0123456789abcdef" for c in digest):
            raise InputError(f"not an image digest: {digest!r}")
        return self.path / self.key / digest

    def __contains__(self, digest: str) -> bool:
        return (self._array_dir(digest) / "zarr.json").is_file()

    def digests(self) -> set[str]:
        """Every image digest stored for this model."""
        group = self.path / self.key
        return {d.name for d in group.iterdir() if d.name != "inputs" and (d / "zarr.json").is_file()}

    def get(self, digest: str) -> ImageEmbedding | None:
        """The stored embedding of the image with this digest (features restored to float32), or None.

        An entry the reader cannot decode (a damaged disk; writes never leave one) is treated as absent,
        so the caller encodes the image again."""
        folder = self._array_dir(digest)
        if not (folder / "zarr.json").is_file():
            return None
        try:
            arr = self.zarr.open_array(store=str(folder), mode="r")
            features = np.asarray(arr[...], np.float32)
            attrs = dict(arr.attrs)
        except Exception:  # noqa: BLE001 - zarr/numcodecs raise many kinds on damaged data
            return None
        if attrs.get("model") != self.model:
            raise InputError(f"{folder}: embedding of model {attrs.get('model')!r} in the {self.model} group")
        self.reads += 1
        return ImageEmbedding(features=features, original_size=tuple(attrs["original_size"]),
                              input_size=tuple(attrs["input_size"]), model=self.model)

    def put(self, digest: str, emb: ImageEmbedding) -> bool:
        """Store ``emb`` under ``digest``, atomically; False when it was already there (nothing written)."""
        if not self.writable:
            raise InputError(f"{self.path} was opened read-only")
        if emb.model != self.model:
            raise InputError(f"embedding of model {emb.model!r} cannot go into the {self.model} store group")
        final = self._array_dir(digest)
        if (final / "zarr.json").is_file():
            return False
        tmp = self._tmp_dir()
        features = np.asarray(emb.features).astype(self.dtype)
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            arr = self.zarr.create_array(store=str(tmp), shape=features.shape, chunks=features.shape,
                                         dtype=self.dtype, fill_value=float("nan"), zarr_format=3,
                                         attributes={"original_size": list(emb.original_size),
                                                     "input_size": list(emb.input_size), "model": emb.model,
                                                     "written": time.time()})
            arr[...] = features
            try:
                os.rename(tmp, final)
            except OSError:
                if (final / "zarr.json").is_file():  # another writer stored the same content first
                    shutil.rmtree(tmp, ignore_errors=True)
                    return False
                raise
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise OutputError(os_error_message(exc, final)) from None
        self.writes += 1
        return True

    def remove_stale_tmp(self, max_age_s: float = STALE_TMP_S) -> int:
        """Delete ``.tmp`` leftovers of killed writers: this host's entries whose process is gone, and any
        older than ``max_age_s``. Returns how many were removed."""
        root = self.path / ".tmp"
        removed = 0
        host = socket.gethostname()
        for d in root.iterdir() if root.is_dir() else []:
            parts = d.name.rsplit("-", 2)
            dead = False
            if len(parts) == 3 and parts[0] == host and parts[1].isdigit():
                dead = not pid_alive(int(parts[1]))
            try:
                old = time.time() - d.stat().st_mtime > max_age_s
            except OSError:
                continue
            if dead or old:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
        return removed

    # ---- manifests of encoded inputs -----------------------------------------------------------------
    def _manifest_path(self, key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
        return self.path / self.key / "inputs" / f"{safe}.json"

    def write_manifest(self, key: str, manifest: dict[str, Any]) -> None:
        """Record (atomically) what input ``key`` needs: ``manifest["digests"]`` and how it was made."""
        write_text(self._manifest_path(key), json.dumps(manifest, indent=1) + "\n")

    def manifests(self) -> dict[str, dict[str, Any]]:
        folder = self.path / self.key / "inputs"
        out = {}
        for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            m = self._read_json(p)
            if m:
                out[m.get("key", p.stem)] = m
        return out

    def incomplete(self) -> dict[str, int]:
        """Inputs whose manifest names digests the store lacks: {input key: number missing}."""
        have = self.digests()
        out = {}
        for key, m in self.manifests().items():
            missing = sum(d not in have for d in m.get("digests", []))
            if missing:
                out[key] = missing
        return out
