//! The workstation window (egui/eframe over wgpu): series browser, findings banner, MPR,
//! slab MIP/MinIP and 3D views. A thin layer: state and navigation live in [`viewer`],
//! drawing in [`crate::gpu`], data in the core modules.

pub mod app;
pub mod browser;
pub mod callback;
pub mod case_panel;
pub mod chrome;
pub mod command;
pub mod editor;
pub mod file_browser;
pub mod gpu_sync;
pub mod headless;
pub mod help;
pub mod jobs;
pub mod layout;
pub mod op_templates;
pub mod pacs_browser;
pub mod panels;
pub mod prefs;
pub mod preview;
mod review_commands;
pub mod script;
pub mod setup;
pub mod tools;
pub mod viewer;
pub mod views;

pub use app::App;
pub use prefs::{Layout, Prefs};
pub use viewer::{SceneMode, ViewId, Viewer};
