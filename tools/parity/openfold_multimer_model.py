#!/usr/bin/env python3
"""The OpenFold side of tools/parity/multimer-model.sh: AlphaFold-Multimer's whole model.

  make --openfold DIR --out OUT   builds OpenFold's AlphaFold with model_1_multimer_v3
      (reduced: 2 Evoformer and 2 extra-MSA blocks; early recycling stop off), random
      weights, and runs it in fp32 on a synthetic processed multimer batch of two chains
      (a heteromer: --homomer makes them two copies of one sequence) with two templates
      and 3 recycles; or, with --real-homomer DIR, OpenFold's own multimer data pipeline
      (DataPipelineMultimer, then FeaturePipeline in predict mode) on PDB 2Q2K's two
      chains with their alignments in DIR/2q2k_A and DIR/2q2k_B (uniref90, BFD, MGnify,
      uniprot; no template hits, so four empty template slots); or, with --real-complex
      FASTA DIR, the same pipeline on FASTA's chains (a heteromer's MSAs paired by the
      species of their uniprot_hits.sto rows). With --ground-truth
      CIF the batch also carries the complex's ground truth, chains A and B of CIF,
      through OpenFold's multimer ground-truth transforms (--ground-truth
      swapped-prediction: the model's own prediction with its chains exchanged and
      noise added, so that the permutation has a swap to find); OpenFold then permutes
      the true chains (multi_chain_permutation_align) and takes
      AlphaFoldLoss of the outputs, saved as loss/<term>. Two choices of OpenFold's
      permutation are set as this system makes them (fold/loss/chain_permutation.h): the
      anchor is the first chain rather than a random one, and the truth is superposed
      onto the prediction (OpenFold fits the prediction-to-truth transform and applies
      it to the truth); the alignment OpenFold picks without the second change is
      printed beside.
      Writes OUT/model.pt (the state dict), OUT/batch.npz (the batch, trailing recycling
      axis), OUT/openfold.npz (its outputs) and OUT/config.toml (the same model as this
      system's config overlay).
  pipeline --openfold DIR FASTA ALIGNMENTS OURS.npz   OpenFold's multimer data pipeline
      (DataPipelineMultimer.process_fasta) against OURS.npz, `fold predict --save-features`
      of the same complex: chain and template features equal, and the MSA rows of the
      batch's first slice (cluster centres before masking, then extra rows) OpenFold's
      merged rows, each as often, deletions included; exits 1 otherwise.
  compare OUT/openfold.npz OURS.npz   prints each output's error and exits 1 past the
      issue's targets: final atoms within 1e-3 A RMS; logits, pTM and ipTM within 1e-4
      relative (max |diff| / max |value|); the iterations run must be the same. Each
      model's loss of its own outputs is printed beside, for information.
  losses --openfold DIR --out OUT OURS.npz   OpenFold's permutation and AlphaFoldLoss
      on OURS.npz's outputs (fold predict --loss --save-outputs) with OUT's batch and
      ground truth; exits 1 unless every term of OURS.npz's loss/<term> is within 1e-4
      relative.
  npz --openfold DIR --out OUT AF2.npz   loads AF2.npz (AF2's multimer layout, as `fold
      export-params` writes it) with OpenFold's own converter (import_jax_weights_,
      model_1_multimer_v3) into a fresh model of the same config, and checks that every
      array is used and every weight equals OUT/model.pt's.
OpenFold's CUDA attention extension is replaced by a CPU stand-in when absent.
"""
import argparse
import os
import sys

import numpy as np

from openfold_cpu import stand_in_cuda_extension

CONFIG = """# model_1_multimer_v3 reduced as openfold_multimer_model.py builds it
extends = "af2_model_1_multimer_v3"
[globals]
chunk_size = "none"
[model]
recycle_early_stop_tolerance = %(tolerance)s
[model.extra_msa.extra_msa_stack]
no_blocks = 2
[model.evoformer_stack]
no_blocks = 2
"""

# Output -> how it is compared: "rms" (Angstrom, atoms under the mask) or "rel".
COMPARED = {"final_atom_positions": "rms", "distogram_logits": "rel", "masked_msa_logits": "rel",
            "lddt_logits": "rel", "experimentally_resolved_logits": "rel", "tm_logits": "rel",
            "ptm_score": "rel", "iptm_score": "rel", "weighted_ptm_score": "rel"}


def randomize(torch, model):
    torch.manual_seed(7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 1.0 / np.sqrt(p.shape[-1]))
            elif "layer_norm" in name and name.endswith("weight"):
                p.normal_(1.0, 0.1)
            else:
                p.normal_(0.0, 0.1)


def make_batch(torch, homomer, recycles, make_atom14_masks):
    g = torch.Generator().manual_seed(3)
    lengths = [23, 23] if homomer else [23, 17]
    n = sum(lengths)
    first = torch.randint(0, 20, (lengths[0],), generator=g)
    second = first.clone() if homomer else torch.randint(0, 20, (lengths[1],), generator=g)
    aatype = torch.cat([first, second])
    residue_index = torch.cat([torch.arange(k) for k in lengths])
    asym_id = torch.cat([torch.full((k,), i + 1) for i, k in enumerate(lengths)])
    entity_id = torch.ones(n, dtype=torch.long) if homomer else asym_id.clone()
    sym_id = asym_id.clone() if homomer else torch.ones(n, dtype=torch.long)
    s, e = 12, 20
    msa_mask = (torch.rand(s, n, generator=g) > 0.1).float()
    msa_mask[0] = 1
    extra_mask = (torch.rand(e, n, generator=g) > 0.1).float()
    b = {"aatype": aatype, "target_feat": torch.nn.functional.one_hot(aatype, 21).float(),
         "residue_index": residue_index, "asym_id": asym_id, "entity_id": entity_id, "sym_id": sym_id,
         "seq_mask": torch.ones(n), "msa_mask": msa_mask, "msa_feat": torch.rand(s, n, 49, generator=g),
         "extra_msa": torch.randint(0, 23, (e, n), generator=g), "extra_msa_mask": extra_mask,
         "extra_deletion_matrix": torch.randint(0, 5, (e, n), generator=g).float()}
    # Two templates: the query's residue types with some changed, atoms scattered about a
    # chain-like trace, a fifth of them unobserved.
    t = 2
    trace = torch.cumsum(torch.randn(n, 3, generator=g) * 2.0, 0)
    b["template_aatype"] = torch.where(torch.rand(t, n, generator=g) < 0.8, aatype, torch.randint(0, 22, (t, n), generator=g))
    b["template_all_atom_positions"] = trace[None, :, None, :] + torch.randn(t, n, 37, 3, generator=g)
    b["template_all_atom_mask"] = (torch.rand(t, n, 37, generator=g) > 0.2).float()
    # The atom layout maps OpenFold's model reads from the batch.
    b = make_atom14_masks(b)
    return {k: v.unsqueeze(-1).expand(*v.shape, recycles + 1).contiguous() for k, v in b.items()}


def openfold_model(a):
    """OpenFold's model_1_multimer_v3 as this tool reduces it (fresh weights)."""
    import torch
    torch.set_num_threads(2)
    stand_in_cuda_extension()
    sys.path.insert(0, a.openfold)
    from openfold.config import model_config
    from openfold.model.model import AlphaFold
    c = model_config("model_1_multimer_v3")
    c.globals.chunk_size = None
    c.model.evoformer_stack.no_blocks = 2
    c.model.extra_msa.extra_msa_stack.no_blocks = 2
    c.model.recycle_early_stop_tolerance = getattr(a, "tolerance", -1.0)
    return AlphaFold(c).eval()


def real_complex_batch(torch, fasta_text, alignments, recycles):
    """OpenFold's processed multimer batch of the chains of `fasta_text`, each with its
    alignments in alignments/<record name>/ (paired by species where the chains differ)."""
    import tempfile
    from openfold.config import model_config
    from openfold.data import data_pipeline, feature_pipeline
    pipeline = data_pipeline.DataPipelineMultimer(data_pipeline.DataPipeline(template_featurizer=None))
    with tempfile.NamedTemporaryFile("w", suffix=".fasta") as fasta:
        fasta.write(fasta_text)
        fasta.flush()
        raw = pipeline.process_fasta(fasta.name, alignments)
    c = model_config("model_1_multimer_v3")
    c.data.common.max_recycling_iters = recycles
    torch.manual_seed(11)
    processed = feature_pipeline.FeaturePipeline(c.data).process_features(raw, mode="predict", is_multimer=True)
    return {k: v for k, v in processed.items() if isinstance(v, torch.Tensor)}


def ground_truth(torch, source, batch, out):
    """The complex's ground truth, OpenFold's multimer transforms applied
    (prepare_ground_truth_features), at the batch's residues: chains A and B of the
    mmCIF file `source`, or with source "swapped-prediction" (two chains of one length)
    the model's own prediction with its two chains exchanged and 0.5 A of noise added,
    a truth the permutation must swap back."""
    from openfold.data import mmcif_parsing
    from openfold.data.input_pipeline_multimer import prepare_ground_truth_features
    last = {k: batch[k][..., -1] for k in ("aatype", "asym_id", "sym_id", "entity_id")}
    if source == "swapped-prediction":
        asym = last["asym_id"]
        first, second = (asym == 1).nonzero().squeeze(-1), (asym == 2).nonzero().squeeze(-1)
        if len(first) != len(second) or int(asym.max()) != 2:
            raise SystemExit("--ground-truth swapped-prediction needs two chains of one length")
        order = torch.cat([second, first])
        g = torch.Generator().manual_seed(5)
        positions = out["final_atom_positions"][order] + 0.5 * torch.randn(out["final_atom_positions"].shape, generator=g)
        mask = out["final_atom_mask"][order].float()
        resolution = 2.0
    else:
        with open(source) as f:
            parsed = mmcif_parsing.parse(file_id=os.path.basename(source).split(".")[0], mmcif_string=f.read())
        coords, masks = zip(*(mmcif_parsing.get_atom_coords(parsed.mmcif_object, c) for c in ("A", "B")))
        positions = torch.tensor(np.concatenate(coords), dtype=torch.float32)
        mask = torch.tensor(np.concatenate(masks), dtype=torch.float32)
        resolution = float(parsed.mmcif_object.header["resolution"])
    gt = prepare_ground_truth_features({"all_atom_positions": positions * mask[..., None], "all_atom_mask": mask, **last})
    gt["resolution"] = torch.tensor(resolution)
    return gt


def openfold_loss(torch, out, batch, gt):
    """OpenFold's permutation, then AlphaFoldLoss (model_1_multimer_v3's loss section),
    on a batch of one."""
    from openfold.config import model_config
    from openfold.utils import multi_chain_permutation as mcp
    from openfold.utils.loss import AlphaFoldLoss
    one = lambda t: t.unsqueeze(0)
    outputs = {k: one(v) for k, v in out.items() if isinstance(v, torch.Tensor)}
    outputs["sm"] = {k: v.unsqueeze(1) for k, v in out["sm"].items() if isinstance(v, torch.Tensor)}
    features = {k: one(v[..., -1]) for k, v in batch.items()}
    labels = {k: one(v) for k, v in gt.items() if v.dim() > 0}
    mcp.random.choice = lambda xs: xs[0]
    print("OpenFold's own alignment (prediction chain, true chain): %s" %
          (mcp.compute_permutation_alignment(outputs, features, labels)[0],))
    fitted = mcp.get_optimal_transform
    mcp.get_optimal_transform = lambda src, tgt, mask=None: fitted(tgt, src, mask=mask)
    print("with the truth superposed onto the prediction:   %s" %
          (mcp.compute_permutation_alignment(outputs, features, labels)[0],))
    features = mcp.multi_chain_permutation_align(outputs, features, labels)
    features["resolution"] = one(gt["resolution"])
    _, breakdown = AlphaFoldLoss(model_config("model_1_multimer_v3").loss)(outputs, features, _return_breakdown=True)
    return {"loss/" + k: v.float().numpy() for k, v in breakdown.items()}


def make(a):
    import torch
    model = openfold_model(a)
    from openfold.data.data_transforms import make_atom14_masks
    randomize(torch, model)
    if a.real_homomer:
        from openfold.data.parsers import parse_stockholm
        with open(os.path.join(a.real_homomer, "2q2k_A", "uniprot_hits.sto")) as f:
            sequence = parse_stockholm(f.read()).sequences[0].replace("-", "")
        batch = real_complex_batch(torch, ">2q2k_A\n%s\n>2q2k_B\n%s\n" % (sequence, sequence), a.real_homomer,
                                   a.recycles)
    elif a.real_complex:
        with open(a.real_complex[0]) as f:
            batch = real_complex_batch(torch, f.read(), a.real_complex[1], a.recycles)
    else:
        batch = make_batch(torch, a.homomer, a.recycles, make_atom14_masks)
    with torch.no_grad():
        out = model(batch)
        gt = ground_truth(torch, a.ground_truth, batch, out) if a.ground_truth else None
        losses = openfold_loss(torch, out, batch, gt) if gt is not None else {}
    os.makedirs(a.out, exist_ok=True)
    if gt is not None:
        np.savez(os.path.join(a.out, "ground_truth.npz"), **{k: v.numpy() for k, v in gt.items()})
        # The truth travels in the batch as OpenFold's processed features do, with the
        # trailing recycling axis (fold predict --loss reads the last slice).
        for k, v in gt.items():
            batch[k] = v.unsqueeze(-1).expand(*v.shape, a.recycles + 1).contiguous()
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, os.path.join(a.out, "model.pt"))
    np.savez(os.path.join(a.out, "batch.npz"), **{k: v.numpy() for k, v in batch.items()})
    keep = {k: out[k].float().numpy() for k in COMPARED}
    keep["num_recycles"] = out["num_recycles"].numpy()
    keep["final_atom_mask"] = out["final_atom_mask"].float().numpy()
    keep.update(losses)
    np.savez(os.path.join(a.out, "openfold.npz"), **keep)
    with open(os.path.join(a.out, "config.toml"), "w") as f:
        f.write(CONFIG % {"tolerance": repr(float(a.tolerance))})
    print("OpenFold: pTM %.6f ipTM %.6f ranking %.6f" % (keep["ptm_score"], keep["iptm_score"],
                                                        keep["weighted_ptm_score"]))


def npz(a):
    import torch
    model = openfold_model(a)
    from openfold.utils import import_weights
    data = np.load(a.af2)
    flat = import_weights.process_translation_dict(
        import_weights.generate_translation_dict(model, "model_1_multimer_v3", is_multimer=True))
    extra = sorted(set(data.keys()) - set(flat))
    import_weights.import_jax_weights_(model, a.af2, version="model_1_multimer_v3")
    original = torch.load(os.path.join(a.out, "model.pt"))
    worst, differ = 0.0, []
    for name, value in model.state_dict().items():
        d = float((value - original[name]).abs().max()) if value.numel() else 0.0
        worst = max(worst, d)
        if d > 0:
            differ.append(name)
    print("AF2 npz: %d arrays, OpenFold's converter used %d, %d not in its table; %d weights, %d differ from "
          "the original (max |diff| %.3g)" % (len(data.keys()), len(flat), len(extra), len(original), len(differ), worst))
    for name in extra[:10] + differ[:10]:
        print("  " + name)
    return 0 if not extra and not differ else 1


def compare(a):
    theirs, ours = np.load(a.theirs), np.load(a.ours)
    worst_ok = int(theirs["num_recycles"]) == int(ours["num_recycles"])
    print("%-32s %d, OpenFold %d" % ("num_recycles (iterations)", int(ours["num_recycles"]), int(theirs["num_recycles"])))
    for key, how in COMPARED.items():
        t = theirs[key].astype(np.float64)
        o = ours[key].astype(np.float64)
        if t.shape != o.shape:
            print("%-32s shape %s, OpenFold %s" % (key, o.shape, t.shape))
            worst_ok = False
            continue
        if how == "rms":
            mask = theirs["final_atom_mask"].astype(bool)
            err = float(np.sqrt(((o - t) ** 2).sum(-1)[mask].mean()))
            ok = err <= 1e-3
            print("%-32s RMS %.3e A over %d atoms%s" % (key, err, mask.sum(), "" if ok else "  (over 1e-3)"))
        else:
            err = float(np.abs(o - t).max() / max(np.abs(t).max(), 1e-30))
            ok = err <= 1e-4
            print("%-32s max rel %.3e%s" % (key, err, "" if ok else "  (over 1e-4)"))
        worst_ok &= ok
    losses = sorted(k for k in theirs.files if k.startswith("loss/") and k in ours.files)
    if losses:
        print("each model's loss of its own outputs (for information: the distogram, pLDDT and TM targets are "
              "bins, which a 1e-4 A difference in the outputs can move; `losses` compares the terms on the same "
              "outputs):")
    for key in losses:
        t, o = float(theirs[key].item()), float(ours[key].item())
        print("  %-30s %.8g, OpenFold %.8g, rel %.3e" % (key, o, t, abs(o - t) / max(abs(t), 1e-30)))
    return 0 if worst_ok else 1


def losses(a):
    """OpenFold's permutation and AlphaFoldLoss on our outputs, against our loss/<term>."""
    import torch
    torch.set_num_threads(2)
    stand_in_cuda_extension()
    sys.path.insert(0, a.openfold)
    ours = np.load(a.ours)
    batch = {k: torch.from_numpy(v) for k, v in np.load(os.path.join(a.out, "batch.npz")).items()}
    gt = {k: torch.from_numpy(v) for k, v in np.load(os.path.join(a.out, "ground_truth.npz")).items()}
    out = {"sm": {}}
    for k in ours.files:
        if k.startswith("loss/"):
            continue
        target = out["sm"] if k.startswith("sm/") else out
        target[k.split("/", 1)[-1]] = torch.from_numpy(ours[k])
    with torch.no_grad():
        theirs = openfold_loss(torch, out, batch, gt)
    ok_all = True
    print("the loss of this system's outputs, OpenFold's (permutation and AlphaFoldLoss) against ours:")
    for key in sorted(theirs):
        t = float(theirs[key].item())
        if key not in ours.files:
            print("  %-30s missing from ours" % key)
            ok_all = False
            continue
        o = float(ours[key].item())
        err = abs(o - t) / max(abs(t), 1e-30)
        ok = err <= 1e-4
        print("  %-30s %.8g, OpenFold %.8g, rel %.3e%s" % (key, o, t, err, "" if ok else "  (over 1e-4)"))
        ok_all &= ok
    return 0 if ok_all else 1


def pipeline(a):
    """OpenFold's multimer data pipeline against `fold predict --save-features` of the same
    FASTA and alignments: the chain features must be equal, and the MSA rows that our
    first recycling slice holds (cluster centres before masking, then the extra rows)
    must be OpenFold's merged MSA rows, each as often, with their deletions (the order is
    the sampler's, random on both sides)."""
    import collections
    sys.path.insert(0, a.openfold)
    from openfold.data import data_pipeline
    raw = data_pipeline.DataPipelineMultimer(data_pipeline.DataPipeline(template_featurizer=None)).process_fasta(
        a.fasta, a.alignments)
    ours = {k: v[..., 0] for k, v in np.load(a.ours).items()}
    ok = True
    for key in ("aatype", "residue_index", "asym_id", "entity_id", "sym_id", "seq_mask", "template_aatype",
                "template_all_atom_mask", "template_all_atom_positions"):
        t, o = raw[key], ours[key]
        same = t.shape == o.shape and np.array_equal(t.astype(np.float64), o.astype(np.float64))
        ok &= same
        print("%-28s %s%s" % (key, "equal" if same else "DIFFER", "" if t.shape == o.shape else
                                " (shape %s, OpenFold %s)" % (o.shape, t.shape)))

    def rows(msa, deletions, mask):
        keep = mask.any(-1)
        return collections.Counter(tuple(m) + tuple(d) for m, d in zip(msa[keep].astype(np.int64).tolist(),
                                                                        deletions[keep].astype(np.int64).tolist()))
    theirs = rows(raw["msa"], raw["deletion_matrix"], raw["msa_mask"])
    mine = rows(ours["true_msa"], ours["deletion_matrix"], ours["msa_mask"]) + rows(
        ours["extra_msa"], ours["extra_deletion_matrix"], ours["extra_msa_mask"])
    n_theirs, n_mine = sum(theirs.values()), sum(mine.values())
    kept_all = n_theirs <= ours["true_msa"].shape[0] + ours["extra_msa"].shape[0]
    extra_rows = mine - theirs
    missing = theirs - mine
    rows_ok = not extra_rows and (not missing or not kept_all)
    ok &= rows_ok
    print("MSA rows: OpenFold %d, ours %d; %d of ours not OpenFold's, %d of OpenFold's not ours%s" % (
        n_theirs, n_mine, sum(extra_rows.values()), sum(missing.values()),
        "" if kept_all else " (more rows than the batch holds)"))
    print("cluster_bias_mask rows: OpenFold %d" % int(raw["cluster_bias_mask"].sum()))
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--openfold", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--homomer", action="store_true")
    m.add_argument("--real-homomer", metavar="DIR", help="alignments folder holding 2q2k_A and 2q2k_B")
    m.add_argument("--real-complex", nargs=2, metavar=("FASTA", "DIR"),
                   help="the chains of FASTA, alignments in DIR/<record name>/ (uniprot_hits.sto for pairing)")
    m.add_argument("--ground-truth", metavar="CIF|swapped-prediction",
                   help="the complex's structure (chains A, B), for the losses")
    m.add_argument("--recycles", type=int, default=3)
    m.add_argument("--tolerance", type=float, default=-1.0,
                   help="recycle_early_stop_tolerance (< 0: every recycle, as by default here)")
    n = sub.add_parser("npz")
    n.add_argument("--openfold", required=True)
    n.add_argument("--out", required=True)
    n.add_argument("af2")
    l = sub.add_parser("losses")
    l.add_argument("--openfold", required=True)
    l.add_argument("--out", required=True, help="the folder make wrote (batch.npz, ground_truth.npz)")
    l.add_argument("ours")
    f = sub.add_parser("pipeline")
    f.add_argument("--openfold", required=True)
    f.add_argument("fasta")
    f.add_argument("alignments", help="DIR/<record name>/ per chain")
    f.add_argument("ours", help="fold predict --save-features of the same FASTA and alignments")
    c = sub.add_parser("compare")
    c.add_argument("theirs")
    c.add_argument("ours")
    a = p.parse_args()
    if a.cmd == "make":
        make(a)
        return 0
    if a.cmd == "npz":
        return npz(a)
    if a.cmd == "losses":
        return losses(a)
    if a.cmd == "pipeline":
        return pipeline(a)
    return compare(a)


if __name__ == "__main__":
    sys.exit(main())
