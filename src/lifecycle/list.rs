//! `list`: every container under a state root.

use crate::error::Result;
use crate::state::{self, State, StateView, Status};
use std::path::Path;

/// One container of [`list`]: its recorded state, or none for a state
/// directory left by a create killed before its first save (listed as
/// stopped so that it can be found and deleted).
pub struct Listed {
    pub id: String,
    pub status: Status,
    pub state: Option<State>,
}

impl Listed {
    /// The OCI state object, as `kist list --format json` prints it.
    pub fn view(&self) -> StateView<'_> {
        match &self.state {
            Some(st) => st.to_json(self.status),
            None => StateView {
                oci_version: crate::OCI_VERSION,
                id: &self.id,
                pid: 0,
                status: Status::Stopped.as_str(),
                bundle: Path::new(""),
                rootfs: Path::new(""),
                created: "",
                annotations: None,
                owner: "",
            },
        }
    }
}

/// The containers under `root`, sorted by id; none if `root` cannot be
/// read. Containers being deleted or half-created concurrently are skipped.
pub fn list(root: &Path) -> Result<Vec<Listed>> {
    let mut states = Vec::new();
    let mut unrecorded = Vec::new();
    let mut names: Vec<String> = match std::fs::read_dir(root) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    for name in names {
        let Ok(c) = state::Container::open_dir(root, &name) else {
            continue;
        };
        if !c.dir.join(state::STATE_FILE).exists() {
            unrecorded.push(Listed {
                id: name,
                status: Status::Stopped,
                state: None,
            });
            continue;
        }
        let Ok(st) = c.load() else { continue };
        let status = st.status(&c.dir);
        states.push(Listed {
            id: st.id.clone(),
            status,
            state: Some(st),
        });
    }
    states.extend(unrecorded);
    states.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::list;

    #[test]
    fn empty_and_missing_roots_list_nothing() {
        let root = std::env::temp_dir().join(format!("kist-list-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        assert!(list(&root).unwrap().is_empty());
        std::fs::create_dir_all(&root).unwrap();
        assert!(list(&root).unwrap().is_empty());
        // a state directory without a state file: listed, stopped
        let held = crate::state::Container::create(&root, "half").unwrap();
        drop(held);
        let l = list(&root).unwrap();
        assert_eq!(l.len(), 1);
        let v = l[0].view();
        assert_eq!((v.id, v.pid, v.status), ("half", 0, "stopped"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
