// Matmul family, big-product path: C = act(A · B + bias) for K and N multiples of 4, all f32.
// A 128 x 128 tile per workgroup of 16 x 16 threads; each thread keeps an 8 x 8 block of C
// (rows 4ty..4ty+3 and 64+4ty.., columns 4tx.. and 64+4tx..) in sixteen named vec4 registers,
// so every shared-memory read feeds 16 FMAs. Written out by hand (WGSL has no macros): the
// names are acc{row half}{row}{column half}.
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

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 16u;
const WX: u32 = 16u;
const WY: u32 = 16u;
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
    for (var ch = 0u; ch < 2u; ch++) {
        let gc = col0 + 4u * tx + 64u * ch;
        if (gc >= p.n) {
            continue;
        }
        var bv = vec4<f32>(0.0);
        if (p.has_bias != 0u) {
            bv = bias[gc / 4u];
        }
        let r00 = row0 + 64u * 0u + 4u * ty + 0u;
        if (r00 < p.m) {
            let v = select(acc000, acc001, ch == 1u);
            c[r00 * n4 + gc / 4u] = act4(v + bv, p.act);
        }
        let r01 = row0 + 64u * 0u + 4u * ty + 1u;
        if (r01 < p.m) {
            let v = select(acc010, acc011, ch == 1u);
            c[r01 * n4 + gc / 4u] = act4(v + bv, p.act);
        }
        let r02 = row0 + 64u * 0u + 4u * ty + 2u;
        if (r02 < p.m) {
            let v = select(acc020, acc021, ch == 1u);
            c[r02 * n4 + gc / 4u] = act4(v + bv, p.act);
        }
        let r03 = row0 + 64u * 0u + 4u * ty + 3u;
        if (r03 < p.m) {
            let v = select(acc030, acc031, ch == 1u);
            c[r03 * n4 + gc / 4u] = act4(v + bv, p.act);
        }
        let r10 = row0 + 64u * 1u + 4u * ty + 0u;
        if (r10 < p.m) {
            let v = select(acc100, acc101, ch == 1u);
            c[r10 * n4 + gc / 4u] = act4(v + bv, p.act);
        }
        let r11 = row0 + 64u * 1u + 4u * ty + 1u;
        if (r11 < p.m) {
            let v = select(acc110, acc111, ch == 1u);
            c[r11 * n4 + gc / 4u] = act4(v + bv, p.act);
        }
        let r12 = row0 + 64u * 1u + 4u * ty + 2u;
        if (r12 < p.m) {
            let v = select(acc120, acc121, ch == 1u);
            c[r12 * n4 + gc / 4u] = act4(v + bv, p.act);
        }
        let r13 = row0 + 64u * 1u + 4u * ty + 3u;
        if (r13 < p.m) {
            let v = select(acc130, acc131, ch == 1u);
            c[r13 * n4 + gc / 4u] = act4(v + bv, p.act);
        }
    }
}
