// Matmul family: C = act(A · B + bias), all f32, row-major.
// A tile of BM x BN outputs per workgroup, TM x TN per thread, K in steps of BK. The Rust side
// instantiates several tile sizes (the {{...}} constants) and picks one per shape: big tiles for
// big products, small ones when M (the token count) is small so that enough workgroups run.
//
// Bindings (group 0):
//   0: uniform   Params
//   1: storage   A     [M, K]   read
//   2: storage   B     [K, N]   read   (weights stored [in, out])
//   3: storage   bias  [N]      read
//   4: storage   C     [M, N]   read_write

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
const BK: u32 = {{BK}}u;
const TM: u32 = {{TM}}u;
const TN: u32 = {{TN}}u;
const WX: u32 = BN / TN;
const WY: u32 = BM / TM;
const THREADS: u32 = WX * WY;

// As is stored k-major (As[kk * BM + row]) so the inner loop reads rows contiguously.
var<workgroup> As: array<f32, BK * BM>;
var<workgroup> Bs: array<f32, BK * BN>;

@compute @workgroup_size(WX, WY, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lid.y * WX + lid.x;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    var acc: array<f32, TM * TN>;
    for (var i = 0u; i < TM * TN; i++) {
        acc[i] = 0.0;
    }
    var ra: array<f32, TM>;
    var rb: array<f32, TN>;
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        for (var i = tid; i < BM * BK; i += THREADS) {
            let r = i / BK;
            let kk = i % BK;
            let gr = row0 + r;
            let gk = k0 + kk;
            var v = 0.0;
            if (gr < p.m && gk < p.k) {
                v = a[gr * p.k + gk];
            }
            As[kk * BM + r] = v;
        }
        for (var i = tid; i < BK * BN; i += THREADS) {
            let kk = i / BN;
            let cc = i % BN;
            let gk = k0 + kk;
            let gc = col0 + cc;
            var v = 0.0;
            if (gk < p.k && gc < p.n) {
                v = b[gk * p.n + gc];
            }
            Bs[kk * BN + cc] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            for (var i = 0u; i < TM; i++) {
                ra[i] = As[kk * BM + lid.y + i * WY];
            }
            for (var j = 0u; j < TN; j++) {
                rb[j] = Bs[kk * BN + lid.x + j * WX];
            }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i * TN + j] = fma(ra[i], rb[j], acc[i * TN + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < TM; i++) {
        let r = row0 + lid.y + i * WY;
        if (r >= p.m) {
            continue;
        }
        for (var j = 0u; j < TN; j++) {
            let cc = col0 + lid.x + j * WX;
            if (cc < p.n) {
                var v = acc[i * TN + j];
                if (p.has_bias != 0u) {
                    v += bias[cc];
                }
                c[r * p.n + cc] = activate(v, p.act);
            }
        }
    }
}
