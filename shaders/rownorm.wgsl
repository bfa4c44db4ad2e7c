// The row normalization shared by layernorm.wgsl and embedding.wgsl (after reduce.wgsl);
// prepended by src/backend/gpu/kernels.rs. Both kernels define the `out`, `w` and `b` bindings
// it uses.

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
