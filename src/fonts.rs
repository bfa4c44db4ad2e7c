//! The typefaces the figures are drawn with: the same bytes egui draws the window with (Ubuntu
//! Light, Hack, the emoji fonts), taken from egui's font crate so that nothing below the app
//! depends on egui, and a PNG looks like the app on every machine with no system font involved.

/// Proportional text: labels, titles.
pub const SANS: &str = "Ubuntu Light";
/// Monospace text.
pub const MONO: &str = "Hack";

/// Chinese, Japanese and Korean (and more): Droid Sans Fallback (Apache 2.0,
/// assets/fonts/README.md), the fallback after the Latin and emoji fonts.
pub static CJK: &[u8] = include_bytes!("../assets/fonts/DroidSansFallback.ttf");
/// Its family name, for the window's font list.
pub const CJK_NAME: &str = "Droid Sans Fallback";

/// Every typeface, as the bytes of its file (statics, not consts: a const is copied into each
/// unit that uses it, which put the 3.4 MB CJK font in the web bundle twice). The window draws
/// with these same bytes ([`NAMES`]), so the page carries each font once.
pub static ALL: [&[u8]; 6] = [
    epaint_default_fonts::UBUNTU_LIGHT,
    epaint_default_fonts::HACK_REGULAR,
    epaint_default_fonts::NOTO_EMOJI_REGULAR,
    epaint_default_fonts::EMOJI_ICON,
    epaint_default_fonts::EGUI_ICONS,
    CJK,
];

/// The names egui knows [`ALL`]'s typefaces by, in the same order.
pub const NAMES: [&str; 6] = [
    "Ubuntu-Light",
    "Hack",
    "NotoEmoji-Regular",
    "emoji-icon-font",
    "egui-icons",
    CJK_NAME,
];
