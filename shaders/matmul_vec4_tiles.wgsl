// Shared by the vec4 matmul kernels (matmul_vec4.wgsl, matmul_vec4_8x8.wgsl): bindings, the
// shared-memory tiles, their loading (B straight or transposed) and the output store. Each
// kernel defines BM, BN, BK, WX, WY and THREADS. Prepended by src/backend/gpu/kernels.rs.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> c: array<vec4<f32>>;

// As[k * (BM/4) + r/4] holds rows r..r+3 of column k; Bs[k * (BN/4) + j] holds columns 4j..4j+3.
var<workgroup> As: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> Bs: array<vec4<f32>, BK * BN / 4u>;

fn act4(v: vec4<f32>, code: u32) -> vec4<f32> {
    return vec4<f32>(activate(v.x, code), activate(v.y, code), activate(v.z, code), activate(v.w, code));
}

// Where batch z of A, B and C starts, past the offsets (both batch levels).
fn a_at(z: u32) -> u32 {
    return p.a_off + (z % p.inner) * p.a_batch + (z / p.inner) * p.a_outer;
}

fn b_at(z: u32) -> u32 {
    return p.b_off + (z % p.inner) * p.b_batch + (z / p.inner) * p.b_outer;
}

fn c_at(z: u32) -> u32 {
    return p.c_off + (z % p.inner) * p.c_batch + (z / p.inner) * p.c_outer;
}

// Loads the A tile (and B's, when transposed): rows of K read as vec4, stored k-major.
fn load_tiles(tid: u32, z: u32, row0: u32, col0: u32, k0: u32) {
    let a0 = a_at(z);
    let b0 = b_at(z);
    for (var i = tid; i < BM * BK / 4u; i += THREADS) {
        let r = i / (BK / 4u);
        let c4 = i % (BK / 4u);
        let gr = row0 + r;
        let gk = k0 + 4u * c4;
        var v = vec4<f32>(0.0);
        if (gr < p.m && gk < p.k) {
            v = a[a0 + gr * p.lda + gk / 4u];
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
                v = b[b0 + gn * p.ldb + gk / 4u];
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
                v = b[b0 + gk * p.ldb + gc / 4u];
            }
            Bs[r * (BN / 4u) + c4] = v;
        }
    }
}

fn store(z: u32, r: u32, gc: u32, acc: vec4<f32>, bv: vec4<f32>) {
    if (r < p.m) {
        c[c_at(z) + r * p.ldc + gc / 4u] = act4(p.alpha * acc + bv, p.act);
    }
}
