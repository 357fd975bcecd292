//! The import lock: an flock on STORE/lock held for the whole of an import, so two imports
//! (two socket clients of one server, or a server and a CLI) never interleave. The file is
//! never deleted: removing a lock file races with the next locker.

use std::fs::File;

use fs2::FileExt;

use super::paths::Paths;
use super::StoreError;

pub struct ImportLock {
    file: File,
}

impl ImportLock {
    /// Blocks while another import holds the lock (and says so once).
    pub fn acquire(paths: &Paths) -> Result<ImportLock, StoreError> {
        let path = paths.lock();
        let io = |source| StoreError::Io { path: path.clone(), source };
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
        if file.try_lock_exclusive().is_err() {
            tracing::warn!("another import is running on {}; waiting for it to finish", paths.root().display());
            file.lock_exclusive().map_err(io)?;
        }
        Ok(ImportLock { file })
    }
}

impl Drop for ImportLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}
