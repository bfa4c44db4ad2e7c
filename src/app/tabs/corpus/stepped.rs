//! A corpus run in steps of one shard (the web build's: the page computes on its one thread, so
//! a whole run at once would freeze it). The first `limit` texts are cut into shards
//! ([`corpus::split_limit`]), each step runs one shard of one model, and the shards of each
//! model are merged as `corpus merge` merges a cluster's: the result is the run in one go.

use super::{Models, Ran, Stats};
use crate::app::jobs::Control;
use crate::backend::{BackendChoice, FallbackBackend};
use crate::corpus::{self, CorpusOptions, CorpusSource, HeadStats};
use std::sync::Arc;

/// A corpus run that goes a shard at a time.
pub struct Stepped {
    models: Models,
    corpus: CorpusSource,
    limit: u64,
    plan: Vec<((usize, usize), u64)>,
    /// (model, shard) of the next step
    at: (usize, usize),
    merged: Option<HeadStats>,
    stats: Vec<Stats>,
    backend: FallbackBackend,
    started: web_time::Instant,
}

impl Stepped {
    /// The run of `models` over the first `limit` texts of `corpus`, in `steps` shards a model.
    pub fn new(
        models: Models,
        corpus: CorpusSource,
        limit: u64,
        steps: usize,
        choice: BackendChoice,
    ) -> Self {
        Stepped {
            models,
            corpus,
            limit,
            plan: corpus::split_limit(limit, steps),
            at: (0, 0),
            merged: None,
            stats: Vec::new(),
            backend: FallbackBackend::new(choice),
            started: web_time::Instant::now(),
        }
    }

    /// Runs the next shard; the whole run's result once the last is in.
    pub fn step(&mut self, ctl: &Control) -> Option<Result<Arc<Ran>, String>> {
        self.next(ctl).transpose()
    }

    fn next(&mut self, ctl: &Control) -> Result<Option<Arc<Ran>>, String> {
        let (m, s) = self.at;
        let (Some((model, name)), Some(&(shard, take))) = (self.models.get(m), self.plan.get(s))
        else {
            return Err("the corpus run has nothing to run".into());
        };
        let opts = CorpusOptions {
            batch: 16,
            shard,
            limit: Some(take),
            model_name: name.clone(),
        };
        let part = corpus::run(
            model,
            &mut self.backend,
            &self.corpus,
            &opts,
            &mut |_| {},
            &mut |_| {},
            &ctl.cancel,
        )
        .map_err(|e| e.to_string())?;
        match &mut self.merged {
            Some(all) => all.merge(&part).map_err(|e| e.to_string())?,
            None => self.merged = Some(part),
        }
        let done_texts = self.merged.as_ref().map_or(0, |a| a.meta.lines);
        let steps = (self.models.len() * self.plan.len()).max(1);
        ctl.report(
            format!("{name}: {done_texts} of {} texts", self.limit),
            Some((m * self.plan.len() + s + 1) as f32 / steps as f32),
        );
        self.at.1 += 1;
        if self.at.1 < self.plan.len() {
            return Ok(None);
        }
        // every shard of this model is in: the merge is the whole run
        let Some(mut all) = self.merged.take() else {
            return Err("the corpus run lost its statistics".into());
        };
        all.meta.shard = String::new();
        self.stats.push(super::one_model(all, name, false)?);
        self.at = (m + 1, 0);
        if self.at.0 < self.models.len() {
            return Ok(None);
        }
        Ok(Some(Arc::new(Ran {
            stats: std::mem::take(&mut self.stats),
            seconds: self.started.elapsed().as_secs_f64(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::stats::STATS;

    /// The run in steps of one shard equals the run in one go, for a limit the shards do not
    /// divide evenly: same texts, same query positions, every statistic and JS value within
    /// 1e-6 relative (the texts meet in other batches, so the f32 forward passes round
    /// differently; the sums are f64).
    #[test]
    fn a_corpus_run_in_shard_steps_equals_the_run_in_one_go() {
        let model = crate::model::builtin::open_in_memory("albert-mini").expect("albert-mini");
        let limit = 23;
        let whole = corpus::run(
            &model,
            &mut FallbackBackend::new(BackendChoice::Cpu),
            &CorpusSource::Builtin,
            &CorpusOptions {
                batch: 16,
                shard: (0, 1),
                limit: Some(limit),
                model_name: "albert-mini".into(),
            },
            &mut |_| {},
            &mut |_| {},
            &Default::default(),
        )
        .expect("the run in one go");
        let models: Models = Arc::new(vec![(model, "albert-mini".to_string())]);
        let mut stepped = Stepped::new(models, CorpusSource::Builtin, limit, 5, BackendChoice::Cpu);
        let ctl = Control::default();
        let mut steps = 0;
        let ran = loop {
            steps += 1;
            if let Some(done) = stepped.step(&ctl) {
                break done.expect("the stepped run");
            }
        };
        assert_eq!(steps, 5, "one step a shard");
        let (s, _, cached) = &ran.stats[0];
        assert!(!cached);
        assert_eq!((s.meta.lines, s.rows), (whole.meta.lines, whole.rows));
        assert_eq!(s.meta.lines, limit);
        assert_eq!(
            s.meta.shard, "",
            "the merge of every shard is the whole run"
        );
        let worst = |a: &[f64], b: &[f64]| {
            assert_eq!(a.len(), b.len());
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1e-3))
                .fold(0.0f64, f64::max)
        };
        for k in 0..STATS.len() {
            let w = worst(&s.means(k), &whole.means(k));
            assert!(w <= 1e-6, "statistic {k}: {w:e}");
        }
        let w = worst(&s.head_js(), &whole.head_js());
        assert!(w <= 1e-6, "head JS: {w:e}");
    }
}
