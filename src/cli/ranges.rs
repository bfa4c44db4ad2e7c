//! Every numeric option's range (from [`albert_lens::ranges`], which scenes are checked
//! against too) and every output's extension, checked when the command line is parsed, so
//! that a value out of range is a usage error naming the option and its range before anything
//! runs or is allocated.

use albert_lens::ranges as r;
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// A whole number in `range`.
pub(crate) fn count(range: RangeInclusive<u64>) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(range)
}

/// A `u64` of at least 1.
pub(crate) fn positive64() -> clap::builder::RangedU64ValueParser<u64> {
    clap::builder::RangedU64ValueParser::<u64>::new().range(1..)
}

/// `--limit all`, as [`limit`] reads it.
pub(crate) const ALL: usize = usize::MAX;

/// `--limit`: how many texts, 1 to 10 million, or "all" (read as [`ALL`]).
pub(crate) fn limit(s: &str) -> Result<usize, String> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(ALL);
    }
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=10_000_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not a number of texts: give 1 to 10000000, or \"all\""
        )),
    }
}

/// A `--limit` as a bound on the texts read: None for none given and for "all".
pub(crate) fn bound(limit: Option<usize>) -> Option<usize> {
    limit.filter(|&l| l != ALL)
}

/// The what-if's repetition counts, said as the what-if says them ("give 1 to 96").
pub(crate) fn repeats(s: &str) -> Result<usize, String> {
    r::parse_count(s, "repetitions", &r::REPEATS)
}

pub(crate) fn temperature(s: &str) -> Result<f32, String> {
    r::parse_real(s, &r::TEMPERATURE)
}

pub(crate) fn fps(s: &str) -> Result<f32, String> {
    r::parse_real(s, &r::FPS)
}

pub(crate) fn png_scale(s: &str) -> Result<f32, String> {
    r::parse_real(s, &r::PNG_SCALE)
}

/// An output file that must be a safetensors file.
pub(crate) fn safetensors_out(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    if p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
    {
        Ok(p)
    } else {
        Err(format!(
            "{s:?}: this command writes safetensors; name the file *.safetensors"
        ))
    }
}

/// `--layer`: a layer from 1, or `rollout` (the mixing view's aggregate over all layers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayerArg {
    Layer(usize),
    Rollout,
}

pub(crate) fn layer_or_rollout(s: &str) -> Result<LayerArg, String> {
    if s.trim().eq_ignore_ascii_case("rollout") {
        return Ok(LayerArg::Rollout);
    }
    r::parse_count(s, "is not a layer", &r::LAYER)
        .map(LayerArg::Layer)
        .map_err(|e| format!("{e} (or \"rollout\" for the mixing view's aggregate)"))
}
