"""The same manifest on a real Ray cluster (a head and a worker node started on loopback by this test) gives the
same shards, rejected and failed files, per-document table and summary as the local executor."""

import copy
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import assert_same_build, base_manifest, free_port, run_cli, write_manifest

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out


@pytest.fixture(scope="module")
def ray_cluster():
    pytest.importorskip("ray")
    ray_bin = str(Path(sys.executable).parent / "ray")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must stay under 107 characters
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    subprocess.run([ray_bin, "start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}", *common],
                   check=True, env=env, capture_output=True)
    try:
        subprocess.run([ray_bin, "start", f"--address=127.0.0.1:{port}", *common], check=True, env=env, capture_output=True)
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        ray.shutdown()
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True)
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_cluster_build_equals_local_build(ray_cluster, tmp_path):
    import ray

    data = base_manifest()
    data["executor"] = {"type": "local", "tasks": 2, "workers": 1}
    assert run_cli("build", write_manifest(tmp_path / "local", data)) == 0
    clustered = copy.deepcopy(data)
    clustered["executor"] = {"type": "ray", "tasks": 2, "address": ray_cluster, "options": {"mem_per_cpu_gb": 0.5}}
    assert run_cli("build", write_manifest(tmp_path / "ray", clustered)) == 0
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2  # the build ran on the two-node cluster it joined
    assert_same_build(tmp_path / "local" / "out", tmp_path / "ray" / "out")
