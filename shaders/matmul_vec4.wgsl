// Matmul family, fast path: C = act(alpha * A · B + bias) for K and N multiples of 4, all f32,
// optionally batched (workgroup_id.z) with strides and offsets, and with B optionally given
// transposed. The forward pass uses it for every linear layer and, batched over heads, for
// attention's Q·Kᵀ and P·V. Operands are read as vec4; each thread keeps a 4 x 4 block of C in
// four vec4 registers (named, not an array, so they stay in registers). BM x BN outputs per
// workgroup; the Rust side instantiates several BM/BN (the {{...}} constants). Params is in
// matmul_params.wgsl; the bindings, tile loading and store in matmul_vec4_tiles.wgsl.
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   A     vec4   read         element (r, k) at a_off + [z] + r*lda + k/4
//   2: storage   B     vec4   read         (k, n) at b_off + [z] + k*ldb + n/4,
//                                          or, transposed, (n, k) at ... + n*ldb + k/4
//   3: storage   bias  [N/4]  vec4   read
//   4: storage   C     vec4   read_write   (r, n) at c_off + [z] + r*ldc + n/4
//   [z]: (z % inner) * x_batch + (z / inner) * x_outer for x = a, b, c (matmul_params.wgsl)

const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
const BK: u32 = 16u;
const WX: u32 = BN / 4u;
const WY: u32 = BM / 4u;
const THREADS: u32 = WX * WY;

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * WX + tx;
    let z = wid.z;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        load_tiles(tid, z, row0, col0, k0);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let av = As[kk * (BM / 4u) + ty];
            let bv = Bs[kk * (BN / 4u) + tx];
            acc0 = fma(vec4<f32>(av.x), bv, acc0);
            acc1 = fma(vec4<f32>(av.y), bv, acc1);
            acc2 = fma(vec4<f32>(av.z), bv, acc2);
            acc3 = fma(vec4<f32>(av.w), bv, acc3);
        }
        workgroupBarrier();
    }
    let gc = col0 + 4u * tx;
    if (gc >= p.n) {
        return;
    }
    var bv = vec4<f32>(0.0);
    if (p.has_bias != 0u) {
        bv = bias[gc / 4u];
    }
    let r = row0 + 4u * ty;
    store(z, r, gc, acc0, bv);
    store(z, r + 1u, gc, acc1, bv);
    store(z, r + 2u, gc, acc2, bv);
    store(z, r + 3u, gc, acc3, bv);
}
