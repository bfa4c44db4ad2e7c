// Corpus statistics family: a batch's per-head statistics reduced where its attention maps
// are, as src/corpus/stats.rs defines them (HeadStats::add_trace and js_pairs), so that only
// the [9, K] sums and the [K, K] JS sums leave the device (K = maps · heads).
//
// A batch is B sequences padded to N tokens; sequence b has len[b] real tokens (0: a filler
// sequence, left out). Map j's probabilities sit in `probs` as [B, heads, N, N], `map_stride`
// floats after map j - 1. flags[b · N + k]: bit 0 [CLS] (position 0, special), bit 1 a
// separator (a special token past 0), bit 2 punctuation.
//
// Entries (one binding number per buffer across the file; each entry binds what it uses):
//   value_norms  ‖f_h(x_k)‖ = sqrt(v G_h vᵀ) per (row, head) from v (columns 2H.. of the
//                fused projection, rows of 3H) and u = v G_h ([rows, H]); one thread each
//   head_stats   one workgroup per (head, sequence) of map `map`: the 9 statistics summed over
//                the sequence's queries into partial[b, s, K]
//   stats_total  partial summed over the batch into out[s, K]; one thread per (s, a)
//   head_js      one workgroup per pair a < c of the K heads: Σ over every query of the JS
//                divergence (bits, clamped at 0 per query) of the two rows, into js[a, c] and
//                js[c, a]

struct Params {
    n: u32,
    batch: u32,
    heads: u32,
    d: u32,
    hidden: u32,
    map: u32,
    k_all: u32,
    map_stride: u32,
}

const STATS: u32 = 9u;
const WG: u32 = 64u;
const LN2: f32 = 0.69314718055994530942;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> norms: array<f32>;
@group(0) @binding(4) var<storage, read> probs: array<f32>;
@group(0) @binding(5) var<storage, read> flags: array<u32>;
@group(0) @binding(6) var<storage, read> lens: array<u32>;
@group(0) @binding(7) var<storage, read_write> partial: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;
@group(0) @binding(9) var<storage, read_write> js: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn value_norms(@builtin(global_invocation_id) gid: vec3<u32>) {
    let rows = p.batch * p.n;
    let at = gid.x + gid.y * 65535u * WG;
    if (at >= rows * p.heads) {
        return;
    }
    let row = at / p.heads;
    let h = at % p.heads;
    let vbase = row * 3u * p.hidden + 2u * p.hidden + h * p.d;
    let ubase = row * p.hidden + h * p.d;
    var s = 0.0;
    for (var c = 0u; c < p.d; c++) {
        s += u[ubase + c] * qkv[vbase + c];
    }
    let b = row / p.n;
    let i = row % p.n;
    norms[(b * p.heads + h) * p.n + i] = sqrt(max(s, 0.0));
}

@compute @workgroup_size(64, 1, 1)
fn head_stats(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tid = lid.x;
    let h = wid.x;
    let b = wid.y;
    let len = lens[b];
    var acc: array<f32, 9>;
    for (var s = 0u; s < STATS; s++) {
        acc[s] = 0.0;
    }
    let nrm = (b * p.heads + h) * p.n;
    for (var i = tid; i < len; i += WG) {
        let row = ((b * p.heads + h) * p.n + i) * p.n;
        var cls = 0.0;
        var sep = 0.0;
        var punct = 0.0;
        var entropy = 0.0;
        var distance = 0.0;
        var weighted = 0.0;
        var sep_weighted = 0.0;
        for (var k = 0u; k < len; k++) {
            let pk = probs[row + k];
            let f = flags[b * p.n + k];
            let wn = pk * norms[nrm + k];
            weighted += wn;
            if ((f & 1u) != 0u) {
                cls += pk;
            }
            if ((f & 2u) != 0u) {
                sep += pk;
                sep_weighted += wn;
            }
            if ((f & 4u) != 0u) {
                punct += pk;
            }
            if (pk > 0.0) {
                entropy -= pk * log(pk);
            }
            distance += pk * abs(f32(i) - f32(k));
        }
        acc[0] += cls;
        acc[1] += sep;
        acc[2] += punct;
        acc[3] += probs[row + i];
        if (i > 0u) {
            acc[4] += probs[row + i - 1u];
        }
        if (i + 1u < len) {
            acc[5] += probs[row + i + 1u];
        }
        acc[6] += entropy;
        acc[7] += distance;
        if (weighted > 0.0) {
            acc[8] += sep_weighted / weighted;
        }
    }
    let a = p.map * p.heads + h;
    for (var s = 0u; s < STATS; s++) {
        let total = reduce_sum(tid, acc[s]);
        if (tid == 0u) {
            partial[(b * STATS + s) * p.k_all + a] = total;
        }
    }
}

@compute @workgroup_size(64, 1, 1)
fn stats_total(@builtin(global_invocation_id) gid: vec3<u32>) {
    let at = gid.x + gid.y * 65535u * WG;
    if (at >= STATS * p.k_all) {
        return;
    }
    var s = 0.0;
    for (var b = 0u; b < p.batch; b++) {
        s += partial[b * STATS * p.k_all + at];
    }
    out[at] = s;
}

// where row i of sequence b of head a (over all maps) starts in `probs`
fn row_of(a: u32, b: u32, i: u32) -> u32 {
    let j = a / p.heads;
    let h = a % p.heads;
    return j * p.map_stride + ((b * p.heads + h) * p.n + i) * p.n;
}

@compute @workgroup_size(64, 1, 1)
fn head_js(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let a = wid.x;
    let c = wid.y;
    if (a >= c) {
        return;
    }
    let tid = lid.x;
    var acc = 0.0;
    for (var r = tid; r < p.batch * p.n; r += WG) {
        let b = r / p.n;
        let i = r % p.n;
        let len = lens[b];
        if (i >= len) {
            continue;
        }
        let ra = row_of(a, b, i);
        let rc = row_of(c, b, i);
        var sa = 0.0;
        var sc = 0.0;
        var sm = 0.0;
        for (var k = 0u; k < len; k++) {
            let pa = probs[ra + k];
            let pc = probs[rc + k];
            if (pa > 0.0) {
                sa += pa * log(pa);
            }
            if (pc > 0.0) {
                sc += pc * log(pc);
            }
            let m = 0.5 * (pa + pc);
            sm += m * log(max(m, 1e-30));
        }
        acc += max(((sa + sc) * 0.5 - sm) / LN2, 0.0);
    }
    let total = reduce_sum(tid, acc);
    if (tid == 0u) {
        js[a * p.k_all + c] = total;
        js[c * p.k_all + a] = total;
    }
}
