#!/usr/bin/env python3
"""Locate LibTorch for the Meson build and print key=value lines.

With --torch-dir, the directory is a LibTorch root (include/, lib/); /usr
selects Debian's libtorch-dev. Without it, the running interpreter's torch
package is used, so C++ and Python share one torch.
"""
import argparse
import os
import re
import sys
import sysconfig


def version_from_header(include_dirs):
    for inc in include_dirs:
        for rel in ("torch/headeronly/version.h", "torch/csrc/api/include/torch/version.h", "torch/version.h"):
            path = os.path.join(inc, rel)
            if os.path.isfile(path):
                text = open(path, encoding="utf-8").read()
                parts = [re.search(r"#define TORCH_VERSION_%s (\d+)" % p, text) for p in ("MAJOR", "MINOR", "PATCH")]
                if all(parts):
                    return ".".join(m.group(1) for m in parts)
    return "unknown"


def lib_dir_for(root):
    candidates = [os.path.join(root, "lib")]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch:
        candidates.append(os.path.join(root, "lib", multiarch))
    for cand in candidates:
        if any(os.path.exists(os.path.join(cand, n)) for n in ("libtorch_cpu.so", "libtorch.so")):
            return cand
    sys.exit(f"find_torch: no libtorch_cpu.so under {', '.join(candidates)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torch-dir", default="")
    args = ap.parse_args()
    if args.torch_dir:
        root = os.path.abspath(args.torch_dir)
        origin = "torch_dir option"
        abi = "1"
    else:
        try:
            import torch
        except ImportError as exc:
            sys.exit(f"find_torch: {sys.executable} cannot import torch ({exc}); run scripts/setup or pass -Dtorch_dir=")
        root = os.path.dirname(torch.__file__)
        origin = f"python torch package ({sys.executable})"
        abi = "1" if torch.compiled_with_cxx11_abi() else "0"
    include = os.path.join(root, "include")
    api_include = os.path.join(include, "torch", "csrc", "api", "include")
    if not os.path.isdir(api_include):
        sys.exit(f"find_torch: {api_include} does not exist; {root} is not a LibTorch root")
    print(f"root={root}")
    print(f"origin={origin}")
    print(f"include={include}")
    print(f"api_include={api_include}")
    print(f"libdir={lib_dir_for(root)}")
    print(f"version={version_from_header([include])}")
    print(f"cxx11_abi={abi}")


if __name__ == "__main__":
    main()
