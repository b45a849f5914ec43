//! A minimal VST3 host for tests, on the `vst3` crate's bindings: loads a `.vst3` bundle's
//! module in this process (`ModuleEntry`, `GetPluginFactory`), creates the audio-effect class,
//! sets it up for stereo at one sample rate in real-time mode and processes blocks with a
//! `ProcessContext`, so that a test can run the VST3 build next to the CLAP build (clack-host,
//! [`crate::host`]) in one process: two binaries, each with its own statics, meeting through the
//! shared-memory federation (issue 14).
//!
//! Only what Stemcheck needs: one main audio input and output bus, 32-bit samples, state
//! through `IComponent::getState`/`setState` (nice-plug's VST3 state: JSON, no length prefix),
//! parameters read through `IEditController`. nice-plug's wrapper is a single-component
//! plugin (the component is its own edit controller); a separate controller is refused with a
//! message rather than half supported.
//!
//! Threads as a host uses them: setup and teardown on the thread that owns the
//! [`Vst3Instance`], [`Vst3Instance::process`] on whichever thread the test moves it to (the
//! audio thread of [`crate::host::run_audio`]), never two calls at once (`&mut self`).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_void};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libloading::Library;
use vst3::Steinberg::IBStream_::IStreamSeekMode_::{kIBSeekCur, kIBSeekEnd, kIBSeekSet};
use vst3::Steinberg::Vst::BusDirections_::{kInput, kOutput};
use vst3::Steinberg::Vst::MediaTypes_::kAudio;
use vst3::Steinberg::Vst::ProcessContext_::StatesAndFlags_::{
    kPlaying, kProjectTimeMusicValid, kTempoValid, kTimeSigValid,
};
use vst3::Steinberg::Vst::ProcessModes_::kRealtime;
use vst3::Steinberg::Vst::SymbolicSampleSizes_::kSample32;
use vst3::Steinberg::Vst::{
    AudioBusBuffers, AudioBusBuffers__type0, IAudioProcessor, IAudioProcessorTrait, IComponent,
    IComponentTrait, IEditController, IEditControllerTrait, ParameterInfo, ProcessContext,
    ProcessData, ProcessSetup, SpeakerArr, SpeakerArrangement, String128,
};
use vst3::Steinberg::{
    FIDString, IBStream, IBStreamTrait, IPluginBaseTrait, IPluginFactory, IPluginFactoryTrait,
    PClassInfo, TUID, int32, int64, kInvalidArgument, kResultFalse, kResultOk, tresult,
};
use vst3::{Class, ComPtr, ComWrapper, Interface};

use crate::host::Transport;

/// The class category of audio processors (`kVstAudioEffectClass` in the SDK; the bindings
/// leave its string out).
const AUDIO_EFFECT_CLASS: &str = "Audio Module Class";
/// Channels of the one input and one output bus this host sets up.
const NUM_CHANNELS: usize = 2;
/// The host's tempo, in beats per minute (the CLAP host's transport uses the same).
const TEMPO_BPM: f64 = 120.0;

/// `ModuleEntry`'s type on Linux: the module's `dlopen` handle in, success out.
type ModuleEntryFn = unsafe extern "C" fn(*mut c_void) -> bool;
/// `ModuleExit`'s type on Linux.
type ModuleExitFn = unsafe extern "C" fn() -> bool;
/// `GetPluginFactory`'s type: a factory with one reference owned by the caller.
type GetPluginFactoryFn = unsafe extern "system" fn() -> *mut IPluginFactory;

/// The module file inside a bundle on this machine
/// (`Stemcheck.vst3/Contents/x86_64-linux/Stemcheck.so`).
pub fn module_path(bundle: &Path) -> PathBuf {
    let name = bundle
        .file_stem()
        .expect("a bundle is named <name>.vst3")
        .to_string_lossy();
    bundle
        .join("Contents")
        .join(format!("{}-linux", std::env::consts::ARCH))
        .join(format!("{name}.so"))
}

/// A loaded VST3 module and its factory. Instances keep it alive; the last one to go releases
/// the factory, calls `ModuleExit` and unloads the library, in that order.
pub struct Vst3Module {
    /// The factory; taken (released) in `drop` before `ModuleExit`.
    factory: Option<ComPtr<IPluginFactory>>,
    /// `ModuleExit`, if the module exports it.
    module_exit: Option<ModuleExitFn>,
    /// The library; declared last so that it is unloaded last.
    _library: Library,
}

impl Vst3Module {
    /// Loads the module of `bundle`, calls its `ModuleEntry` and gets its factory.
    pub fn load(bundle: &Path) -> Arc<Self> {
        let path = module_path(bundle);
        // SAFETY: loading a shared library runs its initialisers; this is the plugin we built.
        let library = unsafe { Library::new(&path) }
            .unwrap_or_else(|e| panic!("could not load {}: {e}", path.display()));
        // The SDK's Linux hosts hand `ModuleEntry` the module's own `dlopen` handle.
        let unix = libloading::os::unix::Library::from(library);
        let handle = unix.into_raw();
        // SAFETY: `handle` came from `into_raw` just above and is given back once.
        let library = Library::from(unsafe { libloading::os::unix::Library::from_raw(handle) });
        // SAFETY: the symbols have the types the VST3 SDK declares for them on Linux
        // (`linuxmain.cpp`, `ipluginbase.h`); the function pointers are used only while
        // `library` is loaded (it lives in the returned module).
        let (module_entry, module_exit, get_factory) = unsafe {
            (
                library
                    .get::<ModuleEntryFn>(b"ModuleEntry\0")
                    .ok()
                    .map(|s| *s),
                library
                    .get::<ModuleExitFn>(b"ModuleExit\0")
                    .ok()
                    .map(|s| *s),
                *library
                    .get::<GetPluginFactoryFn>(b"GetPluginFactory\0")
                    .expect("a VST3 module exports GetPluginFactory"),
            )
        };
        if let Some(entry) = module_entry {
            // SAFETY: called once, first, with the module's handle, as the SDK's hosts do.
            assert!(unsafe { entry(handle) }, "ModuleEntry failed");
        }
        // SAFETY: `GetPluginFactory` returns a factory with one reference for the caller (or
        // null), which the `ComPtr` takes over.
        let factory = unsafe { ComPtr::from_raw(get_factory()) }.expect("the module has a factory");
        Arc::new(Self {
            factory: Some(factory),
            module_exit,
            _library: library,
        })
    }

    fn factory(&self) -> &ComPtr<IPluginFactory> {
        self.factory
            .as_ref()
            .expect("the factory lives as long as the module")
    }

    /// The class id and name of the module's first audio-effect class.
    pub fn audio_effect_class(&self) -> (TUID, String) {
        let factory = self.factory();
        // SAFETY: plain queries on a live factory; `info` is a plain C struct the factory fills.
        unsafe {
            for index in 0..factory.countClasses() {
                let mut info: PClassInfo = std::mem::zeroed();
                if factory.getClassInfo(index, &mut info) != kResultOk {
                    continue;
                }
                if c_text(&info.category) == AUDIO_EFFECT_CLASS {
                    return (info.cid, c_text(&info.name));
                }
            }
        }
        panic!("the module has no {AUDIO_EFFECT_CLASS}");
    }
}

impl Drop for Vst3Module {
    fn drop(&mut self) {
        drop(self.factory.take());
        if let Some(exit) = self.module_exit {
            // SAFETY: every object of the module is released (the instances hold the module,
            // so this runs after the last of them), and `ModuleEntry` ran; the library is
            // unloaded only after this.
            unsafe { exit() };
        }
    }
}

/// One instance of the audio-effect class, with its audio buffers.
pub struct Vst3Instance {
    /// The component (its `IAudioProcessor` and `IEditController` are the same object).
    component: ComPtr<IComponent>,
    processor: ComPtr<IAudioProcessor>,
    controller: ComPtr<IEditController>,
    /// Whether `setActive(true)` (and `setProcessing(true)`) are in force.
    active: bool,
    /// Sample rate of the current activation, in Hz.
    sample_rate_hz: f64,
    /// The input and output channels handed to `process`, `max_frames` long each.
    inputs: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
    /// Frames processed since activation (`continousTimeSamples`).
    frames_processed: i64,
    /// The module; declared last so that the objects above are released before it.
    _module: Arc<Vst3Module>,
}

impl Vst3Instance {
    /// Creates and initialises an instance of `module`'s audio-effect class, its buses set to
    /// stereo in and out.
    pub fn new(module: &Arc<Vst3Module>) -> Self {
        let (cid, _name) = module.audio_effect_class();
        let mut object: *mut c_void = std::ptr::null_mut();
        // SAFETY: `cid` and the interface id are 16-byte ids that live across the call;
        // `object` receives an `IComponent` with one reference for us, or stays null.
        let result = unsafe {
            module.factory().createInstance(
                cid.as_ptr() as FIDString,
                IComponent::IID.as_ptr() as FIDString,
                &mut object,
            )
        };
        assert_eq!(result, kResultOk, "createInstance");
        // SAFETY: the factory handed us this reference (see above).
        let component = unsafe { ComPtr::from_raw(object as *mut IComponent) }
            .expect("createInstance returned an object");
        // NOTE: no host context: nice-plug's `initialize` ignores it (hosts pass an
        // `IHostApplication` there; nothing in this plugin asks for one).
        // SAFETY: `initialize` comes first, once, on the thread that owns the instance; a
        // null context is allowed (the plugin gets no host interfaces from it).
        let result = unsafe { component.initialize(std::ptr::null_mut()) };
        assert_eq!(result, kResultOk, "initialize");
        let mut controller_cid: TUID = [0; 16];
        // SAFETY: `controller_cid` is a 16-byte id the component may fill.
        let separate = unsafe { component.getControllerClassId(&mut controller_cid) } == kResultOk;
        assert!(
            !separate,
            "a separate edit controller class: this test host supports single-component \
             plugins only"
        );
        let processor = component
            .cast::<IAudioProcessor>()
            .expect("the component is an IAudioProcessor");
        let controller = component
            .cast::<IEditController>()
            .expect("a single-component plugin is its own IEditController");
        let mut inputs: [SpeakerArrangement; 1] = [SpeakerArr::kStereo];
        let mut outputs: [SpeakerArrangement; 1] = [SpeakerArr::kStereo];
        // SAFETY: one arrangement per bus, in arrays that live across the call.
        let result = unsafe {
            processor.setBusArrangements(inputs.as_mut_ptr(), 1, outputs.as_mut_ptr(), 1)
        };
        assert_eq!(result, kResultOk, "stereo in and out");
        Self {
            component,
            processor,
            controller,
            active: false,
            sample_rate_hz: 0.0,
            inputs: Vec::new(),
            outputs: Vec::new(),
            frames_processed: 0,
            _module: module.clone(),
        }
    }

    /// The component's state (`IComponent::getState`).
    pub fn save_state(&mut self) -> Vec<u8> {
        let stream = ComWrapper::new(MemoryStream::default());
        let ptr = stream.to_com_ptr::<IBStream>().expect("a stream");
        // SAFETY: the stream lives across the call (we hold a reference); the component only
        // writes into it.
        let result = unsafe { self.component.getState(ptr.as_ptr()) };
        assert_eq!(result, kResultOk, "getState");
        stream.bytes.borrow().clone()
    }

    /// Loads a state into the component, and then into its controller, as hosts do after
    /// `IComponent::setState`. Whether the component accepted it.
    pub fn load_state(&mut self, bytes: &[u8]) -> bool {
        let stream = ComWrapper::new(MemoryStream::with(bytes));
        let ptr = stream.to_com_ptr::<IBStream>().expect("a stream");
        // SAFETY: the stream lives across the call (we hold a reference); the component reads
        // it from its current position.
        let accepted = unsafe { self.component.setState(ptr.as_ptr()) } == kResultOk;
        stream.pos.set(0);
        // SAFETY: as above, for the controller.
        let result = unsafe { self.controller.setComponentState(ptr.as_ptr()) };
        assert_eq!(result, kResultOk, "setComponentState");
        accepted
    }

    /// Sets group ("a" to "h"), role ("auto", "stem", "master") and typed name through the
    /// plugin's own state: saved, edited, loaded back (as `host::Instance::configure` does for
    /// the CLAP build, whose state has a length prefix this one lacks).
    pub fn configure(&mut self, group: &str, role: &str, name: &str) {
        let state = self.save_state();
        let mut json: serde_json::Value = serde_json::from_slice(&state).unwrap();
        json["params"]["group"] = serde_json::json!({ "string": group });
        json["params"]["role"] = serde_json::json!({ "string": role });
        json["fields"]["stem-name"] =
            serde_json::Value::String(serde_json::to_string(name).unwrap());
        assert!(
            self.load_state(&serde_json::to_vec(&json).unwrap()),
            "the plugin accepts its own edited state"
        );
    }

    /// The text the edit controller shows for the parameter titled `title` at its current
    /// value (`None` without such a parameter).
    pub fn param_text(&self, title: &str) -> Option<String> {
        // SAFETY: plain queries on the live controller; `info` and `text` are C buffers it
        // fills, alive across each call.
        unsafe {
            for index in 0..self.controller.getParameterCount() {
                let mut info: ParameterInfo = std::mem::zeroed();
                if self.controller.getParameterInfo(index, &mut info) != kResultOk
                    || utf16_text(&info.title) != title
                {
                    continue;
                }
                let value = self.controller.getParamNormalized(info.id);
                let mut text: String128 = [0; 128];
                if self
                    .controller
                    .getParamStringByValue(info.id, value, &mut text)
                    != kResultOk
                {
                    return None;
                }
                return Some(utf16_text(&text));
            }
        }
        None
    }

    /// Sets up processing (real time, 32-bit, `sample_rate_hz`, blocks of up to `max_frames`),
    /// activates the buses and the component, and starts processing.
    pub fn activate(&mut self, sample_rate_hz: f64, max_frames: usize) {
        self.deactivate();
        let mut setup = ProcessSetup {
            processMode: kRealtime as int32,
            symbolicSampleSize: kSample32 as int32,
            maxSamplesPerBlock: max_frames as int32,
            sampleRate: sample_rate_hz,
        };
        // SAFETY: calls in the order the VST3 workflow prescribes (setup, buses, active,
        // processing), on the owning thread, with `setup` alive across its call.
        unsafe {
            assert_eq!(
                self.processor.canProcessSampleSize(kSample32 as int32),
                kResultOk,
                "32-bit samples"
            );
            assert_eq!(self.processor.setupProcessing(&mut setup), kResultOk);
            for direction in [kInput, kOutput] {
                let result = self
                    .component
                    .activateBus(kAudio as int32, direction as int32, 0, 1);
                assert_eq!(result, kResultOk, "activateBus");
            }
            assert_eq!(self.component.setActive(1), kResultOk, "setActive(true)");
            assert_eq!(self.processor.setProcessing(1), kResultOk, "setProcessing");
        }
        self.active = true;
        self.sample_rate_hz = sample_rate_hz;
        self.frames_processed = 0;
        self.inputs = vec![vec![0.0; max_frames]; NUM_CHANNELS];
        self.outputs = vec![vec![0.0; max_frames]; NUM_CHANNELS];
    }

    /// Stops processing and deactivates (the buses stay as they are).
    pub fn deactivate(&mut self) {
        if !self.active {
            return;
        }
        // SAFETY: the reverse of `activate`, on the owning thread, no `process` running.
        unsafe {
            self.processor.setProcessing(0);
            self.component.setActive(0);
        }
        self.active = false;
    }

    /// Processes one block, out of place: `input` holds one slice per channel (two). Returns
    /// the output channels.
    pub fn process(&mut self, input: &[&[f32]], transport: Transport) -> Vec<Vec<f32>> {
        assert!(self.active, "activate before processing");
        assert_eq!(input.len(), NUM_CHANNELS);
        let frames = input[0].len();
        for (buffer, data) in self.inputs.iter_mut().zip(input) {
            buffer[..frames].copy_from_slice(data);
        }
        let mut input_channels: [*mut f32; NUM_CHANNELS] =
            std::array::from_fn(|c| self.inputs[c].as_mut_ptr());
        let mut output_channels: [*mut f32; NUM_CHANNELS] =
            std::array::from_fn(|c| self.outputs[c].as_mut_ptr());
        let mut input_bus = AudioBusBuffers {
            numChannels: NUM_CHANNELS as int32,
            silenceFlags: 0,
            __field0: AudioBusBuffers__type0 {
                channelBuffers32: input_channels.as_mut_ptr(),
            },
        };
        let mut output_bus = AudioBusBuffers {
            numChannels: NUM_CHANNELS as int32,
            silenceFlags: 0,
            __field0: AudioBusBuffers__type0 {
                channelBuffers32: output_channels.as_mut_ptr(),
            },
        };
        let mut context = match transport {
            Transport::Playing(pos) | Transport::Stopped(pos) => Some(process_context(
                pos,
                self.sample_rate_hz,
                matches!(transport, Transport::Playing(_)),
                self.frames_processed,
            )),
            Transport::None => None,
        };
        let mut data = ProcessData {
            processMode: kRealtime as int32,
            symbolicSampleSize: kSample32 as int32,
            numSamples: frames as int32,
            numInputs: 1,
            numOutputs: 1,
            inputs: &mut input_bus,
            outputs: &mut output_bus,
            inputParameterChanges: std::ptr::null_mut(),
            outputParameterChanges: std::ptr::null_mut(),
            inputEvents: std::ptr::null_mut(),
            outputEvents: std::ptr::null_mut(),
            processContext: context
                .as_mut()
                .map_or(std::ptr::null_mut(), |c| c as *mut ProcessContext),
        };
        // SAFETY: the instance is active and processing; every pointer in `data` (buses,
        // channel arrays of `frames` valid samples each, the context) lives until the call
        // returns, and no other call into the instance runs meanwhile (`&mut self`). Null
        // parameter changes and event lists mean none, which the VST3 API allows.
        let result = unsafe { self.processor.process(&mut data) };
        assert_eq!(result, kResultOk, "process");
        self.frames_processed += frames as i64;
        self.outputs.iter().map(|b| b[..frames].to_vec()).collect()
    }
}

impl Drop for Vst3Instance {
    fn drop(&mut self) {
        self.deactivate();
        // SAFETY: the last call before the references go, after deactivation.
        unsafe { self.component.terminate() };
    }
}

/// The host's `ProcessContext` for a block at sample `pos` (120 BPM in 4/4, like the CLAP
/// host's transport): nice-plug takes the plugin's `pos_samples` from `projectTimeSamples`.
fn process_context(
    pos: i64,
    sample_rate_hz: f64,
    playing: bool,
    frames_since_start: i64,
) -> ProcessContext {
    // SAFETY: `ProcessContext` is a C struct of numbers (and of structs of numbers), for which
    // all zeros is a valid value; the fields that matter are set below.
    let mut context: ProcessContext = unsafe { std::mem::zeroed() };
    context.state = kTempoValid | kTimeSigValid | kProjectTimeMusicValid;
    if playing {
        context.state |= kPlaying;
    }
    context.sampleRate = sample_rate_hz;
    context.projectTimeSamples = pos;
    context.continousTimeSamples = frames_since_start;
    context.projectTimeMusic = pos as f64 / sample_rate_hz * TEMPO_BPM / 60.0;
    context.tempo = TEMPO_BPM;
    context.timeSigNumerator = 4;
    context.timeSigDenominator = 4;
    context
}

/// A NUL-terminated C string in a fixed array, as text.
fn c_text(chars: &[std::ffi::c_char]) -> String {
    // SAFETY: `c_char` and `u8` have the same size and alignment; the slice stays borrowed.
    let bytes = unsafe { std::slice::from_raw_parts(chars.as_ptr() as *const u8, chars.len()) };
    CStr::from_bytes_until_nul(bytes)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A NUL-terminated UTF-16 string in a fixed array, as text.
fn utf16_text(chars: &[u16]) -> String {
    let end = chars.iter().position(|&c| c == 0).unwrap_or(chars.len());
    String::from_utf16_lossy(&chars[..end])
}

/// An in-memory `IBStream` for state: what the plugin writes, or what it is to read.
#[derive(Default)]
struct MemoryStream {
    bytes: RefCell<Vec<u8>>,
    /// The read and write position, in bytes.
    pos: Cell<usize>,
}

impl MemoryStream {
    fn with(bytes: &[u8]) -> Self {
        Self {
            bytes: RefCell::new(bytes.to_vec()),
            pos: Cell::new(0),
        }
    }
}

impl Class for MemoryStream {
    type Interfaces = (IBStream,);
}

impl IBStreamTrait for MemoryStream {
    unsafe fn read(&self, buffer: *mut c_void, num_bytes: int32, num_read: *mut int32) -> tresult {
        if buffer.is_null() || num_bytes < 0 {
            return kInvalidArgument;
        }
        let bytes = self.bytes.borrow();
        let start = self.pos.get().min(bytes.len());
        let n = (num_bytes as usize).min(bytes.len() - start);
        // SAFETY: the caller's `buffer` holds at least `num_bytes >= n` bytes; ours holds
        // `start + n`; they do not overlap (the plugin's memory is not ours).
        unsafe { std::ptr::copy_nonoverlapping(bytes[start..].as_ptr(), buffer as *mut u8, n) };
        self.pos.set(start + n);
        if !num_read.is_null() {
            // SAFETY: a non-null out-pointer from the caller.
            unsafe { *num_read = n as int32 };
        }
        kResultOk
    }

    unsafe fn write(
        &self,
        buffer: *mut c_void,
        num_bytes: int32,
        num_written: *mut int32,
    ) -> tresult {
        if buffer.is_null() || num_bytes < 0 {
            return kInvalidArgument;
        }
        // SAFETY: the caller's `buffer` holds `num_bytes` readable bytes for this call.
        let data = unsafe { std::slice::from_raw_parts(buffer as *const u8, num_bytes as usize) };
        let mut bytes = self.bytes.borrow_mut();
        let start = self.pos.get();
        if bytes.len() < start + data.len() {
            bytes.resize(start + data.len(), 0);
        }
        bytes[start..start + data.len()].copy_from_slice(data);
        self.pos.set(start + data.len());
        if !num_written.is_null() {
            // SAFETY: a non-null out-pointer from the caller.
            unsafe { *num_written = num_bytes };
        }
        kResultOk
    }

    unsafe fn seek(&self, pos: int64, mode: int32, result: *mut int64) -> tresult {
        let base = match mode as u32 {
            m if m == kIBSeekSet => 0,
            m if m == kIBSeekCur => self.pos.get() as int64,
            m if m == kIBSeekEnd => self.bytes.borrow().len() as int64,
            _ => return kInvalidArgument,
        };
        let Some(new) = base.checked_add(pos).filter(|p| *p >= 0) else {
            return kResultFalse;
        };
        self.pos.set(new as usize);
        if !result.is_null() {
            // SAFETY: a non-null out-pointer from the caller.
            unsafe { *result = new };
        }
        kResultOk
    }

    unsafe fn tell(&self, pos: *mut int64) -> tresult {
        if pos.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: a non-null out-pointer from the caller.
        unsafe { *pos = self.pos.get() as int64 };
        kResultOk
    }
}
