// Relative family (DeBERTa-v3's disentangled attention): adds the content-to-position and
// position-to-content terms to the scaled scores before the softmax. For head h, query i and
// key j < n, with δ = index[i, j] (the table row of the bucketed distance i − j):
//   scores[h, i, j] += c2p[h, i, δ] + p2c[h, j, δ]
// where c2p = (Q_h · P_kᵀ) / s and p2c = (K_h · P_qᵀ) / s were made by two batched matmuls
// (rows of rp floats). One thread per (h, i, j).
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   scores  [heads, N, Np]   read_write
//   2: storage   c2p     [heads, N, Rp]   read   (bound to a dummy when terms has no bit 1)
//   3: storage   p2c     [heads, N, Rp]   read   (bound to a dummy when terms has no bit 2)
//   4: storage   index   [N, N]           read (u32)

struct Params {
    n: u32,
    np: u32,
    heads: u32,
    rp: u32,
    // bit 1: c2p, bit 2: p2c
    terms: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> scores: array<f32>;
@group(0) @binding(2) var<storage, read> c2p: array<f32>;
@group(0) @binding(3) var<storage, read> p2c: array<f32>;
@group(0) @binding(4) var<storage, read> index: array<u32>;

const WG: u32 = 64u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x + gid.y * 65535u * WG;
    if (idx >= p.heads * p.n * p.n) {
        return;
    }
    let h = idx / (p.n * p.n);
    let i = (idx / p.n) % p.n;
    let j = idx % p.n;
    let delta = index[i * p.n + j];
    var add = 0.0;
    if ((p.terms & 1u) != 0u) {
        add += c2p[(h * p.n + i) * p.rp + delta];
    }
    if ((p.terms & 2u) != 0u) {
        add += p2c[(h * p.n + j) * p.rp + delta];
    }
    let at = (h * p.n + i) * p.np + j;
    scores[at] = scores[at] + add;
}
