//! Replacing a file so that a reader sees the old content or the new, never half of either.

use std::io::{self, Write};
use std::path::Path;

/// Writes `data` to `path` through `<path>.tmp` and a rename. For runtime files (tmpfs: a
/// crash loses them with the node anyway).
pub fn replace(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

/// [`replace`], and durable once it returns: the data and the rename are on disk (fsync of the
/// file before the rename, of the directory after). For state that must survive a power loss.
/// The error names the step that failed.
pub fn replace_durably(path: &Path, data: &[u8]) -> Result<(), (&'static str, io::Error)> {
    let tmp = tmp_path(path);
    let mut f = std::fs::File::create(&tmp).map_err(|e| ("create", e))?;
    f.write_all(data).map_err(|e| ("write", e))?;
    f.sync_all().map_err(|e| ("fsync", e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| ("rename", e))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ("fsync of the directory", e))
}

fn tmp_path(path: &Path) -> std::path::PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    tmp.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files() {
        let dir = std::env::temp_dir().join(format!("ocf-lib-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("state");
        replace(&path, b"one").expect("replace");
        assert_eq!(std::fs::read(&path).expect("read"), b"one");
        replace_durably(&path, b"two").expect("durably");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        assert!(!dir.join("state.tmp").exists());
        let err = replace_durably(&dir.join("missing/state"), b"x").expect_err("no dir");
        assert_eq!(err.0, "create");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
