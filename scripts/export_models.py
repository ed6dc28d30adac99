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

  # a pathology foundation model (ViT) from the name its authors publish, with its card: normalization, pooling
  # (the class token, its mean with the patch tokens, registers left out) and the geometry it was trained at.
  # The weights are the authors': gated models need your own Hugging Face token (`huggingface-cli login` or HF_TOKEN)
  # and their terms accepted on the model's page. scripts/models/README.md lists the families and their licences.
  pip install torch timm onnx huggingface_hub        # transformers for phikon-v2 / midnight, CONCH's package for conch
  python scripts/export_models.py embed --family uni --out models-out
  python scripts/export_models.py embed --family virchow2 --dtype float16 --out models-out   # half precision
  python scripts/export_models.py families                                                      # the list

The model cards follow shared/onnx/card.ts: input name, layout, size, scale, mean, std; output name and layout;
pooling; geometry.
"""
import argparse
import hashlib
import json
import os
import sys

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
OPENCLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENCLIP_STD = [0.26862954, 0.26130258, 0.27577711]
HOPTIMUS_MEAN = [0.707223, 0.578729, 0.703617]
HOPTIMUS_STD = [0.211883, 0.230117, 0.177517]
HALF = [0.5, 0.5, 0.5]


def _swiglu_silu():
    """Virchow's and UNI2-h's MLP: timm's packed SwiGLU with SiLU (their model cards pass these to create_model)."""
    import timm
    import torch

    return {"mlp_layer": timm.layers.SwiGLUPacked, "act_layer": torch.nn.SiLU}


# The families: where their weights are published, how their authors load them, and what their card says.
#   load:     timm (timm.create_model(hub, pretrained=True, **kwargs)), transformers (AutoModel), conch (CONCH's
#             package), torchhub (torch.hub.load)
#   arch:     the architecture and arguments that build the same network with random weights (check-exports.py):
#             timm's name and create_model arguments, or for transformers families the model_type and its config
#   pooling:  the card's pooling (shared/onnx/card.ts); canonical: how the authors turn the tokens into the
#             embedding they publish (check-exports.py compares tessella's vectors to it)
#   verified: False where a fact (noted in scripts/models/README.md) was not checked against the authors' own page
FAMILIES = {
    "uni": dict(
        title="UNI (ViT-L/16, Mahmood Lab)", load="timm", hub="hf-hub:MahmoodLab/uni", gated=True,
        licence="CC-BY-NC-ND-4.0", kwargs=lambda: {"init_values": 1e-5, "dynamic_img_size": True},
        arch=lambda: ("vit_large_patch16_224", {"init_values": 1e-5, "num_classes": 0}),
        mean=IMAGENET_MEAN, std=IMAGENET_STD, size=224, mpp=0.5, dim=1024,
        pooling={"mode": "cls", "skipTokens": 1}, canonical="cls", verified=True),
    "uni2-h": dict(
        title="UNI2-h (ViT-H/14, 8 registers, Mahmood Lab)", load="timm", hub="hf-hub:MahmoodLab/UNI2-h", gated=True,
        licence="CC-BY-NC-ND-4.0",
        kwargs=lambda: {"img_size": 224, "patch_size": 14, "depth": 24, "num_heads": 24, "init_values": 1e-5,
                        "embed_dim": 1536, "mlp_ratio": 2.66667 * 2, "num_classes": 0, "no_embed_class": True,
                        "reg_tokens": 8, "dynamic_img_size": True, **_swiglu_silu()},
        arch=lambda: ("vit_giant_patch14_224", {k: v for k, v in FAMILIES["uni2-h"]["kwargs"]().items()}),
        mean=IMAGENET_MEAN, std=IMAGENET_STD, size=224, mpp=0.5, dim=1536,
        pooling={"mode": "cls", "registers": 8}, canonical="cls", verified=True),
    "virchow": dict(
        title="Virchow (ViT-H/14, Paige)", load="timm", hub="hf-hub:paige-ai/Virchow", gated=True,
        licence="Apache-2.0 (with Paige's additional terms on the model page)", kwargs=_swiglu_silu,
        arch=lambda: ("vit_huge_patch14_224", {"init_values": 1e-5, "num_classes": 0, "mlp_ratio": 5.3375,
                                                "global_pool": "", "dynamic_img_size": True, **_swiglu_silu()}),
        mean=IMAGENET_MEAN, std=IMAGENET_STD, size=224, mpp=0.5, dim=1280,
        pooling={"mode": "cls+mean", "skipTokens": 1}, canonical="cls+mean", verified=False),
    "virchow2": dict(
        title="Virchow2 (ViT-H/14, 4 registers, Paige)", load="timm", hub="hf-hub:paige-ai/Virchow2", gated=True,
        licence="CC-BY-NC-ND-4.0", kwargs=_swiglu_silu,
        arch=lambda: ("vit_huge_patch14_224", {"init_values": 1e-5, "num_classes": 0, "mlp_ratio": 5.3375,
                                                "global_pool": "", "dynamic_img_size": True, "reg_tokens": 4,
                                                **_swiglu_silu()}),
        mean=IMAGENET_MEAN, std=IMAGENET_STD, size=224, mpp=0.5, dim=1280,
        pooling={"mode": "cls+mean", "registers": 4}, canonical="cls+mean", verified=False),
    "h-optimus-0": dict(
        title="H-optimus-0 (ViT-g/14, 4 registers, Bioptimus)", load="timm", hub="hf-hub:bioptimus/H-optimus-0",
        gated=False, licence="Apache-2.0", kwargs=lambda: {"init_values": 1e-5, "dynamic_img_size": False},
        arch=lambda: ("vit_giant_patch14_reg4_dinov2", {"img_size": 224, "init_values": 1e-5, "num_classes": 0,
                                                        "global_pool": "token"}),
        mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD, size=224, mpp=0.5, dim=1536,
        pooling={"mode": "cls", "registers": 4}, canonical="cls", verified=False),
    "h-optimus-1": dict(
        title="H-optimus-1 (ViT-g/14, 4 registers, Bioptimus)", load="timm", hub="hf-hub:bioptimus/H-optimus-1",
        gated=True, licence="CC-BY-NC-ND-4.0 (unverified)", kwargs=lambda: {"init_values": 1e-5, "dynamic_img_size": False},
        arch=lambda: FAMILIES["h-optimus-0"]["arch"](),
        mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD, size=224, mpp=0.5, dim=1536,
        pooling={"mode": "cls", "registers": 4}, canonical="cls", verified=False),
    "prov-gigapath": dict(
        title="Prov-GigaPath tile encoder (ViT-g/16, Providence / Microsoft)", load="timm",
        hub="hf_hub:prov-gigapath/prov-gigapath", gated=True, licence="Apache-2.0 (research use per the model page)",
        kwargs=lambda: {},
        arch=lambda: ("vit_giant_patch14_dinov2", {"img_size": 224, "patch_size": 16, "init_values": 1e-5,
                                                   "mlp_ratio": 5.33334, "num_classes": 0, "global_pool": "token"}),
        mean=IMAGENET_MEAN, std=IMAGENET_STD, size=224, mpp=0.5, dim=1536,
        pooling={"mode": "cls", "skipTokens": 1}, canonical="cls", verified=False),
    "phikon-v2": dict(
        title="Phikon-v2 (ViT-L/16 DINOv2, Owkin)", load="transformers", hub="owkin/phikon-v2", gated=False,
        licence="Owkin non-commercial licence (unverified)", kwargs=lambda: {},
        arch=lambda: ("dinov2", {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                                 "patch_size": 16, "image_size": 224, "mlp_ratio": 4, "use_swiglu_ffn": False}),
        mean=IMAGENET_MEAN, std=IMAGENET_STD, size=224, mpp=0.5, dim=1024,
        pooling={"mode": "cls", "skipTokens": 1}, canonical="cls", verified=False),
    "conch": dict(
        title="CONCH image tower (ViT-B/16 CoCa, Mahmood Lab)", load="conch", hub="hf_hub:MahmoodLab/conch",
        gated=True, licence="CC-BY-NC-ND-4.0", kwargs=lambda: {},
        arch=None, mean=OPENCLIP_MEAN, std=OPENCLIP_STD, size=448, mpp=0.5, dim=512,
        pooling={"mode": "mean"}, canonical="pooled", verified=False),
    "kaiko-vits16": dict(
        title="Kaiko ViT-S/16 (towards large pathology FMs)", load="torchhub",
        hub="kaiko-ai/towards_large_pathology_fms:vits16", gated=False, licence="Apache-2.0 (unverified)",
        kwargs=lambda: {}, arch=lambda: ("vit_small_patch16_224", {"num_classes": 0, "dynamic_img_size": True}),
        mean=HALF, std=HALF, size=224, mpp=0.5, dim=384,
        pooling={"mode": "cls+mean", "skipTokens": 1}, canonical="cls+mean", verified=False),
    "kaiko-vitl14": dict(
        title="Kaiko ViT-L/14 (towards large pathology FMs)", load="torchhub",
        hub="kaiko-ai/towards_large_pathology_fms:vitl14", gated=False, licence="Apache-2.0 (unverified)",
        kwargs=lambda: {}, arch=lambda: ("vit_large_patch14_reg4_dinov2", {"img_size": 224, "num_classes": 0}),
        mean=HALF, std=HALF, size=224, mpp=0.5, dim=1024,
        pooling={"mode": "cls+mean", "registers": 4}, canonical="cls+mean", verified=False),
    "midnight": dict(
        title="Midnight-12k (ViT-g/14 DINOv2, kaiko.ai)", load="transformers", hub="kaiko-ai/midnight", gated=False,
        licence="MIT", kwargs=lambda: {},
        arch=lambda: ("dinov2", {"hidden_size": 1536, "num_hidden_layers": 40, "num_attention_heads": 24,
                                 "patch_size": 14, "image_size": 518, "mlp_ratio": 4, "use_swiglu_ffn": True}),
        mean=HALF, std=HALF, size=224, mpp=0.5, dim=1536,
        pooling={"mode": "cls+mean", "skipTokens": 1}, canonical="cls+mean", verified=False),
}


class Tokens:
    """What tessella's card reads: a timm ViT's tokens after its last norm ([N, L, C], class token first, then
    registers, then patches), a transformers model's last_hidden_state, or CONCH's pooled image feature [N, C]."""

    @staticmethod
    def module(family, model):
        import torch

        load = FAMILIES[family]["load"]

        class Out(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, x):
                if load == "transformers":
                    return self.model(pixel_values=x).last_hidden_state
                if load == "conch":
                    return self.model.encode_image(x, proj_contrast=False, normalize=False)
                return self.model.forward_features(x)

        return Out().eval()


def load_family(family, random_weights=False):
    """The family's network: its authors' weights (your token for gated ones), or the architecture with random
    weights (check-exports.py)."""
    import torch

    f = FAMILIES[family]
    if random_weights:
        if not f["arch"]:
            raise SystemExit(f"{family}: no architecture for random weights (it loads through {f['load']}, "
                             "whose model is not built here without its package)")
        name, kwargs = f["arch"]()
        if f["load"] == "transformers":
            from transformers import AutoConfig, AutoModel

            return AutoModel.from_config(AutoConfig.for_model(name, **kwargs)).eval()
        import timm

        return timm.create_model(name, pretrained=False, **kwargs).eval()
    if f["load"] == "timm":
        import timm

        return timm.create_model(f["hub"], pretrained=True, **f["kwargs"]()).eval()
    if f["load"] == "transformers":
        from transformers import AutoModel

        return AutoModel.from_pretrained(f["hub"]).eval()
    if f["load"] == "conch":
        from conch.open_clip_custom import create_model_from_pretrained

        model, _ = create_model_from_pretrained("conch_ViT-B-16", f["hub"])
        return model.eval()
    repo, name = f["hub"].split(":")
    return torch.hub.load(repo, name, trust_repo=True, pretrained=True).eval()


def family_card(family, name=None, dtype="float32"):
    f = FAMILIES[family]
    return {
        "name": name or family,
        "task": "embed",
        "description": f"{f['title']}: [N,3,{f['size']},{f['size']}] -> "
        + ("[N,C] pooled" if f["load"] == "conch" else f"[N,L,{f['dim']}] tokens")
        + (", float16" if dtype == "float16" else ""),
        "input": {"name": "input", "layout": "NCHW", "size": f["size"], "scale": 1 / 255, "mean": f["mean"], "std": f["std"]},
        "output": {"name": "features", "layout": "NC" if f["load"] == "conch" else "NLC"},
        "pooling": f["pooling"],
        "geometry": {"mpp": f["mpp"], "size": f["size"]},
        "source": f"{f['hub']} ({f['licence']}{'; gated: accept the terms on its page, use your own token' if f['gated'] else ''})",
    }


def embed_family(out, family, opset, dtype="float32", random_weights=False, model=None):
    """Export a family to <out>/embed/{model.onnx,model.json}; returns the model.onnx path."""
    import torch

    f = FAMILIES[family]
    net = Tokens.module(family, model if model is not None else load_family(family, random_weights))
    example = torch.zeros(1, 3, f["size"], f["size"])
    if dtype == "float16":
        net = net.half()
        example = example.half()
    folder = os.path.join(out, "embed")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    export_torch(net, example, path, "input", "features", {"input": {0: "N"}, "features": {0: "N"}}, opset)
    suffix = ("-random" if random_weights else "") + ("-fp16" if dtype == "float16" else "")
    write_card(folder, family_card(family, family + suffix, dtype))
    return path


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
            dynamo=False,  # the TorchScript exporter: dynamic batch axes as named; one .onnx file up to 2 GB, past
            # that torch writes each tensor as an external-data file beside it (same folder, names relative)
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
    p.add_argument("what", choices=["embed", "normalize", "families"])
    p.add_argument("--out", help="folder to write <what>/model.onnx and model.json into")
    p.add_argument("--family", choices=sorted(FAMILIES), help="embed: a pathology foundation model (see `families`)")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                   help="--family: export in half precision (inputs, weights and outputs float16; tessella converts)")
    p.add_argument("--random-weights", action="store_true", help="--family: the architecture with random weights")
    p.add_argument("--keras", action="store_true", help="embed: export Keras' EfficientNetB0 instead of torchvision's")
    p.add_argument("--stainnet-weights", help="normalize: StainNet PyTorch state dict (.pth)")
    p.add_argument("--opset", type=int, default=17)
    a = p.parse_args(argv)
    if a.what == "families":
        for key, f in FAMILIES.items():
            gate = "gated, needs your token" if f["gated"] else "open"
            print(f"{key:14} {f['title']}: {f['hub']} ({gate}; {f['licence']})")
        return
    if not a.out:
        p.error("--out is required")
    if a.what == "embed" and a.family:
        try:
            path = embed_family(a.out, a.family, a.opset, a.dtype, a.random_weights)
        except Exception as err:  # the hub's refusal of a gated model is the common case: say what to do
            if "gated" in str(err).lower() or "401" in str(err) or "403" in str(err):
                raise SystemExit(f"{a.family}: {FAMILIES[a.family]['hub']} is gated: accept its terms on its page and "
                                 f"log in (`huggingface-cli login` or HF_TOKEN); the hub said: {err}")
            raise
    elif a.what == "embed":
        path = embed_keras(a.out, a.opset) if a.keras else embed_torchvision(a.out, a.opset)
    else:
        if not a.stainnet_weights:
            p.error("normalize needs --stainnet-weights PATH")
        path = normalize_stainnet(a.out, a.stainnet_weights, a.opset)
    print(path, sha256(path))


if __name__ == "__main__":
    main(sys.argv[1:])
