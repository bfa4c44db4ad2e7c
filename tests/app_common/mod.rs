//! The app under egui_kittest, shared by the app tests: a 1280 x 800 window on the CPU backend
//! with two models and a text, stepped until the worker has answered.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use albert_lens::app::worker::ModelSlot;
use albert_lens::app::{AppOptions, LensApp};
use albert_lens::backend::BackendChoice;
use albert_lens::model::ModelSource;
use egui_kittest::Harness;
use std::time::{Duration, Instant};

/// The app with `main` and `compare` opened and `text` run.
pub fn harness(main: ModelSource, compare: ModelSource, text: &str) -> Harness<'static, LensApp> {
    let text = text.to_string();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(move |cc| {
            LensApp::new(
                cc,
                AppOptions {
                    backend: BackendChoice::Cpu,
                    restore: false,
                    open: Some(main),
                    compare: Some(compare),
                    text: Some(text),
                    start_models: true,
                    ..AppOptions::default()
                },
            )
        });
    wait(&mut h);
    h
}

/// Steps the UI until the worker has answered everything asked of it (or reported an error).
pub fn wait(h: &mut Harness<'static, LensApp>) {
    let t0 = Instant::now();
    loop {
        h.step();
        let app = h.state();
        let cx = &app.session;
        let settled = !app.busy()
            && cx.info(ModelSlot::Main).is_some()
            && cx.info(ModelSlot::Compare).is_some()
            && cx.trace().is_some();
        if settled || (!app.busy() && cx.status.error.is_some()) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the worker did not answer in 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    h.run_steps(3);
}

/// Hides the status bar (timings and memory differ from run to run) before a snapshot.
pub fn mask_status_bar(h: &mut Harness<'static, LensApp>) {
    h.mask(egui::Rect::from_min_max(
        egui::pos2(0.0, 770.0),
        egui::pos2(1280.0, 800.0),
    ));
}

/// Steps the app until `done` holds (60 s at most), then two frames more.
pub fn step_until(h: &mut Harness<'static, LensApp>, done: impl Fn(&LensApp) -> bool) {
    let t0 = Instant::now();
    while !done(h.state()) {
        assert!(t0.elapsed() < Duration::from_secs(60), "timed out");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.run_steps(2);
}
