#!/usr/bin/env python3
"""Builds an OCI image layout for the OCI tests (test_oci.sh) from a JSON spec.

usage: oci_layout.py OUT_DIR SPEC_JSON [OUT_DIR SPEC_JSON...]

spec: {"layers": [LAYER...], "config": {...image config "config" object...},
       "platforms": ["linux/amd64", "linux/arm64"]   (optional: an index)}
LAYER: {"compress": "gzip" | "zstd" | "none", "entries": [ENTRY...]}
ENTRY: {"path": "etc/x", "type": "file"|"dir"|"symlink"|"hardlink"|"chr"|"fifo",
        "data": "text", "zeros": N, "src": "/host/file", "mode": 420,
        "target": "..." (symlink, hardlink), "uid": 0, "gid": 0}
The layout's index.json tags the image (or the index) as "latest"."""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile


def blob(out, data):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(out, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


def layer_tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["path"])
            ti.mode = e.get("mode", 0o755 if e["type"] == "dir" else 0o644)
            ti.uid, ti.gid = e.get("uid", 0), e.get("gid", 0)
            ti.mtime = 1700000000
            data = None
            kind = e["type"]
            if kind == "file":
                if "src" in e:
                    with open(e["src"], "rb") as f:
                        data = f.read()
                elif "zeros" in e:
                    data = b"\0" * e["zeros"]
                else:
                    data = e.get("data", "").encode()
                ti.size = len(data)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e["target"]
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e["target"]
            elif kind == "chr":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def main():
    for i in range(1, len(sys.argv) - 1, 2):
        build(sys.argv[i], json.load(open(sys.argv[i + 1])))


def build(out, spec):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    layers, diff_ids = [], []
    for spec_layer in spec["layers"]:
        raw = layer_tar(spec_layer["entries"])
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        comp = spec_layer.get("compress", "gzip")
        if comp == "gzip":
            data, mt = gzip.compress(raw, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
        elif comp == "zstd":
            data = subprocess.run(["zstd", "-q", "-c"], input=raw, stdout=subprocess.PIPE, check=True).stdout
            mt = "application/vnd.oci.image.layer.v1.tar+zstd"
        else:
            data, mt = raw, "application/vnd.oci.image.layer.v1.tar"
        d, n = blob(out, data)
        layers.append({"mediaType": mt, "digest": d, "size": n})
    manifests = []
    for plat in spec.get("platforms", ["linux/amd64"]):
        os_, arch = plat.split("/")
        cfg = {"architecture": arch, "os": os_, "config": spec.get("config", {}),
               "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        cd, cn = blob(out, json.dumps(cfg).encode())
        man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
               "layers": layers}
        md, mn = blob(out, json.dumps(man).encode())
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
                          "platform": {"architecture": arch, "os": os_}})
    if "platforms" in spec:
        idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
        xd, xn = blob(out, json.dumps(idx).encode())
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": xd, "size": xn}
    else:
        top = dict(manifests[0])
        del top["platform"]
    top["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [top]}, f)


main()
