"""OpenFold on a machine without its CUDA extension.

OpenFold imports its CUDA attention extension (attn_core_inplace_cuda) at module load and
calls it from the MSA row attention (its "memory-efficient kernel": an in-place softmax
of the logits). Where the extension is not built, stand_in_cuda_extension() registers a
CPU stand-in that does the same in place, so OpenFold runs its own code unchanged. Used
by tools/bench/openfold_predict.py and the tools/parity scripts.
"""
import sys
import types


def stand_in_cuda_extension():
    try:
        import attn_core_inplace_cuda  # noqa: F401  (a real build of OpenFold's extension)
    except ImportError:
        stand_in = types.ModuleType("attn_core_inplace_cuda")

        def softmax_in_place(logits, rows, cols):
            logits.sub_(logits.amax(-1, keepdim=True)).exp_()
            logits.div_(logits.sum(-1, keepdim=True))

        stand_in.forward_ = softmax_in_place
        sys.modules["attn_core_inplace_cuda"] = stand_in
