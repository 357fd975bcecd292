//! The import's `Sink`: applies the import policy once the signature verified, then streams
//! each listed blob into the staging directory. Blobs the store already holds are only hashed
//! (the reader still checks them), never rewritten.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use feas_format::bundle::{BlobRef, BundleJson};
use feas_format::reader::{BundleError, Sink};
use feas_format::sign::KeyId;
use feas_format::Digest;

use super::policy::{self, Decision};
use super::trust::{Grant, Trust};
use super::ImportOptions;
use crate::store::{Paths, Store};

pub struct Staging<'a> {
    store: &'a Store,
    dir: PathBuf,
    opts: &'a ImportOptions,
    trust: &'a Trust,
    /// Verified only once `read_bundle` returns Ok.
    pub staged: BTreeMap<Digest, u64>,
    pub present: usize,
    already: Option<(BundleJson, KeyId)>,
    /// This exact bundle was the last import of its name and every blob is held: whether it
    /// is a no-op depends on its records still being there, seen once index.json is read.
    same_again: Option<(BundleJson, KeyId)>,
    /// Set when the store's filesystem lacks room: up front, or met mid-write.
    no_space: Option<NoSpace>,
    /// Bytes this import needs free (new blobs plus `METADATA_RESERVE`).
    needed: u64,
    progress: Option<indicatif::ProgressBar>,
}

/// Room an import keeps free beyond its blobs: the metadata commit and sled's snapshot after it.
const METADATA_RESERVE: u64 = 4 << 20;
/// Blob files take whole blocks; count each at least this much rounded up.
const BLOCK: u64 = 4096;

/// The store's filesystem has `free` bytes available, fewer than the `needed` an import takes.
#[derive(Debug, Clone, Copy)]
pub struct NoSpace {
    pub needed: u64,
    pub free: u64,
}

impl<'a> Staging<'a> {
    pub fn new(store: &'a Store, dir: &Path, opts: &'a ImportOptions, trust: &'a Trust) -> Staging<'a> {
        let progress = (opts.progress && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
            let p = indicatif::ProgressBar::new(0);
            p.set_style(
                indicatif::ProgressStyle::with_template("importing {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            p
        });
        Staging { store, dir: dir.to_path_buf(), opts, trust, staged: BTreeMap::new(), present: 0, already: None, same_again: None, no_space: None, needed: 0, progress }
    }

    /// Set when the read stopped because this exact bundle was imported before.
    pub fn already_imported(&self) -> Option<&(BundleJson, KeyId)> {
        self.already.as_ref()
    }

    /// Set when the read stopped because the store's filesystem is (or became) too full.
    pub fn no_space(&self) -> Option<NoSpace> {
        self.no_space
    }

    /// Refuse up front, before a byte is staged, when the blobs this bundle adds cannot fit:
    /// failing halfway through a multi-GiB import wastes the transfer and fills the disk the
    /// running mirror serves from. The sizes are bundle.json's, which the reader holds each
    /// blob to.
    fn check_space(&mut self, b: &BundleJson) -> Result<(), BundleError> {
        let new: u64 = b.blobs.iter().filter(|x| !self.store.blobs.exists(&x.digest)).map(|x| x.size.div_ceil(BLOCK) * BLOCK).sum();
        self.needed = new + METADATA_RESERVE;
        match fs2::available_space(&self.dir) {
            Ok(free) if free < self.needed => {
                self.no_space = Some(NoSpace { needed: self.needed, free });
                Err(BundleError::Refused("not enough free space in the store".into()))
            }
            Ok(_) => Ok(()),
            // Cannot tell: go on; a full disk is still caught when a write fails.
            Err(e) => {
                tracing::warn!("cannot read the free space of {}: {e}", self.dir.display());
                Ok(())
            }
        }
    }

    /// A write into staging failed: a full filesystem is told apart (with what is free now),
    /// anything else names the file.
    fn write_failed(&mut self, dest: &Path, e: io::Error) -> BundleError {
        if is_no_space(&e) {
            let free = fs2::available_space(&self.dir).unwrap_or(0);
            self.no_space = Some(NoSpace { needed: self.needed, free });
        }
        write_error(dest, e)
    }

    /// Whether any blob the bundle carries is no longer held (file or record).
    fn lacks_blobs(&self, b: &BundleJson) -> Result<bool, crate::store::StoreError> {
        for x in &b.blobs {
            if !self.store.blobs.exists(&x.digest) || !self.store.has_blob(&x.digest)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub fn finish_progress(&self) {
        if let Some(p) = &self.progress {
            p.finish_and_clear();
        }
    }
}

impl Sink for Staging<'_> {
    fn on_verified(&mut self, b: &BundleJson, bundle_json: &[u8], signer: KeyId) -> Result<(), BundleError> {
        let now = chrono::Utc::now();
        policy::check_expiry(b, now).map_err(|e| BundleError::Refused(e.into()))?;
        let grant = self.trust.may_sign(signer, &b.name);
        if let Grant::Refused(why) = grant {
            return Err(BundleError::Refused(why.into()));
        }
        policy::check_sequence_ahead(b, u64::try_from(now.timestamp()).unwrap_or(0)).map_err(|e| BundleError::Refused(e.into()))?;
        let store_err = |e: crate::store::StoreError| BundleError::Refused(e.into());
        let prev = self.store.bundle(&b.name).map_err(store_err)?;
        let mut history_err = None;
        let owner = policy::owner(prev.as_ref(), || {
            self.store.history().unwrap_or_else(|e| {
                history_err = Some(e);
                Vec::new()
            })
        });
        if let Some(e) = history_err {
            return Err(store_err(e));
        }
        let allowed = self.opts.allow_signer_change || grant == Grant::Named;
        policy::check_signer(b, signer, owner.as_deref(), prev.as_ref(), allowed).map_err(|e| BundleError::Refused(e.into()))?;
        let this = Digest::sha256_of(bundle_json);
        match policy::check_sequence(b, &this, prev.as_ref(), self.opts.allow_downgrade).map_err(|e| BundleError::Refused(e.into()))? {
            Decision::Import => {}
            // The same bundle again re-imports when the store lost some of its blobs since
            // (quarantined, or collected after `mirror rm`): that is how they come back.
            Decision::AlreadyImported if self.lacks_blobs(b).map_err(|e| BundleError::Refused(e.into()))? => {
                tracing::info!("bundle {} sequence {} was imported before but the store lacks some of its blobs: importing it again", b.name, b.sequence);
            }
            Decision::AlreadyImported => {
                // Every blob is held, so there is no space to check.
                self.same_again = Some((b.clone(), signer));
                return Ok(());
            }
        }
        self.check_space(b)?;
        if let Some(p) = &self.progress {
            p.set_message(format!("{} #{}", b.name, b.sequence));
            p.set_length(b.blobs.iter().map(|x| x.size).sum());
        }
        Ok(())
    }

    /// The same bundle again stops here, before a blob is read, unless the store lost some of
    /// its records since (a push that took an imported manifest over, in an older mirror; a
    /// record removed by hand): then it imports again and the commit restores them.
    fn on_index(&mut self, index: &[u8]) -> Result<(), BundleError> {
        let Some((b, signer)) = self.same_again.take() else { return Ok(()) };
        let store = self.store;
        let lookup = |d: &Digest| store.blobs.size(d).map(|n| (store.blobs.path(d), n));
        let lacking = match super::graph::walk(index, &lookup) {
            Ok(plan) if plan.missing.is_empty() => {
                let mut lacking = store.missing_records(&plan.changes).map_err(|e| BundleError::Refused(e.into()))?;
                if store.bundle(&b.name).map_err(|e| BundleError::Refused(e.into()))?.is_none() {
                    lacking.push(format!("bundle record {}", b.name));
                }
                lacking
            }
            Ok(plan) => plan.missing.iter().map(|d| format!("blob {d}")).collect(),
            Err(e) => vec![e.to_string()],
        };
        if lacking.is_empty() {
            self.already = Some((b, signer));
            return Err(BundleError::Refused("already imported".into()));
        }
        tracing::warn!(
            "bundle {} sequence {} was imported before but the store lacks {} of its records ({}…): importing it again to restore them",
            b.name,
            b.sequence,
            lacking.len(),
            lacking[0]
        );
        Ok(())
    }

    fn on_blob(&mut self, blob: &BlobRef, data: &mut dyn Read) -> Result<(), BundleError> {
        if self.store.blobs.exists(&blob.digest) {
            copy(blob, data, &mut io::sink()).map_err(|e| match e {
                Failed::Read(e) => e,
                Failed::Write(e) => write_error(Path::new("(discarded)"), e),
            })?;
            self.present += 1;
        } else {
            let dest = Paths::staged_blob(&self.dir, &blob.digest);
            let written = (|| {
                let file = File::create(&dest).map_err(Failed::Write)?;
                let mut w = BufWriter::with_capacity(1 << 20, file);
                copy(blob, data, &mut w)?;
                let file = w.into_inner().map_err(|e| Failed::Write(e.into_error()))?;
                // fsync now, while the data is hot, so promotion is a bare rename.
                file.sync_all().map_err(Failed::Write)
            })();
            match written {
                Ok(()) => {}
                Err(Failed::Read(e)) => return Err(e),
                Err(Failed::Write(e)) => return Err(self.write_failed(&dest, e)),
            }
            self.staged.insert(blob.digest.clone(), blob.size);
        }
        if let Some(p) = &self.progress {
            p.inc(blob.size);
        }
        Ok(())
    }
}

fn write_error(dest: &Path, e: io::Error) -> BundleError {
    BundleError::Io(io::Error::new(e.kind(), format!("writing {} into the store failed: {e}; check free space and permissions", dest.display())))
}

/// ENOSPC, or EDQUOT (a quota is a full disk to us).
fn is_no_space(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28 | 122))
}

/// Which side of a copy failed: the bundle (short or broken) or the store.
enum Failed {
    Read(BundleError),
    Write(io::Error),
}

/// Copy one blob, telling a short or broken bundle (read side) from a store problem (write side).
fn copy(blob: &BlobRef, data: &mut dyn Read, out: &mut dyn Write) -> Result<(), Failed> {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(Failed::Read(BundleError::Truncated(format!("inside blob {}", blob.digest)))),
            Err(e) => return Err(Failed::Read(BundleError::Io(io::Error::new(e.kind(), format!("reading blob {} from the bundle: {e}", blob.digest))))),
        };
        out.write_all(&buf[..n]).map_err(Failed::Write)?;
    }
}
