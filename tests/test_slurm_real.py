"""The same manifest on a real one-node Slurm started by this test: munged, slurmctld and slurmd from Debian's
slurm-wlm and munge packages (`make test` installs them), controller and node on this machine. `corpus build`
submits its dependent job arrays with sbatch; the test waits for the queue to drain and requires the result to
equal a local build of the same manifest."""

import copy
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import assert_same_build, base_manifest, free_port, run_cli, write_manifest

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out


def _munge_running() -> bool:
    try:
        return subprocess.run("munge -n | unmunge", shell=True, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def slurm():
    missing = [b for b in ("slurmctld", "slurmd", "munged", "sbatch", "squeue") if not shutil.which(b)]
    if missing:
        pytest.skip(f"no {', '.join(missing)}: install Debian's slurm-wlm and munge (make test does)")
    if os.geteuid() != 0:
        pytest.skip("starting slurmctld/slurmd/munged here needs root")
    if not _munge_running():
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            subprocess.run(["mungekey", "--create"], check=True, capture_output=True)
        subprocess.run(["chown", "munge:munge", str(key)], check=False)
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        subprocess.run(["chown", "munge:munge", "/run/munge"], check=False)
        subprocess.run(["runuser", "-u", "munge", "--", shutil.which("munged")], check=True, capture_output=True)
    root = Path(tempfile.mkdtemp(prefix="slurm", dir="/tmp"))
    (root / "state").mkdir()
    (root / "spool").mkdir()
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(f"""ClusterName=corpustest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={os.cpu_count()} RealMemory=8000 State=UNKNOWN
PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    subprocess.run(["slurmctld", "-f", str(conf)], check=True, env=env, capture_output=True)
    subprocess.run(["slurmd", "-f", str(conf)], check=True, env=env, capture_output=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        state = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True).stdout.strip()
        if state in ("idle", "mix", "alloc"):
            break
        time.sleep(1)
    else:
        pytest.fail(f"the Slurm node did not come up: {(root / 'slurmd.log').read_text()[-2000:]}")
    try:
        yield env
    finally:
        subprocess.run(["scancel", "--user=root"], env=env, capture_output=True)
        subprocess.run(["scontrol", "shutdown"], env=env, capture_output=True)
        time.sleep(1)
        for pid_file in ("slurmd.pid", "slurmctld.pid"):
            try:
                os.kill(int((root / pid_file).read_text()), 15)
            except (OSError, ValueError):
                pass
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_empty_queue(env: dict, seconds: int = 900) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        queue = subprocess.run(["squeue", "-h"], env=env, capture_output=True, text=True).stdout.strip()
        if not queue:
            return
        time.sleep(2)
    pytest.fail(f"jobs still queued: {queue}")


def _build_locally_and_submit(name: str, slurm: dict, tmp_path: Path, monkeypatch) -> Path:
    """Build the base manifest locally (TMP/local/out) and submit the same manifest to Slurm; returns its output folder."""
    data = base_manifest()
    data["name"] = name
    data["executor"] = {"type": "local", "tasks": 2, "workers": 1}
    assert run_cli("build", write_manifest(tmp_path / "local", data)) == 0
    clustered = copy.deepcopy(data)
    clustered["executor"] = {"type": "slurm", "tasks": 2,
                             "options": {"partition": "cpu", "time": "00:30:00", "cpus_per_task": 1, "mem_per_cpu_gb": 1}}
    monkeypatch.setenv("SLURM_CONF", slurm["SLURM_CONF"])
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # the jobs run this environment's tools
    assert run_cli("build", write_manifest(tmp_path / "slurm", clustered)) == 0
    return tmp_path / "slurm" / "out"


def test_real_slurm_build_equals_local_build(slurm, tmp_path, monkeypatch):
    out = _build_locally_and_submit("test", slurm, tmp_path, monkeypatch)
    _wait_for_empty_queue(slurm)
    logs = "\n".join(p.read_text()[-1500:] for p in sorted(out.rglob("slurm_logs/*.out")))
    assert (out / "summary.json").exists(), logs
    assert_same_build(tmp_path / "local" / "out", out)


def test_a_preempted_task_is_requeued_and_the_build_still_equals_local(slurm, tmp_path, monkeypatch):
    """Preemption as a cluster does it: SIGUSR1 to a running task's step. datatrove's handler requeues the array
    task (`scontrol requeue`) and exits; Slurm runs it again, the later stages wait for it (afterok), and the
    build ends as a local build does."""
    out = _build_locally_and_submit("preempted", slurm, tmp_path, monkeypatch)

    # the first process task, once its Python is running the pipeline (its signal handler is then in place)
    deadline, job = time.time() + 300, None
    while time.time() < deadline and job is None:
        running = subprocess.run(["squeue", "-h", "-t", "R", "-n", "preempted-process", "-o", "%i"], env=slurm,
                                 capture_output=True, text=True).stdout.split()
        for spec in running:  # ARRAYJOB_TASK
            log = out / "logs" / "process" / "slurm_logs" / f"{spec}.out"
            if log.exists() and "Launching pipeline for rank" in log.read_text(errors="replace"):
                job = spec
                break
        time.sleep(0.2)
    assert job is not None, "no process task was seen running"
    subprocess.run(["scancel", "--signal=USR1", job], env=slurm, check=True)  # the job's steps, not its batch shell
    _wait_for_empty_queue(slurm)
    # Slurm keeps a finished job's record for MinJobAge (300 s): the task ran twice
    record = subprocess.run(["scontrol", "show", "job", job], env=slurm, capture_output=True, text=True).stdout
    assert "Restarts=1" in record and "JobState=COMPLETED" in record, record
    assert (out / "summary.json").exists()
    assert_same_build(tmp_path / "local" / "out", out)
