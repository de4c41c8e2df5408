#!/usr/bin/env python3
"""Reference values of AlphaFold-Multimer's modules, computed by OpenFold, for the
multimer module tests (tools/parity/multimer-modules.sh runs this, then the tests).

Each module is built by OpenFold (a checkout given by --openfold; ce0029e is the anchor)
with random weights, run in float32 and float64 on random inputs, and written to
OUT/<name>.npz:
  param/<OpenFold state_dict name>   the weights (float32)
  in/<x>, out/<y>, out64/<y>         inputs and outputs
  cot/<y>, grad/<x>, grad64/<x>      a random cotangent per output and the input gradients
  meta                               JSON: hyperparameters, grad inputs, float32 vs float64 spread
Modules:
  input_embedder_multimer   InputEmbedderMultimer (chain-relative relpos, tf_dim 21) on
                            three chains: two copies of one sequence and another
  evoformer_block_multimer  EvoformerBlock as AF-Multimer v3 has it (opm_first, fused
                            triangle projections), eval mode, _mask_trans=False
  template_pair_stack_multimer  TemplatePairStack (tri_mul_first, fused projections), two
                            blocks on two templates, eval mode, _mask_trans=False
  template_embedder_multimer  TemplateEmbedderMultimer (model_1_multimer_v3's template
                            config) on two templates of three chains, eval mode
  interface_tm              compute_tm(..., asym_id, interface=True) and the pTM
OpenFold's CUDA attention extension is replaced by a CPU stand-in when absent
(openfold_cpu.py). Needs ml-collections, dm-tree, scipy, biopython, modelcif.
"""
import argparse
import json
import os
import sys

import numpy as np

from openfold_cpu import stand_in_cuda_extension


def spread(a32, a64):
    a32, a64 = a32.astype(np.float64), a64.astype(np.float64)
    return {"max_rel_to_max": float(np.abs(a32 - a64).max() / max(np.abs(a64).max(), 1e-30))}


def run_case(torch, name, module, inputs, grad_inputs, forward, hyper, out_dir):
    """forward(module, inputs) -> {output name: tensor}; inputs: name -> float64 tensor."""
    module = module.double()
    torch.manual_seed(1234)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.2)
    module.eval()
    arrays, results = {}, {}
    for dtype in (torch.float32, torch.float64):
        m = module.to(dtype)
        ins = {k: (v.to(dtype) if v.is_floating_point() else v).clone() for k, v in inputs.items()}
        for k in grad_inputs:
            ins[k].requires_grad_(True)
        outs = forward(m, ins)
        if dtype == torch.float32:
            torch.manual_seed(99)
            cots = {k: torch.randn(v.shape, dtype=torch.float64) for k, v in outs.items()}
        loss = sum((v * cots[k].to(dtype)).sum() for k, v in outs.items())
        grads = torch.autograd.grad(loss, [ins[k] for k in grad_inputs]) if grad_inputs else []
        results[dtype] = ({k: v.detach().numpy() for k, v in outs.items()},
                          {k: g.numpy() for k, g in zip(grad_inputs, grads)})
    module.float()
    for k, v in module.state_dict().items():
        arrays["param/" + k] = v.numpy()
    for k, v in inputs.items():
        arrays["in/" + k] = (v.float() if v.is_floating_point() else v).numpy()
    f32, f64 = results[torch.float32], results[torch.float64]
    meta = {"hyper": hyper, "grad_inputs": list(grad_inputs), "f32_vs_f64": {}}
    for k in f32[0]:
        arrays["out/" + k], arrays["out64/" + k], arrays["cot/" + k] = f32[0][k], f64[0][k], cots[k].float().numpy()
        meta["f32_vs_f64"]["out/" + k] = spread(f32[0][k], f64[0][k])
    for k in grad_inputs:
        arrays["grad/" + k], arrays["grad64/" + k] = f32[1][k], f64[1][k]
        meta["f32_vs_f64"]["grad/" + k] = spread(f32[1][k], f64[1][k])
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(os.path.join(out_dir, name + ".npz"), **arrays)
    print(name, ":", ", ".join("%s %.2e" % (k, v["max_rel_to_max"]) for k, v in meta["f32_vs_f64"].items()))


def pair_mask_of(torch, n):
    mask = (torch.rand(n, n) > 0.1).double()
    mask.fill_diagonal_(1)
    return mask


def three_chains(torch):
    # Chains A and B: two copies of entity 1 (7 residues); chain C: entity 2 (6 residues,
    # numbered from 3 with a gap, as a crop leaves them).
    residue_index = torch.tensor(list(range(7)) + list(range(7)) + [3, 4, 5, 40, 41, 42])
    asym_id = torch.tensor([1] * 7 + [2] * 7 + [3] * 6)
    entity_id = torch.tensor([1] * 14 + [2] * 6)
    sym_id = torch.tensor([1] * 7 + [2] * 7 + [1] * 6)
    return residue_index, asym_id, entity_id, sym_id


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--openfold", required=True, help="OpenFold source checkout (the folder holding openfold/)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    import torch
    torch.set_num_threads(2)
    stand_in_cuda_extension()
    sys.path.insert(0, a.openfold)
    from openfold.config import model_config
    from openfold.model.embedders import InputEmbedderMultimer, TemplateEmbedderMultimer
    from openfold.model.evoformer import EvoformerBlock
    from openfold.model.template import TemplatePairStack
    from openfold.utils.loss import compute_tm
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)

    residue_index, asym_id, entity_id, sym_id = three_chains(torch)
    n = residue_index.shape[0]
    hyper = {"tf_dim": 21, "msa_dim": 49, "c_z": 16, "c_m": 8, "max_relative_idx": 32, "max_relative_chain": 2}
    emb = InputEmbedderMultimer(use_chain_relative=True, **hyper)
    ins = {"target_feat": torch.randn(n, 21, dtype=torch.float64), "msa_feat": torch.randn(3, n, 49, dtype=torch.float64),
           "residue_index": residue_index, "asym_id": asym_id, "entity_id": entity_id, "sym_id": sym_id}

    def embed(m, x):
        msa, pair = m(x)
        return {"msa": msa, "pair": pair}
    run_case(torch, "input_embedder_multimer", emb, ins, ["target_feat", "msa_feat"], embed, hyper, a.out)

    hyper = {"c_m": 16, "c_z": 8, "c_hidden_msa_att": 4, "c_hidden_opm": 4, "c_hidden_mul": 8, "c_hidden_pair_att": 4,
             "no_heads_msa": 2, "no_heads_pair": 2, "transition_n": 2, "inf": 1e9, "eps": 1e-8}
    block = EvoformerBlock(msa_dropout=0.15, pair_dropout=0.25, no_column_attention=False, opm_first=True,
                           fuse_projection_weights=True, **hyper)
    s, n = 5, 9
    msa_mask = (torch.rand(s, n) > 0.2).double()
    msa_mask[0] = 1
    pair_mask = (torch.rand(n, n) > 0.1).double()
    pair_mask.fill_diagonal_(1)
    ins = {"m": torch.randn(s, n, 16, dtype=torch.float64), "z": torch.randn(n, n, 8, dtype=torch.float64),
           "msa_mask": msa_mask, "pair_mask": pair_mask}

    def evoformer(m, x):
        mo, zo = m(x["m"], x["z"], msa_mask=x["msa_mask"].to(x["m"].dtype), pair_mask=x["pair_mask"].to(x["m"].dtype),
                   chunk_size=None, _mask_trans=False)
        return {"m": mo, "z": zo}
    run_case(torch, "evoformer_block_multimer", block, ins, ["m", "z"], evoformer, hyper, a.out)

    hyper = {"c_t": 8, "c_hidden_tri_att": 4, "c_hidden_tri_mul": 8, "no_blocks": 2, "no_heads": 2,
             "pair_transition_n": 2, "inf": 1e9}
    stack = TemplatePairStack(dropout_rate=0.25, tri_mul_first=True, fuse_projection_weights=True, blocks_per_ckpt=None,
                              **hyper)
    n = 9
    ins = {"t": torch.randn(2, n, n, 8, dtype=torch.float64), "pair_mask": pair_mask}

    def template_stack(m, x):
        mask = x["pair_mask"].to(x["t"].dtype)[None]
        return {"t": m(x["t"], mask, chunk_size=None, _mask_trans=False)}
    run_case(torch, "template_pair_stack_multimer", stack, ins, ["t"], template_stack, hyper, a.out)

    tc = model_config("model_1_multimer_v3").model.template
    tps = tc.template_pair_stack
    hyper = {"c_z": tc.c_z, "c_m": tc.template_single_embedder.c_out, "c_in": tc.template_single_embedder.c_in,
             "c_t": tps.c_t, "c_hidden_tri_att": tps.c_hidden_tri_att, "c_hidden_tri_mul": tps.c_hidden_tri_mul,
             "no_blocks": tps.no_blocks, "no_heads": tps.no_heads, "pair_transition_n": tps.pair_transition_n,
             "inf": tc.inf, "min_bin": tc.distogram.min_bin, "max_bin": tc.distogram.max_bin,
             "no_bins": tc.distogram.no_bins}
    embedder = TemplateEmbedderMultimer(tc)
    n, t = 20, 2
    trace = torch.cumsum(torch.randn(n, 3, dtype=torch.float64) * 2.0, 0)
    ins = {"z": torch.randn(n, n, tc.c_z, dtype=torch.float64),
           "template_aatype": torch.randint(0, 22, (t, n)),
           "template_all_atom_positions": trace[None, :, None, :] + torch.randn(t, n, 37, 3, dtype=torch.float64),
           "template_all_atom_mask": (torch.rand(t, n, 37) > 0.2).double(),
           "pair_mask": pair_mask_of(torch, n), "asym_id": asym_id}

    def templates(m, x):
        dtype = x["z"].dtype
        batch = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in x.items() if k.startswith("template_")}
        same_chain = x["asym_id"][..., None] == x["asym_id"][..., None, :]
        out = m(batch, x["z"], x["pair_mask"].to(dtype), templ_dim=0, chunk_size=None, multichain_mask_2d=same_chain,
                _mask_trans=False)
        return {"pair": out["template_pair_embedding"], "single": out["template_single_embedding"],
                "single_mask": out["template_mask"].to(dtype)}
    run_case(torch, "template_embedder_multimer", embedder, ins, ["z"], templates, hyper, a.out)

    # compute_tm has no parameters: a stand-in module carries none.
    n = 20
    logits = torch.randn(n, n, 64, dtype=torch.float64) * 3
    ins = {"tm_logits": logits, "asym_id": asym_id}

    def tm(m, x):
        return {"iptm": compute_tm(x["tm_logits"], asym_id=x["asym_id"], interface=True, max_bin=31, no_bins=64),
                "ptm": compute_tm(x["tm_logits"], max_bin=31, no_bins=64)}
    run_case(torch, "interface_tm", torch.nn.Module(), ins, [], tm, {"max_bin": 31, "no_bins": 64}, a.out)


if __name__ == "__main__":
    main()
