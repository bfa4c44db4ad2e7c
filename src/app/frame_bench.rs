//! `albert-lens bench-ui`: the app's frame time measured headless (egui's layout, painting and
//! tessellation, which run on the UI thread every frame; the GPU's share of drawing a few
//! textured quads is not included). Cases: one 512 × 512 head heatmap with the pointer moving
//! over it (tooltip and highlight every frame), and the model view's 144 thumbnails of a 12 × 12
//! model at N = 128, both on traces of ALBERT-base shapes with random weights.

use super::session::SessionSettings;
use super::tabs::{attention::AttentionTab, shared::SharedTab};
use super::worker::Traced;
use super::{AppOptions, AttnView, LensApp};
use crate::analysis::HeadSel;
use crate::backend::{Backend, BackendChoice, CpuBackend};
use crate::model::ModelWeights;
use std::sync::Arc;
use web_time::Instant;

fn trace_of(n: usize) -> anyhow::Result<Arc<crate::model::Trace>> {
    trace_with_layers(n, None)
}

/// ALBERT-base shapes with random weights; `layers` overrides the depth (the what-if).
fn trace_with_layers(n: usize, layers: Option<usize>) -> anyhow::Result<Arc<crate::model::Trace>> {
    let mut cfg = crate::bench::preset_config("albert-base")?;
    let weights = ModelWeights::random(&cfg, 7)?;
    if let Some(l) = layers {
        cfg.num_hidden_layers = l;
    }
    let input = crate::bench::synthetic_input(&cfg, n);
    Ok(Arc::new(CpuBackend::new().forward(&cfg, &weights, &input)?))
}

/// A frame's input: the 1280 × 800 window, and `events`.
fn screen(events: Vec<egui::Event>) -> egui::RawInput {
    egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1280.0, 800.0),
        )),
        events,
        ..Default::default()
    }
}

/// One frame of `app` on `input`, laid out, painted and tessellated: its wall time and the
/// UI thread's own CPU time, in ms.
fn timed_frame(app: &mut LensApp, ctx: &egui::Context, input: egui::RawInput) -> (f64, f64) {
    let (t0, c0) = (Instant::now(), thread_cpu_ms());
    let mut out = ctx.run_ui(input, |ui| app.frame(ui));
    let prims = ctx.tessellate(std::mem::take(&mut out.shapes), out.pixels_per_point);
    // no renderer here: the texture uploads are counted as built, not as sent to a GPU
    out.textures_delta.clear();
    std::hint::black_box(prims);
    (t0.elapsed().as_secs_f64() * 1e3, thread_cpu_ms() - c0)
}

/// Frame times in ms: (first frame, which builds the textures; median of the rest; max).
fn frames(app: &mut LensApp, ctx: &egui::Context, count: usize, hover: bool) -> (f64, f64, f64) {
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        let mut events = Vec::new();
        if hover {
            if let Some(r) = app.tab::<AttentionTab>().and_then(|a| a.heatmap_rect) {
                let t = (i % 50) as f32 / 50.0;
                events.push(egui::Event::PointerMoved(
                    r.min + r.size() * egui::vec2(t, 1.0 - t),
                ));
            }
        }
        times.push(timed_frame(app, ctx, screen(events)).0);
    }
    spread(&times)
}

/// (the first frame; the median and the max of the others).
fn spread(times: &[f64]) -> (f64, f64, f64) {
    let mut rest = times[1..].to_vec();
    rest.sort_by(f64::total_cmp);
    (times[0], rest[rest.len() / 2], rest[rest.len() - 1])
}

pub fn run(count: usize) -> anyhow::Result<()> {
    println!("albert-lens bench-ui: {count} frames per case, 1280 x 800 window, headless egui (layout + paint + tessellate)");
    for (case, n, view, zoom, tab) in [
        (
            "head heatmap 512 x 512, pointer moving",
            512,
            AttnView::Heatmap,
            1.0,
            "attention",
        ),
        (
            "head heatmap 512 x 512 zoomed x16 (token labels drawn)",
            512,
            AttnView::Heatmap,
            16.0,
            "attention",
        ),
        (
            "model view 12 x 12 thumbnails, N = 128",
            128,
            AttnView::Model,
            1.0,
            "attention",
        ),
        (
            "shared vs unshared: Figure 1 (2 models + x24 what-if), 2 JS matrices, N = 128",
            128,
            AttnView::Heatmap,
            1.0,
            "shared",
        ),
        (
            "projection: trajectories of 128 tokens x 13 states (PCA ready)",
            128,
            AttnView::Heatmap,
            1.0,
            "projection",
        ),
    ] {
        let trace = trace_of(n)?;
        let ctx = egui::Context::default();
        let settings = SessionSettings {
            layer: 5,
            open_tab: tab.into(),
            ..SessionSettings::default()
        };
        let mut app = LensApp::with_settings(
            &ctx,
            settings,
            AppOptions {
                backend: BackendChoice::Cpu,
                restore: false,
                start_models: false,
                view: Some(view),
                ..AppOptions::default()
            },
        );
        if let Some(a) = app.tab_mut::<AttentionTab>() {
            a.settings.head = HeadSel::Head(3);
        }
        let traced = Traced {
            rollout: Arc::new(crate::analysis::rollout(&trace)?),
            trace: trace.clone(),
            ms: 0.0,
            backend: "cpu".into(),
            intact: None,
            prediction: None,
            task: None,
        };
        app.session.set_trace(traced.clone());
        if tab == "shared" {
            let repeats = vec![(24, trace_with_layers(n, Some(24))?)];
            let wake = app.session.wake.clone();
            if let Some(s) = app.tab_mut::<SharedTab>() {
                s.set_traces(&wake, traced, repeats);
            }
        }
        if tab != "attention" {
            // the PCA and JS matrices run on their own threads: draw until they are ready
            let t0 = Instant::now();
            loop {
                // no renderer here: the textures are built, not uploaded
                ctx.run_ui(screen(Vec::new()), |ui| app.frame(ui))
                    .textures_delta
                    .clear();
                if !app.busy() && t0.elapsed().as_millis() > 50 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            println!(
                "  ({tab} analyses ready after {:.0} ms off the UI thread)",
                t0.elapsed().as_secs_f64() * 1e3
            );
        }
        if let Some(a) = app.tab_mut::<AttentionTab>() {
            a.zoom = super::widgets::heatmap::ZoomPan {
                zoom,
                origin: egui::vec2(200.0, 200.0),
            };
        }
        let (first, median, max) = frames(&mut app, &ctx, count, view == AttnView::Heatmap);
        println!("{case}: first frame {first:.1} ms (builds the texture), then median {median:.2} ms, max {max:.2} ms");
    }
    present(count)
}

/// This thread's CPU time in ms (its own work, not the time other threads took the cores).
fn thread_cpu_ms() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `t`, which lives for the call.
    #[allow(unsafe_code)]
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    if ok {
        t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
    } else {
        0.0
    }
}

/// Present mode on the built-in lesson "Is attention an explanation?": PageDown every 10th
/// frame, then PageUp back, while the pages are made on their own threads (a frame that
/// takes a page in uploads its texture). Every frame counts, the slow first ones included.
fn present(count: usize) -> anyhow::Result<()> {
    let ctx = egui::Context::default();
    let mut app = LensApp::with_settings(
        &ctx,
        SessionSettings::default(),
        AppOptions {
            backend: BackendChoice::Cpu,
            restore: false,
            start_models: false,
            ..AppOptions::default()
        },
    );
    app.deck.deck = super::deck::builtin::deck("attention-explanation")
        .ok_or_else(|| anyhow::anyhow!("the built-in lesson is missing"))?;
    let slides = app.deck.deck.slides.len();
    app.deck.start_presenting(&ctx, &app.session);
    let (mut times, mut cpu) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for i in 0..count.max(slides * 20) {
        let mut events = Vec::new();
        if i % 10 == 9 {
            let forward = (i / 10) % (2 * slides) < slides;
            events.push(egui::Event::Key {
                key: if forward {
                    egui::Key::PageDown
                } else {
                    egui::Key::PageUp
                },
                physical_key: None,
                pressed: true,
                repeat: false,
                modifiers: egui::Modifiers::NONE,
            });
        }
        let (wall, own) = timed_frame(&mut app, &ctx, screen(events));
        times.push(wall);
        cpu.push(own);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let at = app.deck.present.as_ref().map_or(0, |p| p.at);
    let ready = (0..slides)
        .filter(|&s| app.deck.present.as_ref().is_some_and(|p| p.ready(s)))
        .count();
    // the first frame lays out the fonts, as every case's first frame does
    let (first, median, max) = spread(&times);
    let rest = &times[1..];
    let over: Vec<String> = rest
        .iter()
        .zip(&cpu[1..])
        .enumerate()
        .filter(|(_, (&t, _))| t > 16.0)
        .map(|(i, (t, c))| {
            format!(
                "frame {}: {t:.1} ms ({c:.1} ms of it the UI thread's own work)",
                i + 2
            )
        })
        .collect();
    let cpu_max = cpu[1..].iter().copied().fold(0.0, f64::max);
    println!(
        "present mode, {slides} slides, PageDown / PageUp every 10th frame, pages made off the UI thread: first frame {first:.1} ms, then median {:.2} ms, max {:.2} ms over {} frames (the UI thread's own CPU time: max {cpu_max:.2} ms); over 16 ms: {} ({ready} pages made, ended at slide {})",
        median,
        max,
        rest.len(),
        if over.is_empty() { "none".to_string() } else { over.join(", ") },
        at + 1
    );
    Ok(())
}
