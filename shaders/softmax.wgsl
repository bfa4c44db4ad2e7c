// Attention family, softmax step of the matmul-based attention (used when the head size is a
// multiple of 4): scores for head h and query q sit in `scratch` as one row of `np` (the token
// count rounded up to 4) values, already scaled by 1/sqrt(head_dim). This kernel adds HF's
// additive padding mask, takes the softmax over the first `n`, writes the probabilities to
// `probs` (unpadded, for the views) and back to `scratch` with zeros in the padding, ready for
// P·V. One workgroup per (q, h). A local layer (ModernBERT's) passes `window1` = its half
// window + 1: keys farther than the half window from the query are masked like padding (their
// probabilities are exact zeros); 0 is a global layer. A batch of sequences (padded to one
// length N) is the third workgroup dimension z: sequence z's scores, probabilities and key
// mask follow the previous sequence's.
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   mask     [B, N]            read   (1.0 keep, 0.0 padding)
//   2: storage   scratch  [B, heads, N, Np] read_write
//   3: storage   probs    [B, heads, N, N]  read_write
//   4: storage   head_keep [heads]          read   (1.0, or 0.0 for a head switched off: its
//                                                  probabilities are zeroed after the softmax)

struct Params {
    n: u32,
    np: u32,
    heads: u32,
    window1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<storage, read> head_keep: array<f32>;

const WG: u32 = 128u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lid.x;
    let row = (wid.z * p.heads + wid.y) * p.n + wid.x;
    let mask0 = wid.z * p.n;
    let src = row * p.np;
    let dst = row * p.n;
    var local_max = -3.402823466e38;
    let q = wid.x;
    for (var k = tid; k < p.n; k += WG) {
        var s = scratch[src + k] + (1.0 - mask[mask0 + k]) * -3.402823466e38;
        if (p.window1 != 0u && max(q, k) - min(q, k) >= p.window1) {
            s = -3.402823466e38;
        }
        scratch[src + k] = s;
        local_max = max(local_max, s);
    }
    let m = reduce_max(tid, local_max);
    var local_sum = 0.0;
    for (var k = tid; k < p.n; k += WG) {
        let e = exp(scratch[src + k] - m);
        scratch[src + k] = e;
        local_sum += e;
    }
    let total = reduce_sum(tid, local_sum);
    let keep = head_keep[wid.y];
    for (var k = tid; k < p.np; k += WG) {
        var v = 0.0;
        if (k < p.n) {
            v = scratch[src + k] / total * keep;
            probs[dst + k] = v;
        }
        scratch[src + k] = v;
    }
}
