// Matmul family, fast path: C = act(A · B + bias) for K and N multiples of 4, all f32.
// Operands are read as vec4; each thread keeps a 4 x 4 block of C in four vec4 registers
// (named, not an array, so they stay in registers). BM x BN outputs per workgroup; the Rust
// side instantiates several BM/BN (the {{...}} constants) and picks one per shape.
//
// Bindings (group 0):
//   0: uniform   Params  (as in matmul.wgsl)
//   1: storage   A     [M, K/4] vec4   read
//   2: storage   B     [K, N/4] vec4   read   (weights stored [in, out])
//   3: storage   bias  [N/4]    vec4   read
//   4: storage   C     [M, N/4] vec4   read_write

struct Params {
    m: u32,
    n: u32,
    k: u32,
    act: u32,
    has_bias: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
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

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * WX + tx;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let k4 = p.k / 4u;
    let n4 = p.n / 4u;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // A tile: BM rows x BK columns, read as vec4 along K, stored k-major.
        for (var i = tid; i < BM * BK / 4u; i += THREADS) {
            let r = i / (BK / 4u);
            let c4 = i % (BK / 4u);
            let gr = row0 + r;
            let gk = k0 + 4u * c4;
            var v = vec4<f32>(0.0);
            if (gr < p.m && gk < p.k) {
                v = a[gr * k4 + gk / 4u];
            }
            let slot = r / 4u;
            let lane = r % 4u;
            As[(4u * c4 + 0u) * (BM / 4u) + slot][lane] = v.x;
            As[(4u * c4 + 1u) * (BM / 4u) + slot][lane] = v.y;
            As[(4u * c4 + 2u) * (BM / 4u) + slot][lane] = v.z;
            As[(4u * c4 + 3u) * (BM / 4u) + slot][lane] = v.w;
        }
        // B tile: BK rows x BN columns.
        for (var i = tid; i < BK * BN / 4u; i += THREADS) {
            let r = i / (BN / 4u);
            let c4 = i % (BN / 4u);
            let gk = k0 + r;
            let gc = col0 + 4u * c4;
            var v = vec4<f32>(0.0);
            if (gk < p.k && gc < p.n) {
                v = b[gk * n4 + gc / 4u];
            }
            Bs[r * (BN / 4u) + c4] = v;
        }
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
    if (r < p.m) {
        c[r * n4 + gc / 4u] = act4(acc0 + bv, p.act);
    }
    if (r + 1u < p.m) {
        c[(r + 1u) * n4 + gc / 4u] = act4(acc1 + bv, p.act);
    }
    if (r + 2u < p.m) {
        c[(r + 2u) * n4 + gc / 4u] = act4(acc2 + bv, p.act);
    }
    if (r + 3u < p.m) {
        c[(r + 3u) * n4 + gc / 4u] = act4(acc3 + bv, p.act);
    }
}
