// Layernorm family: out[row] = LayerNorm(sum_s x[s][row] + x_bias + residual[row]) * w + b,
// one workgroup per row. x holds `parts` partial products of a split-K matmul (the linear layer
// before this layernorm), `part_stride` floats apart; their sum plus the layer's bias is the
// layer's output, so the split costs no extra pass. The sum is written to `out` first and
// normalized in place (each thread touches the same elements in every pass, so no barrier is
// needed for them).
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   x         [parts, rows, dim]   read
//   2: storage   residual  [rows, dim]          read
//   3: storage   w         [dim]                read
//   4: storage   b         [dim]                read
//   5: storage   out       [rows, dim]          read_write
//   6: storage   x_bias    [dim]                read

struct Params {
    rows: u32,
    dim: u32,
    eps: f32,
    parts: u32,
    part_stride: u32,
    has_bias: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> residual: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> x_bias: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lid.x;
    let row = wid.x;
    let base = row * p.dim;
    var s = 0.0;
    for (var i = tid; i < p.dim; i += WG) {
        var v = residual[base + i];
        for (var part = 0u; part < p.parts; part++) {
            v += x[part * p.part_stride + base + i];
        }
        if (p.has_bias != 0u) {
            v += x_bias[i];
        }
        out[base + i] = v;
        s += v;
    }
    normalize_row(tid, base, p.dim, p.eps, s);
}

// The same sum without the norm (a pre-norm layer's residual add): out[row] = residual[row] +
// (sum_s x[s][row] + x_bias), the bias added to the product first as nn.Linear does.
@compute @workgroup_size(WG, 1, 1)
fn add_residual(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let base = wid.x * p.dim;
    for (var i = lid.x; i < p.dim; i += WG) {
        var v = 0.0;
        for (var part = 0u; part < p.parts; part++) {
            v += x[part * p.part_stride + base + i];
        }
        if (p.has_bias != 0u) {
            v += x_bias[i];
        }
        out[base + i] = residual[base + i] + v;
    }
}
