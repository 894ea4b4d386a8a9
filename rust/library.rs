//! Which `SQLite` library this process runs, and whether it runs more than one.
//!
//! Two copies of `SQLite` in one process break POSIX advisory locks: closing a file in one
//! copy drops the locks the other copy holds, and committed data can be lost
//! (sqlite.org/howtocorrupt.html, section 2.3). strata links the system libsqlite3 so that
//! it shares one copy with Python's `sqlite3` module; this module lets tests and
//! `strata doctor` prove that.

use std::collections::BTreeSet;
use std::ffi::{c_void, CStr};

use rusqlite::ffi;

/// The library the core is linked against.
#[derive(Debug, Clone)]
pub struct LibraryInfo {
    pub version: String,
    pub source_id: String,
    /// The file the dynamic loader mapped `sqlite3_libversion` from.
    pub path: Option<String>,
    /// The address of `sqlite3_libversion` in this process; equal addresses mean the same
    /// loaded copy.
    pub libversion_address: usize,
    pub compile_options: Vec<String>,
}

#[must_use]
pub fn library_info() -> LibraryInfo {
    // SAFETY: sqlite3_libversion and sqlite3_sourceid take no arguments, may be called
    // before sqlite3_initialize, and return pointers to NUL-terminated strings compiled
    // into the library, which stay valid for as long as it is loaded (for the process:
    // the core links it); each is copied into a `String` before the block ends.
    let (version, source_id) = unsafe {
        (
            CStr::from_ptr(ffi::sqlite3_libversion())
                .to_string_lossy()
                .into_owned(),
            CStr::from_ptr(ffi::sqlite3_sourceid())
                .to_string_lossy()
                .into_owned(),
        )
    };
    let address = ffi::sqlite3_libversion as *const c_void;
    LibraryInfo {
        version,
        source_id,
        path: object_file_of(address),
        libversion_address: address as usize,
        compile_options: compile_options(),
    }
}

fn compile_options() -> Vec<String> {
    let mut options = Vec::new();
    for index in 0.. {
        // SAFETY: sqlite3_compileoption_get accepts any index: past the last option it
        // returns NULL, otherwise a pointer into the library's static table of options.
        let option = unsafe { ffi::sqlite3_compileoption_get(index) };
        if option.is_null() {
            break;
        }
        options.push(
            // SAFETY: not NULL (checked above), so a NUL-terminated string in the
            // library's static data, valid while it is loaded; copied out at once.
            unsafe { CStr::from_ptr(option) }
                .to_string_lossy()
                .into_owned(),
        );
    }
    options
}

/// The path of the shared object that contains `address`, from the dynamic loader.
fn object_file_of(address: *const c_void) -> Option<String> {
    // SAFETY: `Dl_info` is a C struct of pointers and nothing else, for which all zero
    // bits (null pointers) is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr accepts any address (it returns 0 for one in no loaded object),
    // only reads the loader's tables, and writes nothing but `info`, which is a valid,
    // exclusively borrowed `Dl_info`.
    let found = unsafe { libc::dladdr(address, &raw mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr succeeded and `dli_fname` is not null: it points to the
    // NUL-terminated path the loader keeps for the object, valid while that object stays
    // loaded. The object holds `sqlite3_libversion`, which the core links against, so it
    // stays loaded; the name is copied out at once.
    let name = unsafe { CStr::from_ptr(info.dli_fname) }
        .to_string_lossy()
        .into_owned();
    Some(std::fs::canonicalize(&name).map_or(name, |p| p.to_string_lossy().into_owned()))
}

/// Every file mapped into this process that carries its own copy of `SQLite`.
///
/// A copy is recognised by two strings that the `SQLite` library itself must embed: the
/// header magic it writes at the start of every database file, and one of its own error
/// messages. Either alone is not enough: `DuckDB`, for one, embeds the magic to recognise
/// `SQLite` files without containing `SQLite`. Shared libraries and statically linked
/// extension modules both carry the pair, so this also finds a copy compiled into another
/// extension (python-build-standalone's `_sqlite3`, pysqlite3, `DuckDB`'s sqlite extension).
///
/// The core's own file is skipped, because it holds these strings as search needles and in
/// rusqlite's error texts. Whatever copy the core runs is added back by its path, so a
/// core built with a bundled `SQLite` still shows up as a second copy.
#[must_use]
pub fn loaded_copies() -> Vec<String> {
    let linked = library_info().path;
    let own_file = object_file_of(loaded_copies as *const c_void);
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return linked.into_iter().collect();
    };
    let mapped: BTreeSet<&str> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|path| path.starts_with('/') && looks_like_shared_object(path))
        .collect();
    let magic = memchr::memmem::Finder::new(b"SQLite format 3\0");
    let own_message = memchr::memmem::Finder::new(b"database disk image is malformed");
    mapped
        .into_iter()
        .filter(|path| {
            std::fs::read(path).is_ok_and(|bytes| {
                magic.find(&bytes).is_some() && own_message.find(&bytes).is_some()
            })
        })
        .map(|path| {
            std::fs::canonicalize(path)
                .map_or(path.to_owned(), |p| p.to_string_lossy().into_owned())
        })
        .filter(|path| Some(path) != own_file.as_ref())
        .chain(linked)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn looks_like_shared_object(path: &str) -> bool {
    // Versioned names (libsqlite3.so.0.8.6) have no ".so" extension, hence the second test.
    let file = std::path::Path::new(path);
    file.extension().is_some_and(|ext| ext == "so")
        || file
            .file_name()
            .is_some_and(|name| name.to_string_lossy().contains(".so."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linked_against_the_system_library() {
        let info = library_info();
        let path = info.path.expect("dladdr finds the library");
        assert!(
            path.contains("libsqlite3.so"),
            "linked against {path}, not the system copy"
        );
        assert!(info.version.starts_with('3'));
    }

    #[test]
    fn the_linked_copy_is_the_only_copy() {
        let info = library_info();
        let copies = loaded_copies();
        assert_eq!(copies, vec![info.path.unwrap()]);
    }
}
