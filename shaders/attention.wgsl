// Attention family: for one query token and one head per workgroup,
//   scores = Q·Kᵀ · scale + (1 - mask) · f32::MIN   (HF's additive padding mask)
//   P      = softmax(scores)            -> written out for the views
//   ctx    = P · V
// Q, K and V are read from the fused projection qkv [N, 3H] (columns Q | K | V, head h at
// h * head_dim).
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   qkv    [N, 3H]          read
//   2: storage   mask   [N]              read   (1.0 keep, 0.0 padding)
//   3: storage   probs  [heads, N, N]    read_write
//   4: storage   ctx    [N, H]           read_write
//   5: storage   head_keep [heads]       read   (1.0, or 0.0 for a head switched off: its
//                                               probabilities are zeroed after the softmax)

struct Params {
    n: u32,
    heads: u32,
    head_dim: u32,
    hidden: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<storage, read_write> ctx: array<f32>;
@group(0) @binding(5) var<storage, read> head_keep: array<f32>;

const WG: u32 = 128u;
const MAX_HEAD_DIM: u32 = 256u;

var<workgroup> q_row: array<f32, MAX_HEAD_DIM>;
@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lid.x;
    let q = wid.x;
    let h = wid.y;
    let n = p.n;
    let d = p.head_dim;
    let stride = 3u * p.hidden;
    let qcol = h * d;
    let kcol = p.hidden + h * d;
    let vcol = 2u * p.hidden + h * d;
    for (var c = tid; c < d; c += WG) {
        q_row[c] = qkv[q * stride + qcol + c];
    }
    workgroupBarrier();

    let base = (h * n + q) * n;
    var local_max = -3.402823466e38;
    for (var k = tid; k < n; k += WG) {
        var s = 0.0;
        for (var c = 0u; c < d; c++) {
            s = fma(q_row[c], qkv[k * stride + kcol + c], s);
        }
        s = s * p.scale + (1.0 - mask[k]) * -3.402823466e38;
        probs[base + k] = s;
        local_max = max(local_max, s);
    }
    let m = reduce_max(tid, local_max);
    var local_sum = 0.0;
    for (var k = tid; k < n; k += WG) {
        let e = exp(probs[base + k] - m);
        probs[base + k] = e;
        local_sum += e;
    }
    let total = reduce_sum(tid, local_sum);
    let keep = head_keep[h];
    for (var k = tid; k < n; k += WG) {
        probs[base + k] = probs[base + k] / total * keep;
    }
    storageBarrier();
    workgroupBarrier();

    for (var c = tid; c < d; c += WG) {
        var acc = 0.0;
        for (var k = 0u; k < n; k++) {
            acc = fma(probs[base + k], qkv[k * stride + vcol + c], acc);
        }
        ctx[q * p.hidden + qcol + c] = acc;
    }
}
