//! The plugin's parameters and persisted state: role, group and stem name.

use std::sync::{Arc, Mutex};

use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;
use stemcheck_live::Role;

/// The role parameter. `Auto` follows the host's track name ("Master", "Mix Bus" ... are the
/// master; anything else is a stem).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleSetting {
    /// Master if the track name says so, else stem.
    #[id = "auto"]
    #[name = "Auto (from track name)"]
    Auto,
    /// Always a stem: summed and compared against the master.
    #[id = "stem"]
    #[name = "Stem"]
    Stem,
    /// Always the master: what the stems' sum is compared against.
    #[id = "master"]
    #[name = "Master"]
    Master,
}

impl RoleSetting {
    /// The role this setting means, given the role the track name suggests.
    pub fn resolve(self, guessed: Role) -> Role {
        match self {
            Self::Auto => guessed,
            Self::Stem => Role::Stem,
            Self::Master => Role::Master,
        }
    }
}

/// The group parameter: instances compare only within their group.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSetting {
    /// Group A.
    #[id = "a"]
    A,
    /// Group B.
    #[id = "b"]
    B,
    /// Group C.
    #[id = "c"]
    C,
    /// Group D.
    #[id = "d"]
    D,
    /// Group E.
    #[id = "e"]
    E,
    /// Group F.
    #[id = "f"]
    F,
    /// Group G.
    #[id = "g"]
    G,
    /// Group H.
    #[id = "h"]
    H,
}

impl GroupSetting {
    /// Index from 0 ("A").
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The instance's persisted state: written by the editor, read by the glue to tell the core
/// this instance's role, group and name.
#[derive(Params)]
pub struct StemcheckParams {
    /// Editor window size and zoom. (nice-plug-egui 0.6 cannot persist it.)
    pub editor_state: Arc<EguiEditorState>,

    /// The stem name the user typed; empty to use the host's track name. Shared with the core
    /// (read on non-audio threads only).
    #[persist = "stem-name"]
    pub stem_name: Arc<Mutex<String>>,

    /// Stem or master.
    #[id = "role"]
    pub role: EnumParam<RoleSetting>,

    /// Which comparison this instance belongs to.
    #[id = "group"]
    pub group: EnumParam<GroupSetting>,
}

impl StemcheckParams {
    /// `stem_name` is the instance's `InstanceShared::name_override`, so a rename reaches the
    /// core without the audio thread.
    pub fn new(stem_name: Arc<Mutex<String>>) -> Self {
        Self {
            editor_state: crate::editor::default_state(),
            stem_name,
            role: EnumParam::new("Role", RoleSetting::Auto),
            group: EnumParam::new("Group", GroupSetting::A),
        }
    }
}
