enable f16;
enable wgpu_cooperative_matrix;

// Matmul on cooperative matrices (tensor cores through wgpu's `wgpu_cooperative_matrix`):
// C = act(A · B + bias) as matmul.wgsl computes it, with A and B rounded to f16 in workgroup
// memory and the products accumulated in f32 (`--precision fast`; the exact kernels stay the
// default). Same bindings and Params as matmul.wgsl (m, n, k, act, has_bias; plain row-major
// operands). The `enable` lines are hoisted above common.wgsl by src/backend/gpu/kernels.rs.
//
// A workgroup of 128 invocations (four subgroups of 32: the Rust side only builds this kernel
// where the adapter's subgroups are exactly 32 wide) computes a 64 x 64 tile of C; each
// subgroup one 32 x 32 quadrant as 2 x 2 fragments of 16 x 16. Every cooperative operation is
// outside any branch (they need uniform control flow): the edges are zero-padded while the
// tiles are filled, and the epilogue goes through workgroup memory.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 32u;
const THREADS: u32 = 128u;

// [BM][BK] and [BK][BN], row-major, in f16
var<workgroup> As: array<f16, 2048>;
var<workgroup> Bs: array<f16, 2048>;
// the finished tile, [BM][BN]
var<workgroup> Cs: array<f32, 4096>;

@compute @workgroup_size(128, 1, 1)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let sg = tid / 32u;
    // this subgroup's quadrant within the tile
    let qr = (sg / 2u) * 32u;
    let qc = (sg % 2u) * 32u;
    let lda = BK;
    let ldb = BN;
    var c00 = coop_mat16x16<f32, C>();
    var c01 = coop_mat16x16<f32, C>();
    var c10 = coop_mat16x16<f32, C>();
    var c11 = coop_mat16x16<f32, C>();
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        for (var i = tid; i < BM * BK; i += THREADS) {
            let gr = row0 + i / BK;
            let gk = k0 + i % BK;
            var v = 0.0;
            if (gr < p.m && gk < p.k) {
                v = a[gr * p.k + gk];
            }
            As[i] = f16(v);
        }
        for (var i = tid; i < BK * BN; i += THREADS) {
            let gk = k0 + i / BN;
            let gc = col0 + i % BN;
            var v = 0.0;
            if (gk < p.k && gc < p.n) {
                v = b[gk * p.n + gc];
            }
            Bs[i] = f16(v);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk += 16u) {
            let ia0 = qr * BK + kk;
            let ia1 = (qr + 16u) * BK + kk;
            let ib0 = kk * BN + qc;
            let ib1 = kk * BN + qc + 16u;
            let a0 = coopLoadT<coop_mat16x16<f16, A>>(&As[ia0], lda);
            let a1 = coopLoadT<coop_mat16x16<f16, A>>(&As[ia1], lda);
            let b0 = coopLoadT<coop_mat16x16<f16, B>>(&Bs[ib0], ldb);
            let b1 = coopLoadT<coop_mat16x16<f16, B>>(&Bs[ib1], ldb);
            c00 = coopMultiplyAdd(a0, b0, c00);
            c01 = coopMultiplyAdd(a0, b1, c01);
            c10 = coopMultiplyAdd(a1, b0, c10);
            c11 = coopMultiplyAdd(a1, b1, c11);
        }
        workgroupBarrier();
    }
    let ic00 = qr * BN + qc;
    let ic01 = qr * BN + qc + 16u;
    let ic10 = (qr + 16u) * BN + qc;
    let ic11 = (qr + 16u) * BN + qc + 16u;
    coopStoreT(c00, &Cs[ic00], ldb);
    coopStoreT(c01, &Cs[ic01], ldb);
    coopStoreT(c10, &Cs[ic10], ldb);
    coopStoreT(c11, &Cs[ic11], ldb);
    workgroupBarrier();
    for (var i = tid; i < BM * BN; i += THREADS) {
        let r = row0 + i / BN;
        let cc = col0 + i % BN;
        if (r < p.m && cc < p.n) {
            var v = Cs[i];
            if (p.has_bias != 0u) {
                v += bias[cc];
            }
            c[r * p.n + cc] = activate(v, p.act);
        }
    }
}
