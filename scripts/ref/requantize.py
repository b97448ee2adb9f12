#!/usr/bin/env python3
"""Re-quantize a GGUF into another llama.cpp file type, for benchmarks of the weight types.

llama.cpp's own quantizer (`llama_model_quantize` of llama-cpp-python, `allow_requantize`) turns
e.g. the Q4_K_M Qwen2.5-Coder 1.5B into Q5_K_M, Q4_0 or Q8_0: real shapes and llama.cpp's real
choice of tensor types per file type, at the cost of quantizing quantized weights twice (the text
it writes is worse; its speed is what a file of that type has). Not for quality figures.

Usage: python3 scripts/ref/requantize.py SRC.gguf DST.gguf Q5_K_M|Q4_0|Q4_1|Q8_0|...
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path


def main() -> int:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    src, dst, ftype = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].upper()
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    name = f"LLAMA_FTYPE_MOSTLY_{ftype}"
    if not hasattr(llama_cpp, name):
        raise SystemExit(f"unknown llama.cpp file type {ftype}")
    params.ftype = getattr(llama_cpp, name)
    params.allow_requantize = True
    params.nthread = 2
    tmp = dst.with_suffix(".partial")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
    if rc != 0:
        tmp.unlink(missing_ok=True)
        raise SystemExit(f"llama_model_quantize({src} -> {dst}) returned {rc}")
    tmp.rename(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
