// Workgroup reductions and the row normalization shared by the kernels that reduce over a row
// (attention, softmax, layernorm, embedding); prepended to them by src/backend/gpu/kernels.rs.
// Each including kernel defines WG (its workgroup size); layernorm and embedding also define
// the `out`, `w` and `b` bindings that `normalize_row` uses.

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

fn reduce_max(tid: u32, v: f32) -> f32 {
    red[tid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s) {
            red[tid] = max(red[tid], red[tid + s]);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

// out[base..base+dim] holds a row whose values sum to `sum`: replace it by
// (row - mean) / sqrt(var + eps) * w + b. Two passes, as PyTorch's layernorm.
fn normalize_row(tid: u32, base: u32, dim: u32, eps: f32, sum: f32) {
    let mean = reduce_sum(tid, sum) / f32(dim);
    var s2 = 0.0;
    for (var i = tid; i < dim; i += WG) {
        let dv = out[base + i] - mean;
        s2 += dv * dv;
    }
    let var_ = reduce_sum(tid, s2) / f32(dim);
    let inv = 1.0 / sqrt(var_ + eps);
    for (var i = tid; i < dim; i += WG) {
        out[base + i] = (out[base + i] - mean) * inv * w[i] + b[i];
    }
}
