//! Stemcheck, the plugin: put one instance on every stem bus and one on the master. Every
//! instance passes its audio through (bit for bit, subnormal samples flushed to zero) and streams
//! a copy to the process-wide analysis core (`stemcheck-live`), which compares the stems' sum
//! with the master.
//!
//! This file holds only the plugin type, its nice-plug trait impls and the exports; the
//! parameters are in `params.rs` and the dashboard under `editor/`.

use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::prelude::*;
use stemcheck_bus::subnormal::flush_subnormals;
use stemcheck_bus::{BlockInfo, PositionSource};
use stemcheck_live::{FallbackClock, InstanceShared, PluginFormat, Registration};

pub mod editor;
pub mod params;

/// Set by the `stemcheck-demo` binary: instances then show the dashboard without joining.
pub const DEMO_ENV: &str = "STEMCHECK_DEMO";

use params::StemcheckParams;

/// One Stemcheck instance.
pub struct Stemcheck {
    params: Arc<StemcheckParams>,
    /// What this instance shares with the core and the editor.
    shared: Arc<InstanceShared>,
    /// The lane to the core; `None` before activation, or if registration failed (the plugin
    /// then only passes audio through, and the editor says why).
    registration: Option<Registration>,
    /// Position source when the host gives no transport.
    clock: FallbackClock,
    sample_rate_hz: f32,
}

impl Default for Stemcheck {
    fn default() -> Self {
        let shared = Arc::new(InstanceShared::default());
        let params = Arc::new(StemcheckParams::new(shared.name_override.clone()));
        Self {
            params,
            shared,
            registration: None,
            clock: FallbackClock::start(0),
            sample_rate_hz: 48_000.0,
        }
    }
}

impl Stemcheck {
    /// Copies the role and group parameters to the core's view. Wait-free.
    fn publish_settings(&self) {
        let role = self.params.role.value().resolve(self.shared.guessed_role());
        self.shared.set_role(role);
        self.shared.set_group(self.params.group.value().index());
    }
}

impl Plugin for Stemcheck {
    const NAME: &'static str = "Stemcheck";
    const VENDOR: &'static str = "Stemcheck";
    const URL: &'static str = "https://stemcheck.invalid";
    const EMAIL: &'static str = "support@stemcheck.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
        // Surround buses (5.1, 7.1; VST3 k51 and k71Cine): every channel passes through, the
        // first two are compared live, and the dashboard and the report say so (an
        // `incomplete-analysis` warning), so the verdict never covers channels not compared.
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(6),
            main_output_channels: NonZeroU32::new(6),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(8),
            main_output_channels: NonZeroU32::new(8),
            ..AudioIOLayout::const_default()
        },
    ];

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = nice_plug_egui::EguiEditor<editor::Dashboard>;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.shared.clone())
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.sample_rate_hz = buffer_config.sample_rate;
        // The format this binary was loaded as: the core shows where each instance lives, and
        // the first instance's format is what this binary announces to the others.
        self.shared.set_format(match context.plugin_api() {
            PluginApi::Clap => PluginFormat::Clap,
            PluginApi::Vst3 => PluginFormat::Vst3,
            PluginApi::Standalone => PluginFormat::Other,
        });
        self.shared.set_bus_channels(
            audio_io_layout
                .main_input_channels
                .map_or(0, NonZeroU32::get),
        );
        // A host's offline render (CLAP render mode, VST3 kOffline) may wait for the analysis;
        // real time never does. NOTE: nice-plug 0.4.2's VST3 wrapper stores the process mode of
        // the previous `setupProcessing` call in the buffer config, so a VST3 host's first
        // offline render after a real-time setup is seen as real time. DawDreamer 0.9 marks
        // only its graph non-realtime, so its plugins run in real-time mode: at hundreds of
        // times real time they drop, and the report says so (`incomplete-analysis`).
        let offline = buffer_config.process_mode == ProcessMode::Offline;
        self.publish_settings();
        self.clock = FallbackClock::start(self.shared.group());
        // The demo binary's own (silent) instance only shows the dashboard of the generated
        // session; it does not take part in it.
        if std::env::var_os(DEMO_ENV).is_some() {
            return true;
        }
        // One lane per live instance: a re-activation at the same rate keeps its lane (hosts
        // re-activate at every render); at another rate the lane is replaced, and the core
        // retires the old one at once.
        if let Some(registration) = self.registration.as_mut()
            && registration.reuse_for(buffer_config.sample_rate)
        {
            registration.set_offline(offline);
            return true;
        }
        // The new registration first, then the old one goes (on assignment): the core then
        // hands the new lane to the old one's place before it learns the old producer left.
        match stemcheck_live::register(self.shared.clone(), buffer_config.sample_rate) {
            Ok(mut registration) => {
                registration.set_offline(offline);
                self.registration = Some(registration);
            }
            Err(e) => nice_warn!("Stemcheck could not join the analysis core: {e}"),
        }
        // Activation never fails: the audio must pass through even without analysis.
        true
    }

    fn deactivate(&mut self) {
        // The registration stays: a host re-activates at every render, and a new lane per
        // activation left the old one behind as a ghost. It goes with the instance (or is
        // replaced by an activation at another sample rate).
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.publish_settings();
        let num_frames = buffer.samples();
        // The output is the input (nice-plug hands us the host's input already in the output
        // buffer, copied there if the host processes out of place) with subnormal samples
        // flushed to zero: on the copy into the lane, or in a pass of its own without one.
        let Some(registration) = self.registration.as_mut() else {
            for channel in buffer.as_slice().iter_mut() {
                flush_subnormals(channel);
            }
            return ProcessStatus::Normal;
        };
        let transport = context.transport();
        let info = match transport.pos_samples() {
            Some(pos_samples) => BlockInfo {
                pos_samples,
                source: PositionSource::HostTransport,
                playing: transport.playing,
                sample_rate_hz: self.sample_rate_hz,
            },
            None => BlockInfo {
                pos_samples: self.clock.advance(num_frames),
                source: PositionSource::FreeRunning,
                playing: true,
                sample_rate_hz: self.sample_rate_hz,
            },
        };
        registration.push_block_flushing(&info, buffer.as_slice());
        ProcessStatus::Normal
    }
}

impl ClapPlugin for Stemcheck {
    const CLAP_ID: &'static str = "com.stemcheck.stemcheck";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Live null test of stems against the master, with the cause named");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::Analyzer,
        ClapFeature::Utility,
        ClapFeature::Stereo,
        ClapFeature::Mono,
        ClapFeature::Surround,
    ];
}

impl Vst3Plugin for Stemcheck {
    const VST3_CLASS_ID: [u8; 16] = *b"StemcheckAnalyzr";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(Stemcheck);
nice_export_vst3!(Stemcheck);
