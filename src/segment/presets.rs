//! Threshold presets: named HU ranges in one editable JSON file. The built-in table is
//! `assets/presets/thresholds.json`; users pass their own with `--presets FILE`.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// One preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preset {
    /// Name used in recipes, e.g. "bone".
    pub name: String,
    /// Lowest HU, inclusive.
    pub lo: i32,
    /// Highest HU, inclusive.
    pub hi: i32,
    /// Where the range comes from.
    #[serde(default)]
    pub note: String,
}

/// The preset table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Presets {
    /// Presets in display order.
    pub presets: Vec<Preset>,
}

/// The built-in table.
pub const BUILT_IN: &str = include_str!("../../assets/presets/thresholds.json");

impl Presets {
    /// The built-in table.
    pub fn built_in() -> Self {
        // The file is part of the build and checked by a test, so it always parses.
        serde_json::from_str(BUILT_IN).unwrap_or(Self {
            presets: Vec::new(),
        })
    }

    /// Reads a user table; errors say which file and what is wrong.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let p: Self =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for x in &p.presets {
            if x.lo > x.hi {
                return Err(format!(
                    "{}: preset `{}` has lo {} > hi {}",
                    path.display(),
                    x.name,
                    x.lo,
                    x.hi
                ));
            }
        }
        Ok(p)
    }

    /// The preset named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Preset> {
        self.presets
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// All names.
    pub fn names(&self) -> Vec<&str> {
        self.presets.iter().map(|p| p.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_table_has_the_standard_ranges() {
        let p: Presets = serde_json::from_str(BUILT_IN).unwrap();
        let want = [
            ("bone", 226, 3071),
            ("compact_bone_adult", 662, 1988),
            ("compact_bone_child", 586, 2198),
            ("spongy_bone_adult", 148, 661),
            ("enamel_adult", 1553, 2850),
            ("soft_tissue", -700, 225),
            ("fat", -205, -51),
            ("skin", -718, -177),
            ("muscle", -5, 135),
            ("brain", 0, 80),
        ];
        for (n, lo, hi) in want {
            let x = p.get(n).unwrap();
            assert_eq!((x.lo, x.hi), (lo, hi), "{n}");
        }
    }
}
