//! The wgpu device the GPU backend computes on: a headless one made here (CLI, tests), or the
//! app's own (eframe's device and queue, shared so that there is one wgpu instance).

use crate::error::{LensError, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// Set by the device-lost callback; checked before and after every run.
    lost: Arc<AtomicBool>,
    /// The last uncaptured error (validation, out of memory), if any.
    uncaptured: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.info.name)
            .field("backend", &self.info.backend)
            .finish()
    }
}

fn gpu_err(msg: impl Into<String>) -> LensError {
    LensError::Gpu(msg.into())
}

/// What the compute work needs of a device on `adapter`: the adapter's own limits (big models
/// need big storage buffers) and timestamp queries where it has them. The app asks eframe for
/// the same, so that the window's device can compute too.
pub fn device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
    let mut features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
    let mut experimental = wgpu::ExperimentalFeatures::disabled();
    if tensor_cores(adapter) {
        features |= COOPERATIVE;
        // SAFETY (wgpu's terms for experimental features): only `--precision fast`'s kernel
        // uses cooperative matrices, one 16x16 f16 -> f32 configuration the adapter lists,
        // in uniform control flow, on subgroups of the size it was written for.
        #[allow(unsafe_code)]
        {
            experimental = unsafe { wgpu::ExperimentalFeatures::enabled() };
        }
    }
    wgpu::DeviceDescriptor {
        label: Some("albert-lens"),
        required_features: features,
        required_limits: adapter.limits(),
        experimental_features: experimental,
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    }
}

/// The page's device: what the compute work needs on WebGPU ([`device_descriptor`]); on WebGL2,
/// which has no compute shaders, what eframe asks for by default (WebGL2's limits, textures
/// up to 8192 for large screens).
pub fn page_device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
    if adapter.get_info().backend != wgpu::Backend::Gl {
        return device_descriptor(adapter);
    }
    wgpu::DeviceDescriptor {
        label: Some("albert-lens"),
        required_limits: wgpu::Limits {
            max_texture_dimension_2d: 8192,
            ..wgpu::Limits::downlevel_webgl2_defaults()
        },
        ..Default::default()
    }
}

/// Workgroup memory of the cooperative-matrix kernel: two 64x32 f16 tiles and a 64x64 f32 tile.
const COOP_WORKGROUP_BYTES: u32 = 2 * 64 * 32 * 2 + 64 * 64 * 4;

/// What `--precision fast` needs of a device: cooperative matrices and f16 in shaders.
const COOPERATIVE: wgpu::Features =
    wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX.union(wgpu::Features::SHADER_F16);

/// Whether `adapter` can run `--precision fast`'s kernel (shaders/matmul_coop.wgsl): the
/// features, a 16x16x16 configuration with f16 inputs and an f32 accumulator, and subgroups of
/// exactly 32 (the kernel gives each subgroup of 32 its own quadrant), and room for its
/// workgroup memory.
fn tensor_cores(adapter: &wgpu::Adapter) -> bool {
    let info = adapter.get_info();
    adapter.features().contains(COOPERATIVE)
        && adapter.limits().max_compute_workgroup_storage_size >= COOP_WORKGROUP_BYTES
        && info.subgroup_min_size == 32
        && info.subgroup_max_size == 32
        && adapter.cooperative_matrix_properties().iter().any(|p| {
            (p.m_size, p.n_size, p.k_size) == (16, 16, 16)
                && p.ab_type == wgpu::CooperativeScalarType::F16
                && p.cr_type == wgpu::CooperativeScalarType::F32
        })
}

impl GpuContext {
    /// Creates a device on the best adapter wgpu finds (a discrete GPU first). Software
    /// adapters (lavapipe, llvmpipe) are accepted: they are what CI has.
    pub fn headless() -> Result<Self> {
        if cfg!(target_arch = "wasm32") {
            // the adapter and device come back as promises, which the page's one thread cannot
            // wait for: a page computes on the device it draws with (the app's worker)
            return Err(gpu_err(
                "a web page has no GPU device of its own (only the one it draws with)",
            ));
        }
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            apply_limit_buckets: false,
        }))
        .map_err(|e| gpu_err(format!("no GPU adapter found ({e})")))?;
        Self::from_adapter(&adapter)
    }

    fn from_adapter(adapter: &wgpu::Adapter) -> Result<Self> {
        let info = adapter.get_info();
        let (device, queue) =
            pollster::block_on(adapter.request_device(&device_descriptor(adapter)))
                .map_err(|e| gpu_err(format!("the GPU {} refused a device: {e}", info.name)))?;
        Ok(Self::from_device(device, queue, info))
    }

    /// Wraps a device made elsewhere (the app shares eframe's).
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let uncaptured = Arc::new(Mutex::new(None));
        {
            let lost = lost.clone();
            device.set_device_lost_callback(move |_reason, _msg| {
                lost.store(true, Ordering::SeqCst);
            });
        }
        {
            let slot = uncaptured.clone();
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                if let Ok(mut s) = slot.lock() {
                    *s = Some(e.to_string());
                }
            }));
        }
        GpuContext {
            device,
            queue,
            info,
            lost,
            uncaptured,
        }
    }

    /// Whether this device runs `--precision fast` (cooperative matrices were asked for and
    /// granted: see [`device_descriptor`]).
    pub fn tensor_cores(&self) -> bool {
        self.device.features().contains(COOPERATIVE)
            && self.info.subgroup_min_size == 32
            && self.info.subgroup_max_size == 32
    }

    /// "NVIDIA H200 (Vulkan)"
    pub fn adapter_name(&self) -> String {
        // a browser's WebGPU may describe its adapter with nothing at all
        let name = match self.info.name.trim() {
            "" if self.info.backend == wgpu::Backend::BrowserWebGpu => "the browser's adapter",
            "" => "an unnamed adapter",
            name => name,
        };
        format!("{name} ({:?})", self.info.backend)
    }

    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Fails if the device was lost or reported an error nobody caught.
    pub fn check(&self) -> Result<()> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(gpu_err(format!(
                "the GPU device ({}) was lost",
                self.info.name
            )));
        }
        if let Ok(mut s) = self.uncaptured.lock() {
            if let Some(e) = s.take() {
                return Err(gpu_err(format!("GPU error: {e}")));
            }
        }
        Ok(())
    }

    /// Runs `f` inside validation and out-of-memory error scopes and reports what they caught.
    /// A page cannot wait for a scope's answer (a promise, settled between frames): there the
    /// errors reach the uncaptured-error handler, which [`Self::check`] reads before and after
    /// every pass.
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        if cfg!(target_arch = "wasm32") {
            let out = f();
            self.check().map_err(|e| gpu_err(format!("{what}: {e}")))?;
            return Ok(out);
        }
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = o {
            return Err(gpu_err(format!("out of GPU memory while {what}: {e}")));
        }
        if let Some(e) = v {
            return Err(gpu_err(format!("GPU error while {what}: {e}")));
        }
        self.check()?;
        Ok(out)
    }
}
