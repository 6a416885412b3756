//! Saved archive nodes, shared by the CLI and the window: `pacs-nodes.json` in the
//! configuration folder (beside the reviewer's key). Addresses and user names only — a
//! password is asked for each session and never written.

use super::{Endpoint, PacsError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A node under the name the operator gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedNode {
    /// The operator's name for it, e.g. `radiology`.
    pub name: String,
    /// Where and how.
    #[serde(flatten)]
    pub endpoint: Endpoint,
}

/// The file's name in the configuration folder.
pub const FILE: &str = "pacs-nodes.json";

/// Where the saved nodes live.
pub fn path() -> Result<PathBuf, PacsError> {
    crate::review::key::config_dir()
        .map(|d| d.join(FILE))
        .ok_or_else(|| {
            PacsError::BadInput("no configuration folder: set HOUNSFIELD_CONFIG_DIR or HOME".into())
        })
}

/// The saved nodes (none when the file does not exist yet).
pub fn load() -> Result<Vec<SavedNode>, PacsError> {
    let p = path()?;
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(PacsError::Failed(format!(
                "cannot read {}: {e}",
                p.display()
            )));
        }
    };
    serde_json::from_str(&text).map_err(|e| {
        PacsError::BadInput(format!(
            "{} is damaged ({e}): mend or remove it (it is never overwritten while damaged)",
            p.display()
        ))
    })
}

/// Saves `node`, replacing one of the same name.
pub fn add(node: SavedNode) -> Result<(), PacsError> {
    let name = node.name.trim();
    if name.is_empty() || name.len() > 64 || name.contains(['/', '\\']) {
        return Err(PacsError::BadInput(format!(
            "`{name}` is not a node name: 1 to 64 characters, no slashes"
        )));
    }
    let mut nodes = load()?;
    nodes.retain(|n| n.name != node.name);
    nodes.push(node);
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    save(&nodes)
}

/// Forgets a node; an unknown name is bad input.
pub fn remove(name: &str) -> Result<(), PacsError> {
    let mut nodes = load()?;
    let before = nodes.len();
    nodes.retain(|n| n.name != name);
    if nodes.len() == before {
        return Err(PacsError::BadInput(format!(
            "no saved node is called `{name}`"
        )));
    }
    save(&nodes)
}

/// The saved node called `name`.
pub fn find(name: &str) -> Result<SavedNode, PacsError> {
    let nodes = load()?;
    let known: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    nodes
        .iter()
        .find(|n| n.name == name)
        .cloned()
        .ok_or_else(|| {
            PacsError::BadInput(if known.is_empty() {
                format!(
                    "no saved node is called `{name}` (none saved: `hounsfield pacs nodes --add`)"
                )
            } else {
                format!(
                    "no saved node is called `{name}`; saved: {}",
                    known.join(", ")
                )
            })
        })
}

fn save(nodes: &[SavedNode]) -> Result<(), PacsError> {
    let p = path()?;
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| PacsError::Failed(format!("cannot make {}: {e}", d.display())))?;
    }
    let text = serde_json::to_string_pretty(nodes).map_err(|e| PacsError::Failed(e.to_string()))?;
    crate::io::atomic::write_atomic(&p, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")
    })
    .map_err(|e| PacsError::Failed(format!("cannot write {}: {e}", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_nodes_keep_no_password_and_read_back() {
        let n = SavedNode {
            name: "radiology".into(),
            endpoint: Endpoint::parse_web("https://pacs/dicom-web", Some("eng".into()), None)
                .unwrap(),
        };
        let text = serde_json::to_string(std::slice::from_ref(&n)).unwrap();
        assert!(
            text.contains("\"kind\":\"web\"") && !text.contains("password"),
            "{text}"
        );
        let back: Vec<SavedNode> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, vec![n]);
        let d = SavedNode {
            name: "ct".into(),
            endpoint: Endpoint::parse_dimse("ORTHANC@10.0.0.2:104", "HF").unwrap(),
        };
        let back: SavedNode = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }
}
