// Matmul family, big-product path: the same operation, operands and Params as
// matmul_vec4.wgsl, with a 128 x 128 tile per workgroup of 16 x 16 threads; each thread keeps an
// 8 x 8 block of C (rows 4ty..4ty+3 and 64+4ty.., columns 4tx.. and 64+4tx..) in sixteen named
// vec4 registers, so every shared-memory read feeds 16 FMAs. Written out by hand (WGSL has no
// macros): the names are acc{row half}{row}{column half}.
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   A     vec4   read         element (r, k) at a_off + [z] + r*lda + k/4
//   2: storage   B     vec4   read         (k, n) at b_off + [z] + k*ldb + n/4,
//                                          or, transposed, (n, k) at ... + n*ldb + k/4
//   3: storage   bias  [N/4]  vec4   read
//   4: storage   C     vec4   read_write   (r, n) at c_off + [z] + r*ldc + n/4
//   [z]: (z % inner) * x_batch + (z / inner) * x_outer for x = a, b, c (matmul_params.wgsl)

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = {{BK}}u;
const WX: u32 = 16u;
const WY: u32 = 16u;
const THREADS: u32 = WX * WY;

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * WX + tx;
    let z = wid.z;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    var acc000 = vec4<f32>(0.0);
    var acc001 = vec4<f32>(0.0);
    var acc010 = vec4<f32>(0.0);
    var acc011 = vec4<f32>(0.0);
    var acc020 = vec4<f32>(0.0);
    var acc021 = vec4<f32>(0.0);
    var acc030 = vec4<f32>(0.0);
    var acc031 = vec4<f32>(0.0);
    var acc100 = vec4<f32>(0.0);
    var acc101 = vec4<f32>(0.0);
    var acc110 = vec4<f32>(0.0);
    var acc111 = vec4<f32>(0.0);
    var acc120 = vec4<f32>(0.0);
    var acc121 = vec4<f32>(0.0);
    var acc130 = vec4<f32>(0.0);
    var acc131 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        load_tiles(tid, z, row0, col0, k0);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let a0 = As[kk * (BM / 4u) + ty];
            let a1 = As[kk * (BM / 4u) + ty + 16u];
            let b0 = Bs[kk * (BN / 4u) + tx];
            let b1 = Bs[kk * (BN / 4u) + tx + 16u];
            let s00 = vec4<f32>(a0.x);
            acc000 = fma(s00, b0, acc000);
            acc001 = fma(s00, b1, acc001);
            let s01 = vec4<f32>(a0.y);
            acc010 = fma(s01, b0, acc010);
            acc011 = fma(s01, b1, acc011);
            let s02 = vec4<f32>(a0.z);
            acc020 = fma(s02, b0, acc020);
            acc021 = fma(s02, b1, acc021);
            let s03 = vec4<f32>(a0.w);
            acc030 = fma(s03, b0, acc030);
            acc031 = fma(s03, b1, acc031);
            let s10 = vec4<f32>(a1.x);
            acc100 = fma(s10, b0, acc100);
            acc101 = fma(s10, b1, acc101);
            let s11 = vec4<f32>(a1.y);
            acc110 = fma(s11, b0, acc110);
            acc111 = fma(s11, b1, acc111);
            let s12 = vec4<f32>(a1.z);
            acc120 = fma(s12, b0, acc120);
            acc121 = fma(s12, b1, acc121);
            let s13 = vec4<f32>(a1.w);
            acc130 = fma(s13, b0, acc130);
            acc131 = fma(s13, b1, acc131);
        }
        workgroupBarrier();
    }
    let gc0 = col0 + 4u * tx + 0u;
    if (gc0 < p.n) {
        var bv = vec4<f32>(0.0);
        if (p.has_bias != 0u) {
            bv = bias[gc0 / 4u];
        }
        store(z, row0 + 0u + 4u * ty + 0u, gc0, acc000, bv);
        store(z, row0 + 0u + 4u * ty + 1u, gc0, acc010, bv);
        store(z, row0 + 0u + 4u * ty + 2u, gc0, acc020, bv);
        store(z, row0 + 0u + 4u * ty + 3u, gc0, acc030, bv);
        store(z, row0 + 64u + 4u * ty + 0u, gc0, acc100, bv);
        store(z, row0 + 64u + 4u * ty + 1u, gc0, acc110, bv);
        store(z, row0 + 64u + 4u * ty + 2u, gc0, acc120, bv);
        store(z, row0 + 64u + 4u * ty + 3u, gc0, acc130, bv);
    }
    let gc1 = col0 + 4u * tx + 64u;
    if (gc1 < p.n) {
        var bv = vec4<f32>(0.0);
        if (p.has_bias != 0u) {
            bv = bias[gc1 / 4u];
        }
        store(z, row0 + 0u + 4u * ty + 0u, gc1, acc001, bv);
        store(z, row0 + 0u + 4u * ty + 1u, gc1, acc011, bv);
        store(z, row0 + 0u + 4u * ty + 2u, gc1, acc021, bv);
        store(z, row0 + 0u + 4u * ty + 3u, gc1, acc031, bv);
        store(z, row0 + 64u + 4u * ty + 0u, gc1, acc101, bv);
        store(z, row0 + 64u + 4u * ty + 1u, gc1, acc111, bv);
        store(z, row0 + 64u + 4u * ty + 2u, gc1, acc121, bv);
        store(z, row0 + 64u + 4u * ty + 3u, gc1, acc131, bv);
    }
}
