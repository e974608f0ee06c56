//! Replacing a file so that a reader sees the old content or the new, never half of either;
//! and taking turns at a file two invocations of an agent share.

use crate::Deadline;
use nix::fcntl::{Flock, FlockArg};
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

/// An exclusive lock, held until it is dropped.
pub struct Lock {
    _file: Flock<std::fs::File>,
}

/// Takes the exclusive lock of `path` (created, mode 0600, when missing), waiting for another
/// holder until `deadline`. Two invocations of one agent can overlap: a long monitor left
/// running by an executor that died, beside the monitor of the executor started after it.
/// Each takes the lock around its read-change-write of the state they share, so neither
/// writes over what the other has just recorded.
pub fn lock(path: &Path, deadline: &Deadline) -> io::Result<Lock> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => return Ok(Lock { _file: locked }),
            Err((back, nix::errno::Errno::EWOULDBLOCK)) => {
                file = back;
                if !deadline.sleep(Duration::from_millis(50)) {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{} stayed locked by another invocation", path.display()),
                    ));
                }
            }
            Err((_, errno)) => return Err(io::Error::from(errno)),
        }
    }
}

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

/// [`replace`] for a file only its owner may read or write (mode 0600 from its creation, never
/// readable by others in between), such as a cached credential.
pub fn replace_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = tmp_path(path);
    // A left-over temporary file may have another mode: never write into it.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// Whether `meta` is a regular file owned by this process's user that nobody else may read or
/// write: what a file holding a credential must be before it is believed.
pub fn is_private(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.is_file() && meta.uid() == nix::unistd::geteuid().as_raw() && meta.mode() & 0o077 == 0
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
    fn private_files_are_created_0600_and_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("oxha-private-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("token");
        // A left-over temporary file readable by others is replaced, not written into.
        std::fs::write(tmp_path(&path), b"old").expect("tmp");
        std::fs::set_permissions(tmp_path(&path), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        replace_private(&path, b"secret").expect("written");
        let meta = std::fs::metadata(&path).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(is_private(&meta));
        assert_eq!(std::fs::read(&path).expect("read"), b"secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(!is_private(&std::fs::metadata(&path).expect("meta")));
        assert!(!is_private(&std::fs::metadata(&dir).expect("meta")));
        let _ = std::fs::remove_dir_all(&dir);
    }

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

    #[test]
    fn a_lock_is_taken_in_turn() {
        let dir = std::env::temp_dir().join(format!("ocf-lib-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("lock");
        let held = lock(&path, &Deadline::none()).expect("first");
        let err = lock(&path, &Deadline::after(Duration::from_millis(200)))
            .err()
            .expect("held by the first");
        assert!(err.to_string().contains("stayed locked"), "{err}");
        drop(held);
        lock(&path, &Deadline::after(Duration::from_millis(200))).expect("free again");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
