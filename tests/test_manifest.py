"""A wrong manifest fails before any work, naming the field, the bad value and what is allowed."""

import os
import re

import pytest

from conftest import ROOT, base_manifest, run_cli, write_manifest
from corpus.manifest import ManifestError, expand_inputs, load_manifest


def _error(tmp_path, data) -> str:
    path = write_manifest(tmp_path, data)
    with pytest.raises(ManifestError) as e:
        expand_inputs(load_manifest(path))
    return str(e.value)


def test_demo_manifest_resolves_paths_against_its_folder():
    m = load_manifest(ROOT / "manifests" / "demo.yaml")
    assert m.output_dir == str(ROOT / "out" / "demo")
    inputs = expand_inputs(m)
    assert len(inputs["sofc_papers"]) == 45
    assert all(os.path.isabs(p) for p in inputs["sofc_papers"])


def test_unknown_reader_names_field_value_and_allowed(tmp_path):
    data = base_manifest()
    data["sources"][1]["reader"] = "jsonll"
    msg = _error(tmp_path, data)
    from corpus.readers import READERS

    assert "sources[1].reader" in msg and "'jsonll'" in msg and ", ".join(sorted(READERS)) in msg


def test_bad_executor_type_lists_allowed_values(tmp_path):
    data = base_manifest()
    data["executor"]["type"] = "kubernetes"
    msg = _error(tmp_path, data)
    assert "executor.type" in msg and "'kubernetes'" in msg and "'local'" in msg and "'slurm'" in msg and "'ray'" in msg


def test_unknown_field_and_missing_field(tmp_path):
    data = base_manifest()
    data["sead"] = 3
    del data["seed"]
    msg = _error(tmp_path, data)
    assert "sead: unknown field" in msg
    assert "seed: required field is missing" in msg


def test_negative_tasks_and_bad_name(tmp_path):
    data = base_manifest()
    data["executor"]["tasks"] = 0
    data["components"][0]["name"] = "bad name"
    msg = _error(tmp_path, data)
    assert "executor.tasks" in msg and "got 0" in msg
    assert "components[0].name" in msg


def test_unknown_reader_option_lists_allowed_options(tmp_path):
    data = base_manifest()
    data["sources"][1]["options"]["txt_key"] = "body"
    msg = _error(tmp_path, data)
    assert "sources[1].options.txt_key" in msg and "text_key" in msg


def test_component_referencing_unknown_source(tmp_path):
    data = base_manifest()
    data["components"][1]["sources"] = ["general"]
    msg = _error(tmp_path, data)
    assert "components[1].sources[0]" in msg and "'general'" in msg and "general_english" in msg


def test_source_feeding_no_component(tmp_path):
    data = base_manifest()
    data["components"] = data["components"][:1]
    assert "general_english feed no component" in _error(tmp_path, data)


def test_missing_input_path_is_named(tmp_path):
    data = base_manifest()
    data["sources"][0]["paths"] = ["/nonexistent/papers/*.txt"]
    msg = _error(tmp_path, data)
    assert "sources[0].paths[0]" in msg and "/nonexistent/papers/*.txt" in msg


def test_metadata_table_without_the_key_column(tmp_path):
    data = base_manifest()
    data["sources"][0]["options"]["metadata_key"] = "filename"
    msg = _error(tmp_path, data)
    assert "no column 'filename'" in msg


def test_environment_variables_expand_and_missing_ones_are_named(tmp_path, monkeypatch):
    data = base_manifest()
    data["sources"][0]["paths"] = ["${SOFC_ROOT}/*.txt"]
    monkeypatch.delenv("SOFC_ROOT", raising=False)
    msg = _error(tmp_path, data)
    assert "SOFC_ROOT is not set" in msg and "sources[0].paths[0]" in msg
    monkeypatch.setenv("SOFC_ROOT", str(ROOT / "samples" / "papers" / "sofc_exp"))
    path = write_manifest(tmp_path, data)
    assert len(expand_inputs(load_manifest(path))["sofc_papers"]) == 45


def test_bad_manifest_exits_2_and_writes_nothing(tmp_path, capsys):
    data = base_manifest()
    data["tokenizer"]["eos_token"] = "<|endoftext|>"
    path = write_manifest(tmp_path, data)
    assert run_cli("build", path) == 2
    assert "tokenizer.eos_token" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path, capsys):
    path = write_manifest(tmp_path, base_manifest())
    assert run_cli("build", path, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "45 file(s)" in out and "uint16" in out and "process (2 task(s))" in out and "Dry run" in out
    assert not (tmp_path / "out").exists()


def test_full_manifest_without_data_reads_the_fetch_manifests_folder(monkeypatch, capsys):
    """Without LLAMAT_DATA the recipe reads where `corpus fetch manifests/llamat_fetch.yaml` writes (../data/llamat)."""
    monkeypatch.delenv("LLAMAT_DATA", raising=False)
    if (ROOT / "data" / "llamat").exists():
        pytest.skip("a fetched data/llamat is here: the recipe would find it")
    assert run_cli("build", ROOT / "manifests" / "full.yaml", "--dry-run") == 2
    err = capsys.readouterr().err
    assert "missing inputs" in err and str(ROOT / "data" / "llamat") in err


def test_the_fetch_recipe_writes_what_the_build_recipe_reads(monkeypatch):
    """Every folder manifests/llamat_fetch.yaml fills with papers or crystals is a source of manifests/full.yaml, read
    by the reader for what that service writes, under the same data root."""
    from corpus.fetch.manifest import load_fetch_manifest

    fetch = load_fetch_manifest(ROOT / "manifests" / "llamat_fetch.yaml")
    monkeypatch.delenv("LLAMAT_DATA", raising=False)
    build = load_manifest(ROOT / "manifests" / "full.yaml")
    reader_of = {"elsevier": "elsevier", "springer": "jats", "optimade": "cif", "gnome": "crystal_csv", "cod": "cif"}
    sources = {os.path.realpath(p): src.reader for src in build.sources for p in src.paths}
    for job in fetch.jobs:
        if job.service not in reader_of:  # DOI lists (crossref) feed other jobs, not the build
            continue
        folder = os.path.realpath(os.path.join(fetch.output_dir, job.into))
        assert sources.get(folder) == reader_of[job.service], (job.name, folder, sorted(sources))
def test_full_manifest_dry_run_on_a_data_root_that_lacks_sources(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLAMAT_DATA", str(tmp_path))
    assert run_cli("build", ROOT / "manifests" / "full.yaml", "--dry-run") == 2
    err = capsys.readouterr().err
    assert "missing inputs" in err and str(tmp_path) in err


def test_slurm_needs_partition_and_time_before_any_work(tmp_path):
    data = base_manifest()
    data["executor"] = {"type": "slurm", "tasks": 4, "options": {"partition": "cpu"}}
    assert "slurm needs time" in _error(tmp_path, data)


def test_cluster_executors_chain_the_stages(tmp_path):
    from datatrove.executor import SlurmPipelineExecutor

    from corpus.pipeline import OutputLayout, build_pipelines, make_executor

    data = base_manifest()
    data["executor"] = {"type": "slurm", "tasks": 8, "options": {"partition": "cpu", "time": "01:00:00", "cpus_per_task": 2}}
    manifest = load_manifest(write_manifest(tmp_path, data))
    layout = OutputLayout(manifest.output_dir)
    executor = None
    for stage in build_pipelines(manifest, expand_inputs(manifest), layout):
        executor = make_executor(manifest, stage, layout, depends=executor)  # builds, submits nothing
    assert isinstance(executor, SlurmPipelineExecutor) and executor.tasks == 1 and executor.job_name == "test-summary"
    shards = executor.depends
    assert shards.tasks == 8 and shards.depends.job_name == "test-dedup" and shards.depends.tasks == 1
    assert shards.depends.depends.job_name == "test-process" and shards.depends.depends.cpus_per_task == 2


def test_full_manifest_dry_run_explains_the_plan_on_a_complete_data_root(tmp_path, monkeypatch, capsys):
    import shutil

    root = tmp_path / "data"
    for sub, src in [
        ("elsevier", ROOT / "tests" / "fixtures" / "elsevier" / "S0000000000000001.xml"),
        ("springer", ROOT / "samples" / "papers" / "xml" / "springer_jats_10.1186_s11671-021-03631-x.xml"),
        ("papers/pdf", ROOT / "samples" / "papers" / "pdf" / "PHC1580183-CC.pdf"),
        ("crystals/mp", ROOT / "samples" / "crystals" / "cod_cifs" / "GaAs.cif"),
        ("crystals/amcsd", ROOT / "samples" / "crystals" / "cod_cifs" / "GaAs.cif"),
        ("crystals/gnome", ROOT / "samples" / "crystals" / "mp_20" / "test.csv"),
    ]:
        (root / sub).mkdir(parents=True)
        shutil.copy(src, root / sub)
    for bench in ("mp_20", "perov_5", "carbon_24"):
        (root / "benchmarks" / bench).mkdir(parents=True)
        shutil.copy(ROOT / "samples" / "crystals" / "mp_20" / "test.csv", root / "benchmarks" / bench / "test.csv")
    for name in ("general/rp.jsonl.zst", "forum/qa.jsonl"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    monkeypatch.setenv("LLAMAT_DATA", str(root))
    monkeypatch.setenv("LLAMAT_OUT", str(tmp_path / "out"))
    assert run_cli("build", ROOT / "manifests" / "full.yaml", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "1024 task(s)" in out and re.search(r"elsevier_papers +elsevier", out) and re.search(r"pdf_papers +pdf", out)
    assert "shards/crystals/" in out and "target weight 0.025" in out
    assert re.search(r"amcsd_cifs +cif", out) and re.search(r"mp_structures +cif", out) and re.search(r"gnome_structures +crystal_csv", out)
    assert "Structure decontamination" in out
    assert not (tmp_path / "out").exists()
