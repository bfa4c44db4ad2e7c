//! The allowed range of every numeric option, in one place: the command line's parsers
//! (clap value ranges) and the scene reader check the same ranges with the same functions, so
//! a value a flag refuses is refused in a scene file too, with a message naming it.

use std::ops::RangeInclusive;

/// Layers (layer applications) and heads, counted from 1 on the command line.
pub const LAYER: RangeInclusive<u64> = 1..=4096;
/// A token position, from 0.
pub const POSITION: RangeInclusive<u64> = 0..=(1 << 20);
/// Integrated-gradients steps.
pub const STEPS: RangeInclusive<u64> = 1..=10_000;
/// The lens's predictions per layer.
pub const TOP_K: RangeInclusive<u64> = 1..=50;
/// The what-if's repetitions of the shared layer (`model::config::MAX_REPEATS`).
pub const REPEATS: RangeInclusive<u64> = 1..=96;
/// Texts per forward pass.
pub const BATCH: RangeInclusive<u64> = 1..=1024;
/// The explain what-if's softmax temperature.
pub const TEMPERATURE: RangeInclusive<f32> = 0.05..=20.0;
/// Animation frames per second.
pub const FPS: RangeInclusive<f32> = 0.1..=60.0;
/// A PNG's scale factor.
pub const PNG_SCALE: RangeInclusive<f32> = 0.25..=16.0;

/// `v` in `range`, or a message naming `what`, the value and the range.
pub fn whole(what: &str, v: u64, range: &RangeInclusive<u64>) -> Result<u64, String> {
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{what} is {v}, outside {}..={}",
            range.start(),
            range.end()
        ))
    }
}

/// `v` finite and in `range`, or a message naming `what`, the value and the range.
pub fn real(what: &str, v: f32, range: &RangeInclusive<f32>) -> Result<f32, String> {
    if v.is_finite() && range.contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{what} is {v}, outside {}..={}",
            range.start(),
            range.end()
        ))
    }
}

/// A number typed on the command line, then [`real`] (every real range here is positive).
pub fn parse_real(s: &str, range: &RangeInclusive<f32>) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    real("the value", v, range).map_err(|_| {
        format!(
            "{s} is not a positive number in {}..={}",
            range.start(),
            range.end()
        )
    })
}

/// A count typed on the command line in `range`, said as "give 1 to 96".
pub fn parse_count(s: &str, what: &str, range: &RangeInclusive<u64>) -> Result<usize, String> {
    match s.trim().parse::<u64>() {
        Ok(v) if range.contains(&v) => usize::try_from(v).map_err(|e| e.to_string()),
        _ => Err(format!(
            "{s} {what}: give {} to {}",
            range.start(),
            range.end()
        )),
    }
}
