//! Colormaps for heatmaps: the perceptually uniform viridis, magma and cividis (cividis is also
//! readable with colour-vision deficiency) and a blue-white-red diverging map for differences.
//! Each is a 256-entry table interpolated from nine stops of matplotlib's definition.

/// A colormap the views offer (also the command line's `--colormap`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
pub enum Colormap {
    Viridis,
    Magma,
    Cividis,
    /// blue (negative) - white (zero) - red (positive), matplotlib's RdBu reversed
    Diverging,
}

impl Colormap {
    pub const ALL: [Colormap; 4] = [
        Colormap::Viridis,
        Colormap::Magma,
        Colormap::Cividis,
        Colormap::Diverging,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Magma => "magma",
            Colormap::Cividis => "cividis",
            Colormap::Diverging => "diverging (RdBu)",
        }
    }

    fn stops(self) -> [u32; 9] {
        match self {
            Colormap::Viridis => [
                0x440154, 0x472d7b, 0x3b528b, 0x2c728e, 0x21918c, 0x28ae80, 0x5ec962, 0xaddc30,
                0xfde725,
            ],
            Colormap::Magma => [
                0x000004, 0x1c1044, 0x4f127b, 0x812581, 0xb5367a, 0xe55064, 0xfb8761, 0xfec287,
                0xfcfdbf,
            ],
            Colormap::Cividis => [
                0x00224e, 0x123570, 0x3b496c, 0x575d6d, 0x707173, 0x8a8678, 0xa59c74, 0xc3b369,
                0xfee838,
            ],
            Colormap::Diverging => [
                0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xf7f7f7, 0xf4a582, 0xd6604d, 0xb2182b,
                0x67001f,
            ],
        }
    }

    /// The 256-entry RGB table.
    pub fn table(self) -> [[u8; 3]; 256] {
        let stops = self.stops();
        let rgb = |c: u32| {
            [
                (c >> 16) as f32,
                ((c >> 8) & 0xff) as f32,
                (c & 0xff) as f32,
            ]
        };
        let mut out = [[0u8; 3]; 256];
        for (i, o) in out.iter_mut().enumerate() {
            let x = i as f32 / 255.0 * 8.0;
            let k = (x.floor() as usize).min(7);
            let t = x - k as f32;
            let (a, b) = (rgb(stops[k]), rgb(stops[k + 1]));
            for c in 0..3 {
                o[c] = (a[c] + (b[c] - a[c]) * t).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    /// The colour of `t` in [0, 1] (clamped; NaN maps to 0): an entry of [`Self::table`], made
    /// once per colormap (a projection colours thousands of points a frame).
    pub fn at(self, t: f32) -> [u8; 3] {
        use std::sync::OnceLock;
        static TABLES: [OnceLock<[[u8; 3]; 256]>; 4] = [const { OnceLock::new() }; 4];
        let k = match self {
            Colormap::Viridis => 0,
            Colormap::Magma => 1,
            Colormap::Cividis => 2,
            Colormap::Diverging => 3,
        };
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        TABLES[k].get_or_init(|| self.table())[(t * 255.0).round() as usize]
    }
}

/// How values map to [0, 1] before the colormap.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scale {
    pub lo: f32,
    pub hi: f32,
    /// log10 for non-negative maps; for maps centred on zero (`lo < 0`), a symmetric log
    pub log: bool,
}

/// The smallest value the log scale resolves (attention weights below it look like it).
pub const LOG_FLOOR: f32 = 1e-4;

impl Scale {
    /// `v` mapped to [0, 1].
    pub fn normalise(&self, v: f32) -> f32 {
        if !v.is_finite() {
            return 0.0;
        }
        let t = if self.lo < 0.0 {
            // centred on zero: -m .. m with m = max(|lo|, |hi|)
            let m = self.lo.abs().max(self.hi.abs()).max(f32::MIN_POSITIVE);
            let s = if self.log {
                let f = |x: f32| x.signum() * (1.0 + x.abs() / LOG_FLOOR).ln();
                f(v) / f(m)
            } else {
                v / m
            };
            0.5 + 0.5 * s
        } else if self.log {
            let l = |x: f32| x.max(LOG_FLOOR).log10();
            let (a, b) = (l(self.lo), l(self.hi));
            if b > a {
                (l(v) - a) / (b - a)
            } else {
                1.0
            }
        } else if self.hi > self.lo {
            (v - self.lo) / (self.hi - self.lo)
        } else {
            1.0
        };
        t.clamp(0.0, 1.0)
    }

    /// The value at position `t` in [0, 1] of the colour bar (inverse of [`Scale::normalise`]).
    pub fn value_at(&self, t: f32) -> f32 {
        if self.lo < 0.0 {
            let m = self.lo.abs().max(self.hi.abs());
            let s = 2.0 * t - 1.0;
            if self.log {
                let fm = (1.0 + m / LOG_FLOOR).ln();
                s.signum() * ((s.abs() * fm).exp() - 1.0) * LOG_FLOOR
            } else {
                s * m
            }
        } else if self.log {
            let l = |x: f32| x.max(LOG_FLOOR).log10();
            10f32.powf(l(self.lo) + t * (l(self.hi) - l(self.lo)))
        } else {
            self.lo + t * (self.hi - self.lo)
        }
    }
}

/// A map rendered to RGBA pixels (row-major, `rows * cols`), for textures and PNG export.
pub fn render_rgba(map: &[f32], cmap: Colormap, scale: &Scale) -> Vec<[u8; 4]> {
    let table = cmap.table();
    map.iter()
        .map(|&v| {
            let c = table[(scale.normalise(v) * 255.0).round() as usize];
            [c[0], c[1], c[2], 255]
        })
        .collect()
}
