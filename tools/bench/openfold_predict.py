#!/usr/bin/env python3
"""The anchor side of tools/bench/predict-vs-openfold.sh (a benchmark, not a test).

Runs OpenFold's AlphaFold (a checkout given by --openfold, e.g. ce0029e) with the
model_1 config on the same synthetic shapes as fold_bench_predict: --blocks Evoformer
blocks, one extra-MSA block, no templates, one recycling iteration, random weights,
fp32, under torch.no_grad() (OpenFold's in-place inference path). One warm-up forward,
then --repeats timed ones; prints one JSON line with every time and the median.

Without OpenFold's CUDA extension, tools/parity/openfold_cpu.py registers a CPU stand-in
for it, so OpenFold runs its own inference path unchanged.
Needs ml-collections, dm-tree, scipy, biopython and modelcif from PyPI.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))
from openfold_cpu import stand_in_cuda_extension  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--openfold", required=True, help="OpenFold source checkout (the folder holding openfold/)")
    p.add_argument("--n-res", type=int, default=256)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--n-seq", type=int, default=128)
    p.add_argument("--n-extra", type=int, default=256)
    p.add_argument("--chunk-size", default="none", help="none or a positive integer (globals.chunk_size)")
    p.add_argument("--tune-chunk-size", action="store_true",
                   help="let OpenFold's ChunkSizeTuner raise the chunk size (its config default); off = the chunk size as given")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--modules", action="store_true",
                   help="also report the mean seconds per run in each Evoformer module (both MSA stacks summed), "
                        "as fold_bench_predict --modules 1 does")
    a = p.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    stand_in_cuda_extension()
    sys.path.insert(0, a.openfold)
    from openfold.config import model_config
    from openfold.model.model import AlphaFold

    chunk = None if a.chunk_size == "none" else int(a.chunk_size)
    c = model_config("model_1")
    c.globals.chunk_size = chunk
    c.model.evoformer_stack.no_blocks = a.blocks
    c.model.extra_msa.extra_msa_stack.no_blocks = 1
    c.model.template.enabled = False
    for stack in (c.model.evoformer_stack, c.model.extra_msa.extra_msa_stack, c.model.template.template_pair_stack):
        stack.tune_chunk_size = a.tune_chunk_size
    torch.manual_seed(0)
    model = AlphaFold(c).eval()

    n, s, e = a.n_res, a.n_seq, a.n_extra
    aatype = torch.randint(0, 20, (n, 1))
    one_hot = torch.nn.functional.one_hot(aatype[:, 0], 21).float()
    batch = {
        "aatype": aatype,
        "target_feat": torch.cat([torch.zeros(n, 1), one_hot], -1).unsqueeze(-1),
        "residue_index": torch.arange(n).unsqueeze(-1),
        "msa_feat": torch.rand(s, n, 49, 1),
        "seq_mask": torch.ones(n, 1),
        "msa_mask": torch.ones(s, n, 1),
        "extra_msa": torch.randint(0, 23, (e, n, 1)),
        "extra_has_deletion": torch.zeros(e, n, 1),
        "extra_deletion_value": torch.zeros(e, n, 1),
        "extra_msa_mask": torch.ones(e, n, 1),
    }
    # The atom14 <-> atom37 index maps OpenFold's structure module reads.
    from openfold.data.data_transforms import make_atom14_masks
    for name, t in make_atom14_masks({"aatype": aatype[:, 0]}).items():
        if name != "aatype":
            batch[name] = t.unsqueeze(-1)
    module_seconds = {}
    timing = [False]
    if a.modules:
        # Forward hooks on the block modules, named as fold's in-place ranges.
        names = {"msa_att_row", "msa_att_col", "msa_transition", "outer_product_mean", "tri_mul_out", "tri_mul_in",
                 "tri_att_start", "tri_att_end", "pair_transition"}
        for full_name, module in model.named_modules():
            name = full_name.split(".")[-1]
            if name not in names:
                continue
            def start(mod, args):
                mod._fold_t0 = time.perf_counter()
            def end(mod, args, out, name=name):
                if timing[0]:
                    module_seconds[name] = module_seconds.get(name, 0.0) + time.perf_counter() - mod._fold_t0
            module.register_forward_pre_hook(start)
            module.register_forward_hook(end)
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    with torch.no_grad():
        for i in range(a.repeats + 1):
            timing[0] = i > 0
            t0 = time.perf_counter()
            model(batch)
            if i > 0:  # the first forward is the warm-up
                times.append(time.perf_counter() - t0)
    rss_after_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "system": "openfold", "n_res": n, "blocks": a.blocks, "n_seq": s, "n_extra": e,
        "chunk_size": a.chunk_size, "tune_chunk_size": a.tune_chunk_size, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "seconds": times, "median_seconds": statistics.median(times),
        "peak_rss_growth_mib": (rss_after_kib - rss_before_kib) / 1024.0,
        "module_seconds": {k: v / max(a.repeats, 1) for k, v in sorted(module_seconds.items())},
    }))


if __name__ == "__main__":
    main()
