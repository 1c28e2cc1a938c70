#!/usr/bin/env python3
"""Independent PyTorch reference for tabfleet's decoder parity tests (Debian python3-torch; no
transformers, peft or safetensors packages needed).

Written from the semantics of Hugging Face's modeling_gpt2.py / modeling_llama.py /
modeling_qwen2.py / modeling_rope_utils.py and PEFT's LoRA tuner, in float64, one row at a time
(no padding), so it checks our batching and masks too.

    python3 reference.py cases.json out.json

cases.json: [{"name", "model_dir", "rows": [[ids]], "adapter_dir": optional}]
out.json:   [{"name", "logits": [[[vocab floats] per position] per row]}]
"""
import json
import math
import os
import struct
import sys

import torch

F64 = torch.float64


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = bytearray(data[begin:end])
        dtype = info["dtype"]
        shape = info["shape"]
        if dtype == "F32":
            t = torch.frombuffer(buf, dtype=torch.float32) if buf else torch.zeros(0)
        elif dtype == "F16":
            t = torch.frombuffer(buf, dtype=torch.float16).float()
        elif dtype == "BF16":
            t = torch.frombuffer(buf, dtype=torch.bfloat16).float()
        else:
            raise ValueError(f"{path}: {name}: dtype {dtype}")
        out[name] = t.reshape(shape).to(F64)
    return out


def load_dir(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    idx = os.path.join(d, "model.safetensors.index.json")
    tensors = {}
    if os.path.exists(idx):
        for shard in sorted(set(json.load(open(idx))["weight_map"].values())):
            tensors.update(read_safetensors(os.path.join(d, shard)))
    else:
        tensors.update(read_safetensors(os.path.join(d, "model.safetensors")))
    return cfg, tensors


def strip(tensors, prefix):
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in tensors.items()}


def merge_peft(cfg, w, adapter_dir, module_prefix):
    """W + (alpha / r) * B @ A on each adapted module (transposed for Conv1D, fan_in_fan_out)."""
    acfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    ad = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    assert acfg["peft_type"] == "LORA" and acfg["bias"] == "none" and not acfg.get("use_dora")
    scale = acfg["lora_alpha"] / acfg["r"]
    done = set()
    for key in ad:
        assert key.startswith("base_model.model.") and key.endswith((".lora_A.weight", ".lora_B.weight")), key
        module = key[len("base_model.model.") :].rsplit(".lora_", 1)[0]
        if module in done:
            continue
        done.add(module)
        A = ad[f"base_model.model.{module}.lora_A.weight"]  # [r, in]
        B = ad[f"base_model.model.{module}.lora_B.weight"]  # [out, r]
        assert A.shape[0] == acfg["r"] and B.shape[1] == acfg["r"]
        delta = (B @ A) * scale  # [out, in]
        name = module[len(module_prefix) :] + ".weight"
        if acfg["fan_in_fan_out"]:
            delta = delta.T
        assert w[name].shape == delta.shape, (name, w[name].shape, delta.shape)
        w[name] = w[name] + delta
    return w


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(cfg, w, ids):
    d, H = cfg["n_embd"], cfg["n_head"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    act = {"gelu_new": gelu_new, "gelu_pytorch_tanh": gelu_new, "relu": torch.relu}[cfg.get("activation_function", "gelu_new")]
    T = len(ids)
    x = w["wte.weight"][ids] + w["wpe.weight"][:T]
    hd = d // H
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]  # Conv1D: x @ W[in, out]
        q, k, v = qkv.split(d, dim=-1)
        q, k, v = (t.view(T, H, hd).transpose(0, 1) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
        scores = scores.masked_fill(~causal, float("-inf"))
        a = torch.softmax(scores, -1) @ v
        a = a.transpose(0, 1).reshape(T, d)
        x = x + a @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        x = x + act(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"]) @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"], eps)
    head = w["wte.weight"] if cfg.get("tie_word_embeddings", True) else w["lm_head.weight"]
    return x @ head.T


def rope_inv_freq(cfg, head_dim):
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    theta = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=F64) / head_dim))
    kind = rope.get("rope_type", rope.get("type", "default"))
    if kind == "linear":
        inv = inv / rope["factor"]
    elif kind == "llama3":
        factor, lo, hi = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
        old = rope["original_max_position_embeddings"]
        lo_wav, hi_wav = old / lo, old / hi
        wav = 2 * math.pi / inv
        scaled = torch.where(wav > lo_wav, inv / factor, inv)
        smooth = (old / wav - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wav < hi_wav) & ~(wav > lo_wav)
        inv = torch.where(medium, smoothed, scaled)
    else:
        assert kind == "default", kind
    return inv


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def llama_forward(cfg, w, ids):
    d = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or d // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    qwen2 = cfg["model_type"] == "qwen2"
    T = len(ids)
    inv = rope_inv_freq(cfg, hd)
    freqs = torch.arange(T, dtype=F64)[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))

    def lin(x, name):
        y = x @ w[name + ".weight"].T  # nn.Linear weight [out, in]
        return y + w[name + ".bias"] if name + ".bias" in w else y

    x = w["embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").view(T, H, hd).transpose(0, 1)
        k = lin(h, p + "self_attn.k_proj").view(T, KV, hd).transpose(0, 1)
        v = lin(h, p + "self_attn.v_proj").view(T, KV, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=0)
        v = v.repeat_interleave(H // KV, dim=0)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        scores = scores.masked_fill(~causal, float("-inf"))
        a = (torch.softmax(scores, -1) @ v).transpose(0, 1).reshape(T, H * hd)
        x = x + lin(a, p + "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = lin(h, p + "mlp.gate_proj")
        x = x + lin(torch.nn.functional.silu(g) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms_norm(x, w["norm.weight"], eps)
    head = w["embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    del qwen2
    return x @ head.T


def run_case(case):
    cfg, raw = load_dir(case["model_dir"])
    gpt2 = cfg["model_type"] == "gpt2"
    prefix = "transformer." if gpt2 else "model."
    w = strip(raw, prefix)
    if case.get("adapter_dir"):
        w = merge_peft(cfg, w, case["adapter_dir"], prefix)
    fwd = gpt2_forward if gpt2 else llama_forward
    with torch.no_grad():
        return [fwd(cfg, w, torch.tensor(row)).tolist() for row in case["rows"]]


def main():
    cases = json.load(open(sys.argv[1]))
    out = [{"name": c["name"], "logits": run_case(c)} for c in cases]
    json.dump(out, open(sys.argv[2], "w"))
    print(f"torch {torch.__version__}: {len(out)} cases")


if __name__ == "__main__":
    main()
