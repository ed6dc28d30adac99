#!/usr/bin/env python3
"""Export the real models for tessella's models repo, on a machine with PyTorch (or TensorFlow).

Writes <out>/embed/{model.onnx,model.json} and/or <out>/normalize/{model.onnx,model.json}, the layout the
`models` repo expects (commit the folder with `tessella put file models@master:/ -f <out> -r`).

  # EfficientNet-B0 ImageNet features from torchvision ([N,3,224,224] -> [N,1280,7,7])
  pip install torch torchvision onnx
  python scripts/export_models.py embed --out models-out

  # the same from Keras (needs tensorflow and tf2onnx); the graph takes NHWC pixels 0..255
  pip install tensorflow tf2onnx
  python scripts/export_models.py embed --keras --out models-out

  # StainNet from its published PyTorch weights (github.com/khtao/StainNet, e.g. StainNet-Public_layer3_ch32.pth;
  # the weights are not redistributed with tessella: download them yourself and check their terms)
  python scripts/export_models.py normalize --stainnet-weights StainNet-Public_layer3_ch32.pth --out models-out

The model cards follow shared/onnx/card.ts: input name, layout, size, scale, mean, std; output name and layout.
"""
import argparse
import hashlib
import json
import os
import sys

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def write_card(folder, card):
    path = os.path.join(folder, "model.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_torch(module, example, path, input_name, output_name, dynamic_axes, opset):
    import torch

    module.eval()
    tmp = path + ".tmp"
    with torch.no_grad():
        torch.onnx.export(
            module,
            example,
            tmp,
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
        )
    os.replace(tmp, path)


def embed_torchvision(out, opset):
    import torch
    from torchvision.models import EfficientNet_B0_Weights, efficientnet_b0

    weights = EfficientNet_B0_Weights.IMAGENET1K_V1
    features = efficientnet_b0(weights=weights).features  # without pooling and classifier: [N,1280,7,7]
    folder = os.path.join(out, "embed")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    export_torch(features, torch.zeros(1, 3, 224, 224), path, "input", "features", {"input": {0: "N"}, "features": {0: "N"}}, opset)
    write_card(folder, {
        "name": "efficientnet-b0-imagenet-torchvision",
        "task": "embed",
        "description": "torchvision EfficientNet-B0 IMAGENET1K_V1, `features` part: [N,3,224,224] -> [N,1280,7,7], mean and max pooled",
        "input": {"name": "input", "layout": "NCHW", "size": 224, "scale": 1 / 255, "mean": IMAGENET_MEAN, "std": IMAGENET_STD},
        "output": {"name": "features", "layout": "NCHW"},
        "source": "torchvision.models.efficientnet_b0(weights=IMAGENET1K_V1).features (BSD-3-Clause code; ImageNet-trained weights)",
    })
    return path


def embed_keras(out, opset):
    import tensorflow as tf
    import tf2onnx

    # Keras' EfficientNetB0 rescales and normalizes inside the graph: it takes pixels 0..255, NHWC.
    model = tf.keras.applications.EfficientNetB0(include_top=False, weights="imagenet", input_shape=(224, 224, 3))
    folder = os.path.join(out, "embed")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    spec = (tf.TensorSpec((None, 224, 224, 3), tf.float32, name="input"),)
    onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    output_name = onnx_model.graph.output[0].name
    with open(path + ".tmp", "wb") as f:
        f.write(onnx_model.SerializeToString())
    os.replace(path + ".tmp", path)
    write_card(folder, {
        "name": "efficientnet-b0-imagenet-keras",
        "task": "embed",
        "description": "Keras EfficientNetB0(include_top=False, weights='imagenet'): [N,224,224,3] pixels 0..255 -> [N,7,7,1280], mean and max pooled",
        "input": {"name": "input", "layout": "NHWC", "size": 224, "scale": 1, "mean": [0, 0, 0], "std": [1, 1, 1]},
        "output": {"name": output_name, "layout": "NHWC"},
        "source": "tf.keras.applications.EfficientNetB0 (Apache-2.0 code; ImageNet-trained weights)",
    })
    return path


def stainnet_module(channels=32, layers=3):
    import torch.nn as nn

    # StainNet (Kang et al. 2021): 1x1 convolutions 3 -> 32 -> ... -> 3 with ReLU between.
    modules = [nn.Conv2d(3, channels, kernel_size=1, bias=True), nn.ReLU(True)]
    for _ in range(layers - 2):
        modules += [nn.Conv2d(channels, channels, kernel_size=1, bias=True), nn.ReLU(True)]
    modules.append(nn.Conv2d(channels, 3, kernel_size=1, bias=True))

    class StainNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.rgb_trans = nn.Sequential(*modules)

        def forward(self, x):
            return self.rgb_trans(x)

    return StainNet()


def normalize_stainnet(out, weights, opset):
    import torch

    net = stainnet_module()
    state = torch.load(weights, map_location="cpu")
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    net.load_state_dict(state)
    folder = os.path.join(out, "normalize")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    dyn = {"input": {0: "N", 2: "H", 3: "W"}, "output": {0: "N", 2: "H", 3: "W"}}
    export_torch(net, torch.zeros(1, 3, 448, 448), path, "input", "output", dyn, opset)
    write_card(folder, {
        "name": "stainnet-" + os.path.splitext(os.path.basename(weights))[0],
        "task": "normalize",
        "description": "StainNet 3->32->32->3 1x1 convolutions; input (rgb/255-0.5)/0.5 NCHW, output clamp(y*0.5+0.5,0,1)*255",
        "input": {"name": "input", "layout": "NCHW", "size": 448, "scale": 1 / 255, "mean": 0.5, "std": 0.5},
        "output": {"name": "output", "layout": "NCHW", "scale": 1 / 255, "mean": 0.5, "std": 0.5},
        "source": "weights: " + os.path.basename(weights) + " sha256 " + sha256(weights) + " (github.com/khtao/StainNet; check its terms)",
    })
    return path


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["embed", "normalize"])
    p.add_argument("--out", required=True, help="folder to write <what>/model.onnx and model.json into")
    p.add_argument("--keras", action="store_true", help="embed: export Keras' EfficientNetB0 instead of torchvision's")
    p.add_argument("--stainnet-weights", help="normalize: StainNet PyTorch state dict (.pth)")
    p.add_argument("--opset", type=int, default=17)
    a = p.parse_args(argv)
    if a.what == "embed":
        path = embed_keras(a.out, a.opset) if a.keras else embed_torchvision(a.out, a.opset)
    else:
        if not a.stainnet_weights:
            p.error("normalize needs --stainnet-weights PATH")
        path = normalize_stainnet(a.out, a.stainnet_weights, a.opset)
    print(path, sha256(path))


if __name__ == "__main__":
    main(sys.argv[1:])
