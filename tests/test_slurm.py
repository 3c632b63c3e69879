"""The Slurm path as far as this machine allows: `corpus build` with `executor: {type: slurm}` submits through
datatrove's SlurmPipelineExecutor to stand-in `sbatch`/`srun`/`scontrol` commands, which record every job
(tests/test_slurm_real.py runs a real Slurm; this one pins down the job chain and the reruns deterministically). The test checks the job chain (array sizes, afterok dependencies between the stages),
then plays scheduler: it runs every recorded script with bash, in submission order, one array index at a time,
exactly as Slurm would. The result must equal a local build of the same manifest; resubmitting the finished
build launches nothing (completed tasks are skipped), and a deleted task's output is rebuilt by rerunning
that task alone."""

import pytest
import copy
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from conftest import assert_same_build, base_manifest, run_cli, tree_bytes, write_manifest

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out

SBATCH = r'''#!PYTHON
import json, os, sys
log = os.environ["FAKE_SLURM_LOG"]
jobs = [json.loads(x) for x in open(log)] if os.path.exists(log) else []
job_id = 1000 + len(jobs)
script = open(sys.argv[-1]).read()
with open(log, "a") as f:
    f.write(json.dumps({"id": job_id, "args": sys.argv[1:-1], "script": script}) + "\n")
print(f"Submitted batch job {job_id}")
'''
SCONTROL = r'''#!/usr/bin/env bash
# scontrol show hostnames NODELIST: one node, this one
[ "$1 $2" = "show hostnames" ] && echo "$3"
'''
SRUN = r'''#!/usr/bin/env bash
# srun -l -n 1 CMD ...: run CMD here
while [[ "$1" == -* ]]; do case "$1" in -n|-N|-c) shift 2;; *) shift;; esac; done
exec "$@"
'''


def _tools(tmp: Path) -> dict:
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for name, text in (("sbatch", SBATCH.replace("PYTHON", sys.executable)), ("srun", SRUN), ("scontrol", SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod((bin_dir / name).stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
            "FAKE_SLURM_LOG": str(tmp / "jobs.jsonl")}


def _jobs(tmp: Path) -> list[dict]:
    path = tmp / "jobs.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _schedule(jobs: list[dict], env: dict, only: set[int] | None = None) -> None:
    """Run each job's script for every index of its array, in submission order (every dependency is an earlier job)."""
    for job in jobs:
        if only is not None and job["id"] not in only:
            continue
        array = re.search(r"#SBATCH --array=0-(\d+)", job["script"])
        offset = re.search(r"RUN_OFFSET=(\d+)", " ".join(job["args"]))
        for index in range(int(array.group(1)) + 1 if array else 1):
            run_env = {**env, "SLURM_ARRAY_TASK_ID": str(index), "SLURM_JOB_ID": str(job["id"]), "SLURM_NODELIST": "localhost",
                       "SLURM_NODEID": "0",
                       "RUN_OFFSET": offset.group(1) if offset else "0"}
            done = subprocess.run(["bash", "-c", job["script"]], env=run_env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr[-2000:]


def test_slurm_job_chain_run_in_order_equals_the_local_build(tmp_path, monkeypatch):
    data = base_manifest()
    data["executor"] = {"type": "local", "tasks": 2, "workers": 1}
    assert run_cli("build", write_manifest(tmp_path / "local", data)) == 0

    slurm = copy.deepcopy(data)
    slurm["executor"] = {"type": "slurm", "tasks": 2, "options": {"partition": "cpu", "time": "01:00:00", "cpus_per_task": 1}}
    env = _tools(tmp_path)
    for key in ("PATH", "FAKE_SLURM_LOG"):
        monkeypatch.setenv(key, env[key])
    manifest = write_manifest(tmp_path / "slurm", slurm)
    assert run_cli("build", manifest) == 0

    jobs = _jobs(tmp_path)
    stages = [j for j in jobs if "launch_pickled_pipeline" in j["script"]]
    merges = [j for j in jobs if "merge_stats" in j["script"]]
    assert [re.search(r"#SBATCH --job-name=(\S+)", j["script"]).group(1) for j in stages] == \
        ["test-process", "test-dedup", "test-shards", "test-summary"]
    assert all("#SBATCH --partition=cpu" in j["script"] and "#SBATCH --time=01:00:00" in j["script"] for j in stages)
    arrays = [re.search(r"#SBATCH --array=0-(\d+)", j["script"]).group(1) for j in stages]
    assert arrays == ["1", "0", "1", "0"]  # process and shards in 2 tasks; clustering and summary in one
    for before, after in zip(stages, stages[1:]):  # each stage waits for the previous one to succeed
        assert f"--dependency=afterok:{before['id']}" in after["args"]
    assert len(merges) == len(stages)

    _schedule(jobs, env)
    assert_same_build(tmp_path / "local" / "out", tmp_path / "slurm" / "out")

    # resubmitting a finished build launches no stage: every task is complete
    before = len(jobs)
    assert run_cli("build", manifest) == 0
    assert not [j for j in _jobs(tmp_path)[before:] if "launch_pickled_pipeline" in j["script"]]

    # a lost task output: its completion marker goes, and only that task is rerun
    shards_logs = tmp_path / "slurm" / "out" / "logs" / "shards" / "completions"
    (shards_logs / "00001").unlink()
    expected = tree_bytes(tmp_path / "slurm" / "out")
    for f in (tmp_path / "slurm" / "out" / "shards").rglob("00001*"):
        f.unlink()
    before = len(_jobs(tmp_path))
    assert run_cli("build", manifest) == 0
    rerun = [j for j in _jobs(tmp_path)[before:] if "launch_pickled_pipeline" in j["script"]]
    assert [re.search(r"#SBATCH --job-name=(\S+)", j["script"]).group(1) for j in rerun] in (["test-shards"], ["test-shards", "test-summary"])
    _schedule(_jobs(tmp_path)[before:], env)
    assert tree_bytes(tmp_path / "slurm" / "out") == expected

