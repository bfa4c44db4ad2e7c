// Embedding family: out[t] = LayerNorm(word[id_t] + position[pos_t] + token_type[type_t]) * w + b,
// one workgroup per token. For ALBERT the result [N, E] then goes through the E -> H projection
// (a matmul); for BERT (E = H) it is hidden state 0 itself.
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   ids        [N]       read (u32)
//   2: storage   type_ids   [N]       read (u32)
//   3: storage   word       [V, E]    read
//   4: storage   position   [P, E]    read
//   5: storage   token_type [T, E]    read
//   6: storage   w          [E]       read
//   7: storage   b          [E]       read
//   8: storage   out        [N, E]    read_write
//   9: storage   positions  [N]       read (u32): each token's row of the position table

// (Params is shared with layernorm.wgsl; this kernel uses n, dim and eps.)
struct Params {
    n: u32,
    dim: u32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
    _pad4: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> type_ids: array<u32>;
@group(0) @binding(3) var<storage, read> word: array<f32>;
@group(0) @binding(4) var<storage, read> position: array<f32>;
@group(0) @binding(5) var<storage, read> token_type: array<f32>;
@group(0) @binding(6) var<storage, read> w: array<f32>;
@group(0) @binding(7) var<storage, read> b: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;
@group(0) @binding(9) var<storage, read> positions: array<u32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lid.x;
    let t = wid.x;
    let e = p.dim;
    let base = t * e;
    let wrow = ids[t] * e;
    let trow = type_ids[t] * e;
    let prow = positions[t] * e;
    var s = 0.0;
    for (var i = tid; i < e; i += WG) {
        let v = word[wrow + i] + position[prow + i] + token_type[trow + i];
        out[base + i] = v;
        s += v;
    }
    normalize_row(tid, base, e, p.eps, s);
}
