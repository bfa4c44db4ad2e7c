// Layernorm family: out[row] = LayerNorm(x[row] + residual[row]) * w + b, one workgroup per row.
// The sum is written to `out` first and normalized in place (each thread touches the same
// elements in every pass, so no extra barrier is needed for them).
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   x         [rows, dim]   read
//   2: storage   residual  [rows, dim]   read
//   3: storage   w         [dim]         read
//   4: storage   b         [dim]         read
//   5: storage   out       [rows, dim]   read_write

struct Params {
    rows: u32,
    dim: u32,
    eps: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> residual: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
var<workgroup> red: array<f32, WG>;

fn reduce_sum(tid: u32, v: f32) -> f32 {
    red[tid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            red[tid] = red[tid] + red[tid + s];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lid.x;
    let row = wid.x;
    let base = row * p.dim;
    var s = 0.0;
    for (var i = tid; i < p.dim; i += WG) {
        let v = x[base + i] + residual[base + i];
        out[base + i] = v;
        s += v;
    }
    let mean = reduce_sum(tid, s) / f32(p.dim);
    var s2 = 0.0;
    for (var i = tid; i < p.dim; i += WG) {
        let dv = out[base + i] - mean;
        s2 += dv * dv;
    }
    let var_ = reduce_sum(tid, s2) / f32(p.dim);
    let inv = 1.0 / sqrt(var_ + p.eps);
    for (var i = tid; i < p.dim; i += WG) {
        out[base + i] = (out[base + i] - mean) * inv * w[i] + b[i];
    }
}
