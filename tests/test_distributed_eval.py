"""Distributed evaluation on real Dask clusters (loopback only) against the single-process run.

A LocalCluster of 2 worker processes, and a real ``dask scheduler`` with two ``dask worker`` processes of
which one is SIGKILLed mid-run, both give the single-process per_image rows (apart from timing columns);
``gazesam eval --resume`` computes only what the journal lacks.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from gazesam.cli.main import main  # noqa: E402
from gazesam.evaluation.distributed import EvalJob, cluster, evaluate_on  # noqa: E402
from gazesam.evaluation.evaluate import TIMING_COLUMNS, evaluate  # noqa: E402
from gazesam.evaluation.journal import Journal, result_from_json, result_to_json  # noqa: E402

pytestmark = [pytest.mark.data, pytest.mark.slow, pytest.mark.timeout(900)]
N_IMAGES = 2
POLICIES = ("gaze-box",)


def rows(result) -> list[dict]:
    return [{k: v for k, v in r.row().items() if k not in TIMING_COLUMNS}
            for p in result.policies for r in result.results[p]]


@pytest.fixture(scope="module")
def kvasir(shared_data: Path) -> Path:
    return shared_data / "kvasir-gaze"


@pytest.fixture(scope="module")
def reference(kvasir: Path, litemedsam):
    """The single-process evaluation (2 engine threads), what every distributed run must reproduce."""
    return evaluate(kvasir, POLICIES, limit=N_IMAGES, progress=False, predictor=litemedsam)


def test_local_cluster_of_two_processes_matches_one_process(kvasir: Path, reference) -> None:
    job = EvalJob(str(kvasir), POLICIES, limit=N_IMAGES, threads=1)
    seen = []
    with cluster(workers=2) as client:
        addresses = list(client.scheduler_info()["workers"])
        assert len(addresses) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in addresses)
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        pids = client.run(os.getpid)
        result = evaluate_on(client, job, progress=False, on_result=seen.append)
        # each worker process loaded the predictor once and kept it (per-process cache)
        loaded = client.run(lambda: sum(1 for k in __import__("gazesam.evaluation.distributed", fromlist=["x"])
                                        ._PROCESS if k[0] == "predictor"))
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    assert all(n <= 1 for n in loaded.values())
    assert rows(result) == rows(reference)
    assert len(seen) == N_IMAGES * len(reference.policies)
    assert result.policies == reference.policies


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    end = time.time() + timeout
    while not path.exists():
        if time.time() > end:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.2)


def test_killed_worker_of_a_real_scheduler_costs_only_its_tasks(kvasir: Path, reference, tmp_path: Path) -> None:
    dask = Path(sys.executable).parent / "dask"
    info = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(info)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_for(info)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for _ in range(2):
            procs.append(subprocess.Popen(
                [str(dask), "worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                 "--no-dashboard", "--death-timeout", "60"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        job = EvalJob(str(kvasir), POLICIES, limit=N_IMAGES, threads=1)
        killed: list[int] = []

        def kill_first_worker(_result) -> None:
            if not killed:  # mid-run: one result is in, the rest are queued or running on both workers
                procs[1].send_signal(signal.SIGKILL)
                killed.append(procs[1].pid)

        with cluster(scheduler=address) as client:
            client.wait_for_workers(2, timeout=120)
            result = evaluate_on(client, job, progress=False, on_result=kill_first_worker)
            survivors = client.run(os.getpid)
        assert killed and procs[1].wait(timeout=30) == -signal.SIGKILL
        assert list(survivors.values()) == [procs[2].pid]
        assert rows(result) == rows(reference)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


def test_resume_computes_only_what_the_journal_lacks(kvasir: Path, reference, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    config = {"dataset": str(kvasir.resolve()), "gaze": "table", "model": "litemedsam", "runtime": "onnx",
              "checkpoint": None, "store": None, "policy_params": {}}
    journal = Journal(out, config)
    out.mkdir()
    journal.open(resume=False)
    first = reference.results[reference.policies[0]][0]
    journal.append(first)
    journal.close()
    with open(journal.path, "a") as fh:  # a line cut off by a kill
        fh.write(json.dumps(result_to_json(reference.results["gaze-box"][0]))[:80])
    rc = main(["eval", str(kvasir), "--policy", "gaze-box", "--limit", "1", "--report", str(out), "--resume",
               "--no-progress"])
    assert rc == 0
    assert "resuming: 1 result(s) kept" in capsys.readouterr().err
    got = [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(open(out / "per_image.csv"))]
    want = [{k: str("" if v is None else v) for k, v in r.items()}
            for r in rows(reference) if r["image"] == first.image]
    assert got == want
    lines = journal.path.read_text().splitlines()
    assert len([ln for ln in lines[1:] if ln.startswith("{") and ln.endswith("}")]) == 3
    # another configuration is refused, not mixed in
    rc = main(["eval", str(kvasir), "--policy", "gaze-box", "--limit", "1", "--report", str(out), "--resume",
               "--gaze", "simulated:3", "--no-progress"])
    assert rc == 1 and "other settings" in capsys.readouterr().err


def test_journal_round_trips_every_field(reference) -> None:
    for results in reference.results.values():
        for r in results:
            back = result_from_json(json.loads(json.dumps(result_to_json(r))))
            assert back.row() == r.row()
            assert back.fixations == r.fixations and back.times == r.times
            assert (back.last_mask == r.last_mask).all()
