// Gated feed-forward family (ModernBERT's GeGLU): the input layer's output y [N, 2I] is the
// unit half then the gate half; one thread per (token t, unit c < I):
//   out[t, c] = act(y[t, c]) * y[t, I + c]
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   y      [N, 2I]   read
//   2: storage   out    [N, I]    read_write

struct Params {
    n: u32,
    inter: u32,
    act: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x + gid.y * 65535u * WG;
    if (idx >= p.n * p.inter) {
        return;
    }
    let row = (idx / p.inter) * 2u * p.inter;
    let c = idx % p.inter;
    out[idx] = activate(y[row + c], p.act) * y[row + p.inter + c];
}
