//! Shards of one corpus run: which lines a shard takes, which shards a statistics file holds,
//! and merging shard files into one.

use super::HeadStats;
use crate::error::{LensError, Result};
use std::path::PathBuf;

/// Merges statistics files of shards of one corpus run on one model into one. Files of other
/// models or corpora, a shard given twice and shards of different splits are refused; a merge
/// that lacks some shards says which it holds (`shard` = "0,2/4"), never "the whole corpus".
pub fn merge_files(paths: &[PathBuf]) -> Result<HeadStats> {
    let mut it = paths.iter();
    let first = it
        .next()
        .ok_or_else(|| LensError::Unsupported("merge needs at least one statistics file".into()))?;
    let mut out = HeadStats::read(first)?;
    let mut held = ShardSet::parse(&out.meta.shard)
        .map_err(|e| LensError::Unsupported(format!("{}: {e}", first.display())))?;
    for p in it {
        let s = HeadStats::read(p)?;
        for (what, a, b) in [
            ("model", &out.meta.model, &s.meta.model),
            ("corpus", &out.meta.corpus, &s.meta.corpus),
        ] {
            if a != b {
                return Err(LensError::Unsupported(format!(
                    "{} has {what} {b:?} but {} has {a:?}: only shards of one run merge",
                    p.display(),
                    first.display()
                )));
            }
        }
        out.merge(&s)?;
        let theirs = ShardSet::parse(&s.meta.shard)
            .map_err(|e| LensError::Unsupported(format!("{}: {e}", p.display())))?;
        held = held
            .union(&theirs)
            .map_err(|e| LensError::Unsupported(format!("{}: {e}", p.display())))?;
    }
    out.meta.shard = held.to_string();
    Ok(out)
}

/// The run of the first `limit` texts cut into (at most) `n` shards that, merged, make that run:
/// shard i of n takes the lines ≡ i (mod n), of which the first `limit` lines hold
/// ⌈(limit − i) / n⌉; each entry is ((i, n), that many). The merge is exactly the unsharded run
/// with `limit` where none of those lines is empty or skipped (the built-in corpora), which is
/// how the web build runs a corpus a shard per frame.
pub fn split_limit(limit: u64, n: usize) -> Vec<((usize, usize), u64)> {
    let n = (n.max(1) as u64).min(limit.max(1)) as usize;
    (0..n)
        .map(|i| ((i, n), (limit.saturating_sub(i as u64)).div_ceil(n as u64)))
        .filter(|(_, k)| *k > 0)
        .collect()
}

/// Which shards of an i/n split a statistics file holds: "" is the whole corpus, "i/n" one
/// shard, "i,j/n" a partial merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSet {
    pub of: usize,
    pub held: std::collections::BTreeSet<usize>,
}

/// No run is split into more shards than this.
pub const MAX_SHARDS: usize = 100_000;

impl ShardSet {
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        if s.is_empty() {
            return Ok(ShardSet {
                of: 1,
                held: [0].into(),
            });
        }
        let bad = || {
            format!(
                "shard field {:?} is not i/n or i,j,…/n",
                crate::files::printable(s, 40)
            )
        };
        let (list, n) = s.rsplit_once('/').ok_or_else(bad)?;
        let of: usize = n.trim().parse().map_err(|_| bad())?;
        if of == 0 || of > MAX_SHARDS {
            return Err(bad());
        }
        let mut held = std::collections::BTreeSet::new();
        for part in list.split(',') {
            let i: usize = part.trim().parse().map_err(|_| bad())?;
            if i >= of || !held.insert(i) {
                return Err(bad());
            }
        }
        Ok(ShardSet { of, held })
    }

    /// Both sets together; an error for shards of different splits or a shard in both.
    pub fn union(&self, other: &ShardSet) -> std::result::Result<Self, String> {
        if self.of != other.of {
            return Err(format!(
                "its shards are of a split into {} but the others' of a split into {}: \
                 only shards of one split merge",
                other.of, self.of
            ));
        }
        if let Some(i) = self.held.intersection(&other.held).next() {
            return Err(if self.of == 1 {
                "the whole corpus is in the merge twice".to_string()
            } else {
                format!("shard {i}/{} is in the merge twice", self.of)
            });
        }
        Ok(ShardSet {
            of: self.of,
            held: self.held.union(&other.held).copied().collect(),
        })
    }

    pub fn complete(&self) -> bool {
        self.held.len() == self.of
    }
}

impl std::fmt::Display for ShardSet {
    /// "" when complete, else the held shards: "0,2/4".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.complete() {
            return Ok(());
        }
        let list: Vec<String> = self.held.iter().map(|i| i.to_string()).collect();
        write!(f, "{}/{}", list.join(","), self.of)
    }
}

/// Parses "i/n" (0 ≤ i < n).
pub fn parse_shard(s: &str) -> std::result::Result<(usize, usize), String> {
    let (a, b) = s
        .split_once('/')
        .ok_or_else(|| format!("shard {s:?}: write it i/n, e.g. 0/4"))?;
    let (i, n) = (a.trim().parse::<usize>(), b.trim().parse::<usize>());
    match (i, n) {
        (Ok(i), Ok(n)) if n > 0 && i < n => Ok((i, n)),
        _ => Err(format!(
            "shard {s:?}: i/n needs whole numbers with 0 ≤ i < n"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shards' takes cover exactly the first `limit` line indices, each once: shard i takes
    /// lines i, i + n, ... and as many of them as lie below `limit`.
    #[test]
    fn split_limit_covers_exactly_the_first_lines_once() {
        for (limit, n) in [(200, 20), (23, 5), (7, 20), (1, 3), (45, 20), (0, 4)] {
            let plan = split_limit(limit, n);
            let mut taken: Vec<u64> = plan
                .iter()
                .flat_map(|&((i, n), k)| (0..k).map(move |j| i as u64 + j * n as u64))
                .collect();
            taken.sort_unstable();
            assert_eq!(
                taken,
                (0..limit).collect::<Vec<_>>(),
                "limit {limit}, {n} shards"
            );
            assert!(plan.len() <= n, "limit {limit}: {} shards", plan.len());
        }
    }
}
