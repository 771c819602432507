"""Drives a real huggingface_hub through hubcache, as a user would.

Usage: python download.py <json-spec>
The spec: {"calls": [{"fn": "hf_hub_download" | "snapshot_download", "repo_id": ...,
           "repo_type": "model" | "dataset", "filename": ..., "revision": ...,
           "allow_patterns": [...] (snapshot_download only)}]}
HF_ENDPOINT and HF_HOME come from the environment (Xet is deliberately NOT disabled).
Prints one JSON object: {"version": ..., "results": [{"files": {relpath: sha256}} | {"error": ...}]}
"""

import hashlib
import json
import os
import sys

import huggingface_hub
from huggingface_hub import hf_hub_download, snapshot_download


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(call):
    kind = call["fn"]
    common = {"repo_id": call["repo_id"], "repo_type": call.get("repo_type", "model")}
    if call.get("revision"):
        common["revision"] = call["revision"]
    if kind == "hf_hub_download":
        path = hf_hub_download(filename=call["filename"], **common)
        return {"files": {call["filename"]: sha256_of(path)}, "path": path}
    if kind == "snapshot_download":
        root = snapshot_download(allow_patterns=call.get("allow_patterns"), **common)
        files = {}
        for dirpath, _, names in os.walk(root):
            for name in names:
                full = os.path.join(dirpath, name)
                files[os.path.relpath(full, root)] = sha256_of(full)
        return {"files": files, "path": root}
    raise ValueError(f"unknown call {kind}")


def main():
    assert os.environ.get("HF_ENDPOINT"), "HF_ENDPOINT must point at hubcache"
    assert not os.environ.get("HF_HUB_DISABLE_XET"), "Xet must stay enabled in this test"
    spec = json.loads(sys.argv[1])
    results = []
    for call in spec["calls"]:
        try:
            results.append(run(call))
        except Exception as exc:  # reported to the Rust test, which decides
            results.append({"error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps({"version": huggingface_hub.__version__, "results": results}))


if __name__ == "__main__":
    main()
