"""Run inside a subprocess by tests/test_nanotron_vendor.py, with nanotron's and datatrove's source snapshots
(../shared/vendor) first on PYTHONPATH: nanotron's own config loader reads the config `train/nanotron.py` emitted, and
nanotron's own TokenizedBytes reader (through the datatrove branch it needs) reads every data stage's shard folders.
Writes what nanotron made of them as JSON for the test to compare with our own files.

    python tests/nanotron_probe.py CONFIG.yaml OUT.json [SAMPLES_PER_FOLDER]

Stand-ins: nanotron imports flash_attn, triton and grouped_gemm (GPU kernel libraries) when `nanotron.config` is
imported; nothing on the config or data path calls them, so empty modules stand in for them here, and for nothing
else. nanotron logs through torch.distributed's default group, so the probe starts a one-process CPU (gloo) group, as
torchrun would. Everything else is nanotron's and the branch's code, unmodified.
"""

import importlib.abc
import importlib.machinery
import json
import sys
from unittest import mock


class GpuKernelStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    ROOTS = ("flash_attn", "triton", "grouped_gemm")

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in self.ROOTS:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = mock.MagicMock(name=spec.name)
        module.__path__, module.__spec__, module.__version__ = [], spec, "2.6.3"  # nanotron compares flash_attn's version
        return module

    def exec_module(self, module):
        pass


def main(config_path: str, out_path: str, samples: int = 6) -> None:
    sys.meta_path.insert(0, GpuKernelStandIn())
    import datatrove
    import nanotron
    from nanotron.config import NanosetDatasetsArgs, get_config_from_file
    from nanotron.data.tokenized_bytes import build_dataset

    config = get_config_from_file(config_path)
    # nanotron logs through its process group, as under torchrun: one CPU process (gloo), rendezvous through a file
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{out_path}.rendezvous", rank=0, world_size=1)
    seq_len = config.tokens.sequence_length
    report = {"nanotron": nanotron.__file__, "datatrove": datatrove.__file__, "sequence_length": seq_len,
              "vocab_size": config.model.model_config.vocab_size, "stages": []}
    for stage in config.data_stages:
        dataset_args = stage.data.dataset
        assert isinstance(dataset_args, NanosetDatasetsArgs), type(dataset_args)
        folders = []
        for folder in dataset_args.dataset_folder:
            dataset = build_dataset(folder, seq_len, token_size=dataset_args.token_size_in_bytes, return_positions=True,
                                    eos_token_id=config.model.model_config.eos_token_id)
            picked = sorted({0, len(dataset) - 1, *range(0, len(dataset), max(1, len(dataset) // samples))})
            folders.append({"folder": folder, "samples": len(dataset), "files": [str(f.file_path) for f in dataset.files],
                            "picked": {i: {k: v.tolist() for k, v in dataset[i].items()} for i in picked}})
        report["stages"].append({"name": stage.name, "start": stage.start_training_step, "weights": dataset_args.dataset_weights,
                                 "tokenizer": dataset_args.tokenizer_name, "token_size": dataset_args.token_size_in_bytes,
                                 "vocab_size": dataset_args.vocab_size, "folders": folders})
    with open(out_path, "w") as f:
        json.dump(report, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:]))
