//! Writing certificate files: atomically (a reader never sees half a file) and, for keys, owner-only.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use crate::CertError;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn create_dir(dir: &Path) -> Result<(), CertError> {
    fs::create_dir_all(dir).map_err(io_error(dir))
}

/// A directory only its owner can enter: it holds a private key.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), CertError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_error(dir))
}

pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), CertError> {
    write_atomically(path, contents, 0o600)
}

pub(crate) fn write_public(path: &Path, contents: &str) -> Result<(), CertError> {
    write_atomically(path, contents, 0o644)
}

/// Holds an exclusive lock on `path` (made if missing, owner-only) until dropped: for making files
/// that two programs started at once would otherwise both make.
pub(crate) fn lock(path: &Path) -> Result<fs::File, CertError> {
    let mut options = fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(io_error(path))?;
    file.lock().map_err(io_error(path))?;
    Ok(file)
}

fn write_atomically(path: &Path, contents: &str, mode: u32) -> Result<(), CertError> {
    // A name of this writer's own: two writers sharing one temporary file would mix their bytes.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let tmp: PathBuf = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The mode applies at creation, so a key is never readable by others, not even briefly.
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    // A stale temporary file from a crash may carry other permissions: start from scratch.
    let _ = fs::remove_file(&tmp);
    let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
    let written = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(&tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(io_error(path)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}
