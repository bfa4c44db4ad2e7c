//! The per-head statistics by name: the names in files, scenes and on the command line, and
//! [`Stat`], the closed set the code passes around.

/// The per-head statistics, in file order.
pub const STATS: [&str; 9] = [
    "cls", "sep", "punct", "self", "prev", "next", "entropy", "distance", "sep_norm",
];

/// Index of a statistic in [`STATS`].
pub fn stat_index(name: &str) -> Option<usize> {
    STATS.iter().position(|s| *s == name)
}

/// One per-head statistic, in file order; its name is the one in [`STATS`] (files, scenes,
/// the command line).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
pub enum Stat {
    #[serde(rename = "cls")]
    #[value(name = "cls")]
    Cls,
    #[serde(rename = "sep")]
    #[value(name = "sep")]
    Sep,
    #[serde(rename = "punct")]
    #[value(name = "punct")]
    Punct,
    #[serde(rename = "self")]
    #[value(name = "self")]
    SelfAttention,
    #[serde(rename = "prev")]
    #[value(name = "prev")]
    Prev,
    #[serde(rename = "next")]
    #[value(name = "next")]
    Next,
    #[serde(rename = "entropy")]
    #[value(name = "entropy")]
    Entropy,
    #[serde(rename = "distance")]
    #[value(name = "distance")]
    Distance,
    #[serde(rename = "sep_norm")]
    #[value(name = "sep_norm")]
    SepNorm,
}

impl Stat {
    /// Every statistic, in file order ([`STATS`]).
    pub const ALL: [Stat; 9] = [
        Stat::Cls,
        Stat::Sep,
        Stat::Punct,
        Stat::SelfAttention,
        Stat::Prev,
        Stat::Next,
        Stat::Entropy,
        Stat::Distance,
        Stat::SepNorm,
    ];

    /// Its index in [`STATS`] and in [`HeadStats`]' sums.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its name in [`STATS`].
    pub fn name(self) -> &'static str {
        STATS[self.index()]
    }

    pub fn parse(name: &str) -> Option<Stat> {
        stat_index(name).map(|i| Stat::ALL[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_statistic_has_its_file_name_everywhere() {
        for (i, s) in Stat::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(s.name(), STATS[i]);
            assert_eq!(Stat::parse(STATS[i]), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), STATS[i]);
            use clap::ValueEnum;
            assert_eq!(s.to_possible_value().unwrap().get_name(), STATS[i]);
        }
        assert_eq!(Stat::parse("nope"), None);
    }
}
