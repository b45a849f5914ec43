//! The dashboard: every instance opens the same view of its group, with its own row
//! highlighted. It reads the core's published snapshot (never waiting for the core or the audio
//! thread) and edits this instance's role, group and name.

use std::sync::Arc;
use std::time::Duration;

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::*;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier, create_egui_editor,
};
use stemcheck_live::{InstanceShared, Role, latest_snapshot};

use crate::params::{GroupSetting, RoleSetting, StemcheckParams};

pub mod checklist;
#[cfg(test)]
mod tests;
pub mod view;

/// Default window size, in logical pixels.
const DEFAULT_SIZE: (u32, u32) = (1000, 900);
/// How often the dashboard redraws while open.
const REPAINT_INTERVAL: Duration = Duration::from_millis(33);

/// The editor state a new instance starts with: `DEFAULT_SIZE` at zoom 1.
pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(
        LogicalSize::new(DEFAULT_SIZE.0 as f32, DEFAULT_SIZE.1 as f32),
        1.0,
    )
}

/// The egui app behind the editor.
pub struct Dashboard {
    params: Arc<StemcheckParams>,
    shared: Arc<InstanceShared>,
    gui: Option<GuiContext>,
    /// The name field's text while it is being edited.
    name_buffer: String,
}

/// Builds the editor for one instance; it only reads the core's snapshot and this instance's
/// params and shared state, so opening it never blocks the audio thread.
pub fn create(
    params: Arc<StemcheckParams>,
    shared: Arc<InstanceShared>,
) -> Option<EguiEditor<Dashboard>> {
    let settings = EguiNiceSettings::new()
        .with_tile("Stemcheck")
        .with_resize_hint(ResizeHint::resizable())
        .with_repaint_poll_interval(REPAINT_INTERVAL);
    let name_buffer = stemcheck_live::instance::lock_name(&shared.name_override);
    create_egui_editor(
        params.editor_state.clone(),
        RepaintNotifier::new(),
        settings,
        Dashboard {
            params,
            shared,
            gui: None,
            name_buffer,
        },
    )
}

impl NiceEguiApp for Dashboard {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(gui);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        let group = self.params.group.value().index();
        self.header(ui, group);
        ui.separator();
        // The snapshot is swapped in whole by the core: reading it never waits.
        let snapshot = latest_snapshot(group);
        egui::ScrollArea::vertical().show(ui, |ui| match snapshot {
            Some(snapshot) => view::draw(
                ui,
                &snapshot,
                view::OwnRow {
                    lane_id: self.shared.lane_id(),
                    ring_key: self.shared.ring_key(),
                },
            ),
            None => {
                ui.label("Waiting for audio: start playback in the host.");
            }
        });
        ui.ctx().request_repaint_after(REPAINT_INTERVAL);
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }

    fn track_info_changed(&mut self, info: TrackInfo) {
        self.shared.set_track_name(info.name());
    }
}

impl Dashboard {
    fn header(&mut self, ui: &mut egui::Ui, group_index: usize) {
        ui.horizontal(|ui| {
            ui.heading("Stemcheck");
            ui.separator();

            ui.label("Role");
            let current_role = self.params.role.value();
            let mut role = current_role;
            egui::ComboBox::from_id_salt("role")
                .selected_text(role_text(role, self.shared.guessed_role()))
                .show_ui(ui, |ui| {
                    for option in [RoleSetting::Auto, RoleSetting::Stem, RoleSetting::Master] {
                        ui.selectable_value(
                            &mut role,
                            option,
                            role_text(option, self.shared.guessed_role()),
                        );
                    }
                });
            if role != current_role {
                self.set_param(&self.params.role, role);
            }

            ui.label("Group");
            let current_group = self.params.group.value();
            let mut group = current_group;
            egui::ComboBox::from_id_salt("group")
                .selected_text(format!("{:?}", group))
                .show_ui(ui, |ui| {
                    for option in [
                        GroupSetting::A,
                        GroupSetting::B,
                        GroupSetting::C,
                        GroupSetting::D,
                        GroupSetting::E,
                        GroupSetting::F,
                        GroupSetting::G,
                        GroupSetting::H,
                    ] {
                        ui.selectable_value(&mut group, option, format!("{option:?}"));
                    }
                });
            if group != current_group {
                self.set_param(&self.params.group, group);
            }

            ui.label("Name");
            let track_name = stemcheck_live::instance::lock_name(&self.shared.track_name);
            // Without a track name from the host the instance goes by its generated name
            // ("Stem 3"): shown here, in its own window, so the user can find and change it.
            let hint = if track_name.is_empty() {
                self.shared.fallback_name()
            } else {
                track_name
            };
            let response = ui.add(
                egui::TextEdit::singleline(&mut self.name_buffer)
                    .hint_text(hint)
                    .desired_width(180.0),
            );
            if response.changed() {
                stemcheck_live::instance::store_name(&self.shared.name_override, &self.name_buffer);
            }
            if self.shared.has_generated_name() {
                ui.label(
                    egui::RichText::new(format!(
                        "Shown as \"{}\": the host gives no track name; type one",
                        self.shared.fallback_name()
                    ))
                    .small()
                    .italics(),
                );
            }
            ui.separator();
            // Written by the core's thread, never here or on the audio thread.
            if ui.button("Save report").clicked() {
                stemcheck_live::report::request_report(group_index);
            }
        });
    }

    fn set_param<P: Param>(&self, param: &P, value: P::Plain) {
        if let Some(gui) = &self.gui {
            let setter = gui.param_setter();
            setter.begin_set_parameter(param);
            setter.set_parameter(param, value);
            setter.end_set_parameter(param);
        }
    }
}

fn role_text(setting: RoleSetting, guessed: Role) -> String {
    match setting {
        RoleSetting::Auto => match guessed {
            Role::Master => "Auto (master)".to_string(),
            Role::Stem => "Auto (stem)".to_string(),
        },
        RoleSetting::Stem => "Stem".to_string(),
        RoleSetting::Master => "Master".to_string(),
    }
}
