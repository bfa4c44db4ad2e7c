//! The typefaces the figures are drawn with: the same bytes egui draws the window with (Ubuntu
//! Light, Hack, the emoji fonts), taken from egui's font crate so that nothing below the app
//! depends on egui, and a PNG looks like the app on every machine with no system font involved.

/// Proportional text: labels, titles.
pub const SANS: &str = "Ubuntu Light";
/// Monospace text.
pub const MONO: &str = "Hack";

/// Every typeface, as the bytes of its file.
pub const ALL: [&[u8]; 5] = [
    epaint_default_fonts::UBUNTU_LIGHT,
    epaint_default_fonts::HACK_REGULAR,
    epaint_default_fonts::NOTO_EMOJI_REGULAR,
    epaint_default_fonts::EMOJI_ICON,
    epaint_default_fonts::EGUI_ICONS,
];
