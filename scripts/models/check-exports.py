#!/usr/bin/env python3
"""Check scripts/export_models.py's families against PyTorch, on real tiles, where torch and timm are installed.

For each family: its architecture with random weights (timm, pretrained=False, seeded; transformers' families from
their DINOv2 config, export_models.load_family; CONCH, built by its own package, is not checked) is exported as
export_models.py exports the real one (same wrapper, same card); tessella's embed (stages/embed/embed.ts, through
scripts/models/embed-throughput.ts: decode, 2x2 mean and the card's arithmetic as ONNX nodes, ONNX Runtime, the
card's pooling) runs on 32 real tiles of CMU-1 (../shared/fixtures: tile-detect, tile-extract and an identity
normalize, so the tiles are lossless PNG); the same tiles go through the same network in PyTorch, and the published
embedding is made the authors' way (the class token, or the class token joined with the mean of the patch tokens
after timm's own prefix tokens). Prints, per family, the largest absolute and relative difference, and the tiles/s
of embed against the bare `session.run` of the model.

  /tmp/peer-venv/bin/python scripts/models/check-exports.py --families kaiko-vits16,uni,efficientnet-b0
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import export_models  # noqa: E402  (the families and their export)

SLIDE = os.path.join(ROOT, "..", "shared", "fixtures", "slides", "cmu-1-small-region.pyramid.tiff")


def torchvision_ops_stub():
    """timm imports torchvision. Where the only torchvision build is for CUDA torch, its compiled ops do not load under
    CPU torch and its import fails registering fake kernels for two ops; declaring those two schemas lets the pure
    Python parts import (timm uses no torchvision op here)."""
    import importlib.util

    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None:
        return
    try:
        torch.ops.load_library(os.path.join(os.path.dirname(spec.origin), "_C.so"))
        return
    except Exception:
        pass
    lib = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    torchvision_ops_stub.lib = lib  # kept alive: the schemas live as long as the library object


def node(script, *args, env=None):
    cmd = [shutil.which("node") or "node", "--import", "tsx", os.path.join(ROOT, script), *args]
    r = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr[-3000:]}")
    return r.stdout


def stage(name, env):
    node(f"stages/{name}/main.ts", env={"TESSELLA_LOG_FORMAT": "json", **env})


def real_tiles(work, count, tile_size):
    """CMU-1's tiles with the most tissue, through tile-detect (MAX_TILES), tile-extract and an identity normalize, so
    they are lossless PNG. The region holds only 5 tissue tiles of 448 px (24 in its grid): 224 px tiles give 32."""
    node("scripts/models/build.ts", "--out", os.path.join(work, "models"), "--normalize", "identity", "--embed", "none")
    sid = "cmu1"
    slide_dir = os.path.join(work, "slides", sid)
    os.makedirs(slide_dir, exist_ok=True)
    link = os.path.join(slide_dir, os.path.basename(SLIDE))
    if not os.path.exists(link):
        os.symlink(os.path.abspath(SLIDE), link)
    stage("tile-detect", {"PFS_ROOT": os.path.join(work, "detect"), "slides": slide_dir, "MAX_TILES": str(count),
                          "TILE_SIZE": str(tile_size), "MAX_BACKGROUND_FRACTION": "0.5"})
    stage("tile-extract", {"PFS_ROOT": os.path.join(work, "extract"), "slides": slide_dir,
                           "tile_detect": os.path.join(work, "detect", "out", sid)})
    stage("normalize", {"PFS_ROOT": os.path.join(work, "normalize"),
                        "tile_extract": os.path.join(work, "extract", "out", sid),
                        "models": os.path.join(work, "models", "normalize"), "INTRA_OP_THREADS": "2"})
    return os.path.join(work, "normalize", "out", sid, "tiles.tfrecord")


def _varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, pos


def _fields(buf):
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 2:
            n, pos = _varint(buf, pos)
            yield key >> 3, buf[pos:pos + n]
            pos += n
        elif wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            raise ValueError(f"wire type {wire}")


def tile_images(path):
    """`image_raw` of every record of a tiles.tfrecord (the CRCs are the writer's business here)."""
    images = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        record = data[pos + 12:pos + 12 + length]
        pos += 12 + length + 4
        for _, features in _fields(record):
            for _, entry in _fields(features):
                key = value = None
                for number, v in _fields(entry):
                    if number == 1:
                        key = bytes(v).decode()
                    elif number == 2:
                        value = v
                if key == "image_raw":
                    for _, lst in _fields(value):
                        for _, raw in _fields(lst):
                            images.append(bytes(raw))
    return images


def reference_input(images, card):
    """The card's input, made here on its own: PNG decode, k x k mean (in float32), (p * scale - mean) / std, NCHW."""
    import io

    import numpy as np
    from PIL import Image

    size = card["input"]["size"]
    out = []
    for raw in images:
        px = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"), dtype=np.float64)
        k = px.shape[0] // size
        px = px.reshape(size, k, size, k, 3).mean(axis=(1, 3)).astype(np.float32).astype(np.float64)
        x = (px * card["input"]["scale"] - np.array(card["input"]["mean"])) / np.array(card["input"]["std"])
        out.append(x.transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def read_safetensors(path):
    import numpy as np

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        body = f.read()
    dtypes = {"F32": np.float32, "I32": np.int32}
    return {k: np.frombuffer(body[v["data_offsets"][0]:v["data_offsets"][1]], dtype=dtypes[v["dtype"]]).reshape(v["shape"])
            for k, v in header.items() if k != "__metadata__"}


B0 = dict(title="EfficientNet-B0 (timm's architecture; the seed's model)", arch=lambda: ("efficientnet_b0", {"num_classes": 0}),
          canonical="mean+max")


def export_b0(work, model):
    import torch

    class Features(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model.forward_features(x)

    folder = os.path.join(work, "embed")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    export_models.export_torch(Features().eval(), torch.zeros(1, 3, 224, 224), path, "input", "features",
                               {"input": {0: "N"}, "features": {0: "N"}}, 17)
    card = {"name": "efficientnet-b0-random", "task": "embed",
            "input": {"name": "input", "layout": "NCHW", "size": 224, "scale": 1 / 255,
                      "mean": export_models.IMAGENET_MEAN, "std": export_models.IMAGENET_STD},
            "output": {"name": "features", "layout": "NCHW"}}
    export_models.write_card(folder, card)
    return path, card


def check(family, tiles_path, images, work, threads, batch, repeat):
    import numpy as np
    import timm
    import torch

    torch.manual_seed(0)
    spec = B0 if family == "efficientnet-b0" else export_models.FAMILIES[family]
    if not spec["arch"]:  # CONCH: its image tower is built by CONCH's own package, not by timm or transformers
        raise SystemExit(f"{family}: no architecture for random weights (it loads through {spec['load']})")
    name, kwargs = spec["arch"]()
    if family == "efficientnet-b0":
        model = timm.create_model(name, pretrained=False, **kwargs).eval()
    else:  # timm, or transformers from the family's config (export_models.load_family)
        model = export_models.load_family(family, random_weights=True)
    folder = os.path.join(work, family)
    t0 = time.time()
    if family == "efficientnet-b0":
        _, card = export_b0(folder, model)
        net = model.forward_features
    else:
        export_models.embed_family(folder, family, 17, random_weights=True, model=model)
        card = json.load(open(os.path.join(folder, "embed", "model.json")))
        net = export_models.Tokens.module(family, model)
    export_s = time.time() - t0
    # the graph and, past ONNX's 2 GB protobuf limit (ViT-H and larger), the external tensor files torch writes beside it
    embed_dir = os.path.join(folder, "embed")
    onnx_mb = sum(os.path.getsize(os.path.join(embed_dir, f)) for f in os.listdir(embed_dir) if f != "model.json") / 1e6

    vectors_path = os.path.join(folder, "vectors.safetensors")
    timing = json.loads(node("scripts/models/embed-throughput.ts", "--model", os.path.join(folder, "embed"),
                             "--tiles", tiles_path, "--out", vectors_path, "--batch", str(batch),
                             "--threads", str(threads), "--repeat", str(repeat)))
    ours = read_safetensors(vectors_path)

    torch.set_num_threads(threads or os.cpu_count())
    x = torch.from_numpy(reference_input(images, card))
    with torch.inference_mode():
        out = torch.cat([net(x[i:i + batch]) for i in range(0, len(x), batch)]).double()
    if spec["canonical"] == "mean+max":
        flat = out.flatten(2)
        theirs = torch.cat([flat.mean(2), flat.amax(2)], 1)
        mine = np.concatenate([ours["avg"], ours["max"]], 1)
    else:
        # the library's own count of class and register tokens, not the card's (transformers' Dinov2Model has none)
        prefix = getattr(model, "num_prefix_tokens", None)
        if prefix is None:
            prefix = 1 + getattr(model.config, "num_register_tokens", 0)
        cls = out[:, 0]
        if spec["canonical"] == "cls":
            theirs, mine = cls, ours["cls"]
            if getattr(model, "global_pool", None) == "token":  # the model's own forward() is its class token
                with torch.inference_mode():
                    fwd = torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)]).double()
                assert torch.allclose(fwd, cls, atol=1e-5), "forward() is not the class token"
        else:
            theirs = torch.cat([cls, out[:, prefix:].mean(1)], 1)
            mine = np.concatenate([ours["cls"], ours["avg"]], 1)
    theirs = theirs.numpy()
    diff = np.abs(mine.astype(np.float64) - theirs)
    return {
        "family": family,
        "arch": name,
        "onnx_mb": round(onnx_mb, 1),
        "export_s": round(export_s, 1),
        "tiles": int(timing["tiles"]),
        "embedding": int(theirs.shape[1]),
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float(diff.max() / np.abs(theirs).max()),
        "embed_tiles_per_s": round(timing["embed_tiles_per_s"], 2),
        "bare_tiles_per_s": round(timing["bare_tiles_per_s"], 2),
        "embed_vs_bare": round(timing["ratio"], 3),
    }


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", default="kaiko-vits16,uni,efficientnet-b0",
                   help="comma-separated; any of: efficientnet-b0, " + ", ".join(
                       k for k, f in export_models.FAMILIES.items() if f["arch"]))
    p.add_argument("--work", default="/tmp/tessella-check-exports")
    p.add_argument("--tiles", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime and torch threads (0: every core)")
    p.add_argument("--tile-size", type=int, default=224, help="tile-detect's TILE_SIZE (level-0 px)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3, help="timed passes of embed and of the bare model, best kept")
    a = p.parse_args(argv)
    checkable = ["efficientnet-b0"] + [k for k, f in export_models.FAMILIES.items() if f["arch"]]
    for family in a.families.split(","):  # before the tiles are made: a typo or CONCH fails at once
        if family not in checkable:
            p.error(f"--families: {family!r} cannot be checked here (no architecture for random weights); "
                    f"any of: {', '.join(checkable)}")
    if not os.path.exists(SLIDE):
        raise SystemExit(f"needs {SLIDE} (../shared beside the project)")
    torchvision_ops_stub()
    os.makedirs(a.work, exist_ok=True)
    tiles_path = real_tiles(a.work, a.tiles, a.tile_size)
    images = tile_images(tiles_path)
    print(f"{len(images)} real tiles ({tiles_path})", file=sys.stderr)
    rows = []
    for family in a.families.split(","):
        row = check(family, tiles_path, images, a.work, a.threads, a.batch, a.repeat)
        print(json.dumps(row), flush=True)
        rows.append(row)
    print("\n| family | architecture | D | max abs diff | max rel diff | embed tiles/s | bare tiles/s | embed/bare |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['family']} | {r['arch']} | {r['embedding']} | {r['max_abs_diff']:.2e} | {r['max_rel_diff']:.2e} | "
              f"{r['embed_tiles_per_s']} | {r['bare_tiles_per_s']} | {r['embed_vs_bare']} |")


if __name__ == "__main__":
    main(sys.argv[1:])
