//! albert-lens: with no subcommand, the desktop window. Subcommands: `trace` exports a forward
//! pass, `attribute` a prediction's gradient attributions, `heads` a classifier's (or masked
//! LM's) head importance over labelled data, `summary` prints what each layer attends to,
//! `verify` checks a backend against the golden files, `render` draws one view headless,
//! `corpus` runs a corpus, `bench` measures backends and `bench-ui` the app's frame time.
//!
//! Built for wasm32 (tools/web/build.sh), the binary is the web page's app instead:
//! [`albert_lens::app::web`].

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> anyhow::Result<()> {
    cli::desktop::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {
    albert_lens::app::web::start();
}
