// Matmul family, fast path: C = act(alpha * A · B + bias) for K and N multiples of 4, all f32,
// optionally batched (workgroup_id.z) with strides and offsets, and with B optionally given
// transposed. The forward pass uses it for every linear layer and, batched over heads, for
// attention's Q·Kᵀ and P·V. Operands are read as vec4; each thread keeps a 4 x 4 block of C in
// four vec4 registers (named, not an array, so they stay in registers). BM x BN outputs per
// workgroup; the Rust side instantiates several BM/BN (the {{...}} constants).
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   A     vec4   read         element (r, k) at a_off + z*a_batch + r*lda + k/4
//   2: storage   B     vec4   read         (k, n) at b_off + z*b_batch + k*ldb + n/4,
//                                          or, transposed, (n, k) at ... + n*ldb + k/4
//   3: storage   bias  [N/4]  vec4   read
//   4: storage   C     vec4   read_write   (r, n) at c_off + z*c_batch + r*ldc + n/4

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
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> c: array<vec4<f32>>;

const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
const BK: u32 = 16u;
const WX: u32 = BN / 4u;
const WY: u32 = BM / 4u;
const THREADS: u32 = WX * WY;

// As[k * (BM/4) + r/4] holds rows r..r+3 of column k; Bs[k * (BN/4) + j] holds columns 4j..4j+3.
var<workgroup> As: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> Bs: array<vec4<f32>, BK * BN / 4u>;

fn act4(v: vec4<f32>, code: u32) -> vec4<f32> {
    return vec4<f32>(activate(v.x, code), activate(v.y, code), activate(v.z, code), activate(v.w, code));
}

// Loads the A tile (and B's, when transposed): rows of K read as vec4, stored k-major.
fn load_tiles(tid: u32, z: u32, row0: u32, col0: u32, k0: u32) {
    for (var i = tid; i < BM * BK / 4u; i += THREADS) {
        let r = i / (BK / 4u);
        let c4 = i % (BK / 4u);
        let gr = row0 + r;
        let gk = k0 + 4u * c4;
        var v = vec4<f32>(0.0);
        if (gr < p.m && gk < p.k) {
            v = a[p.a_off + z * p.a_batch + gr * p.lda + gk / 4u];
        }
        let slot = r / 4u;
        let lane = r % 4u;
        As[(4u * c4 + 0u) * (BM / 4u) + slot][lane] = v.x;
        As[(4u * c4 + 1u) * (BM / 4u) + slot][lane] = v.y;
        As[(4u * c4 + 2u) * (BM / 4u) + slot][lane] = v.z;
        As[(4u * c4 + 3u) * (BM / 4u) + slot][lane] = v.w;
    }
    if (p.b_trans != 0u) {
        for (var i = tid; i < BN * BK / 4u; i += THREADS) {
            let nl = i / (BK / 4u);
            let c4 = i % (BK / 4u);
            let gn = col0 + nl;
            let gk = k0 + 4u * c4;
            var v = vec4<f32>(0.0);
            if (gn < p.n && gk < p.k) {
                v = b[p.b_off + z * p.b_batch + gn * p.ldb + gk / 4u];
            }
            let slot = nl / 4u;
            let lane = nl % 4u;
            Bs[(4u * c4 + 0u) * (BN / 4u) + slot][lane] = v.x;
            Bs[(4u * c4 + 1u) * (BN / 4u) + slot][lane] = v.y;
            Bs[(4u * c4 + 2u) * (BN / 4u) + slot][lane] = v.z;
            Bs[(4u * c4 + 3u) * (BN / 4u) + slot][lane] = v.w;
        }
    } else {
        for (var i = tid; i < BK * BN / 4u; i += THREADS) {
            let r = i / (BN / 4u);
            let c4 = i % (BN / 4u);
            let gk = k0 + r;
            let gc = col0 + 4u * c4;
            var v = vec4<f32>(0.0);
            if (gk < p.k && gc < p.n) {
                v = b[p.b_off + z * p.b_batch + gk * p.ldb + gc / 4u];
            }
            Bs[r * (BN / 4u) + c4] = v;
        }
    }
}

fn store(z: u32, r: u32, gc: u32, acc: vec4<f32>, bv: vec4<f32>) {
    if (r < p.m) {
        c[p.c_off + z * p.c_batch + r * p.ldc + gc / 4u] = act4(p.alpha * acc + bv, p.act);
    }
}

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
