// Rotary family (ModernBERT's positions): the queries and keys turned in place in the fused
// [Np, 3H] projection, one thread per (token t, head h, pair i < d/2), for q and for k:
//   (x_i, x_{i+d/2}) <- (x_i cos_i - x_{i+d/2} sin_i,  x_{i+d/2} cos_{i+d/2} + x_i sin_{i+d/2})
// with cos, sin the [N, d] tables of the layer's base (transformers' x·cos + rotate_half(x)·sin).
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   qkv    [Np, 3H]   read_write
//   2: storage   cos    [N, d]     read
//   3: storage   sin    [N, d]     read

struct Params {
    n: u32,
    heads: u32,
    head_dim: u32,
    hidden: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> cos_t: array<f32>;
@group(0) @binding(3) var<storage, read> sin_t: array<f32>;

const WG: u32 = 64u;

fn turn(base: u32, t: u32, i: u32) {
    let half = p.head_dim / 2u;
    let lo = qkv[base + i];
    let hi = qkv[base + i + half];
    let row = t * p.head_dim;
    qkv[base + i] = lo * cos_t[row + i] - hi * sin_t[row + i];
    qkv[base + i + half] = hi * cos_t[row + i + half] + lo * sin_t[row + i + half];
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let half = p.head_dim / 2u;
    let per_token = p.heads * half;
    let idx = gid.x + gid.y * 65535u * WG;
    if (idx >= p.n * per_token) {
        return;
    }
    let t = idx / per_token;
    let h = (idx % per_token) / half;
    let i = idx % half;
    let row = t * 3u * p.hidden + h * p.head_dim;
    turn(row, t, i);
    turn(row + p.hidden, t, i);
}
