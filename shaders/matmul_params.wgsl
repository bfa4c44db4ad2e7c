// The uniform of the matmul family (matmul.wgsl, matmul_vec4.wgsl, matmul_vec4_8x8.wgsl),
// prepended to each by src/backend/gpu/kernels.rs. Keep in sync with `MatmulParams` there.
// The scalar kernel (matmul.wgsl) uses m, n, k, act and has_bias with plain row-major operands.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    act: u32,
    has_bias: u32,
    // 1: B is given transposed, as [N, K] rows (attention's K matrix)
    b_trans: u32,
    // row strides, offsets and per-batch strides (workgroup_id.z) of A, B, C, in elements of
    // the binding (vec4 here, f32 in matmul.wgsl)
    lda: u32,
    ldb: u32,
    ldc: u32,
    a_off: u32,
    b_off: u32,
    c_off: u32,
    a_batch: u32,
    b_batch: u32,
    c_batch: u32,
    // result scale, applied before the bias
    alpha: f32,
    // a second batch level (a batch of sequences, each batched over heads): z splits into
    // z % inner, strided by *_batch, and z / inner, strided by *_outer (inner = 0xffffffff:
    // one level)
    inner: u32,
    a_outer: u32,
    b_outer: u32,
    c_outer: u32,
}
