//! Attention flow (Abnar & Zuidema 2020): nodes (l, k) for l = 0 … L and token k, an edge
//! (l + 1, i) → (l, k) of capacity Â_l[i, k] (the residual-augmented, row-normalised head
//! mean), and for each last-layer node i and input token k the maximum-flow value from
//! (L, i) to (0, k); each row divided by its sum. The max-flow value is unique, so Dinic's
//! algorithm on f64 capacities gives what AZ's networkx `edmonds_karp` gives.

use rayon::prelude::*;

/// Residual capacity below this is treated as none (the capacities are at most 1).
const EPS: f64 = 1e-13;

#[derive(Clone)]
struct Graph {
    /// edge e: head `to[e]`, residual capacity `cap[e]`; e ^ 1 is its reverse
    to: Vec<usize>,
    cap: Vec<f64>,
    /// the capacities as built, to reset between problems
    start: Vec<f64>,
    adj: Vec<Vec<usize>>,
    level: Vec<i32>,
    next: Vec<usize>,
}

impl Graph {
    fn new(nodes: usize) -> Self {
        Graph {
            to: Vec::new(),
            cap: Vec::new(),
            start: Vec::new(),
            adj: vec![Vec::new(); nodes],
            level: vec![0; nodes],
            next: vec![0; nodes],
        }
    }

    fn edge(&mut self, from: usize, to: usize, cap: f64) {
        self.adj[from].push(self.to.len());
        self.to.push(to);
        self.cap.push(cap);
        self.adj[to].push(self.to.len());
        self.to.push(from);
        self.cap.push(0.0);
    }

    fn levels(&mut self, s: usize, t: usize) -> bool {
        self.level.fill(-1);
        self.level[s] = 0;
        let mut queue = std::collections::VecDeque::from([s]);
        while let Some(u) = queue.pop_front() {
            for &e in &self.adj[u] {
                let v = self.to[e];
                if self.cap[e] > EPS && self.level[v] < 0 {
                    self.level[v] = self.level[u] + 1;
                    queue.push_back(v);
                }
            }
        }
        self.level[t] >= 0
    }

    /// One blocking-flow augmentation from `u` towards `t` of at most `limit`.
    fn push(&mut self, u: usize, t: usize, limit: f64) -> f64 {
        if u == t {
            return limit;
        }
        while self.next[u] < self.adj[u].len() {
            let e = self.adj[u][self.next[u]];
            let v = self.to[e];
            if self.cap[e] > EPS && self.level[v] == self.level[u] + 1 {
                let got = self.push(v, t, limit.min(self.cap[e]));
                if got > EPS {
                    self.cap[e] -= got;
                    self.cap[e ^ 1] += got;
                    return got;
                }
            }
            self.next[u] += 1;
        }
        0.0
    }

    fn max_flow(&mut self, s: usize, t: usize) -> f64 {
        self.cap.copy_from_slice(&self.start);
        let mut total = 0.0;
        while self.levels(s, t) {
            self.next.fill(0);
            loop {
                let got = self.push(s, t, f64::INFINITY);
                if got <= EPS {
                    break;
                }
                total += got;
            }
        }
        total
    }
}

/// `[N, N]`: row i = last-layer token i's flows to the input tokens, divided by their sum;
/// None when `cancelled` said stop. `progress` hears how many rows are done.
pub(super) fn attention_flow(
    hat: &[Vec<f32>],
    n: usize,
    cancelled: &(dyn Fn() -> bool + Sync),
    progress: &(dyn Fn(usize) + Sync),
) -> Option<Vec<f32>> {
    let done = std::sync::atomic::AtomicUsize::new(0);
    let layers = hat.len();
    let mut g = Graph::new((layers + 1) * n);
    for (l, m) in hat.iter().enumerate() {
        for i in 0..n {
            for k in 0..n {
                let c = f64::from(m[i * n + k]);
                if c > 0.0 {
                    g.edge((l + 1) * n + i, l * n + k, c);
                }
            }
        }
    }
    g.start = g.cap.clone();
    let rows: Vec<Option<Vec<f32>>> = (0..n)
        .into_par_iter()
        .map(|i| {
            if cancelled() {
                return None;
            }
            let mut g = g.clone();
            let flows: Vec<f64> = (0..n).map(|k| g.max_flow(layers * n + i, k)).collect();
            progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
            let s: f64 = flows.iter().sum();
            Some(
                flows
                    .iter()
                    .map(|f| if s > 0.0 { (f / s) as f32 } else { 0.0 })
                    .collect(),
            )
        })
        .collect();
    let mut out = Vec::with_capacity(n * n);
    for r in rows {
        out.extend(r?);
    }
    Some(out)
}
