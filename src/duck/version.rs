//! `lakemig_version()`: one row with the extension's version and what it was built with.

use std::sync::atomic::{AtomicBool, Ordering};

use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use crate::version::version_row;

pub struct LakemigVersion;

pub struct Done(AtomicBool);

impl VTab for LakemigVersion {
    type InitData = Done;
    type BindData = ();

    fn bind(bind: &BindInfo) -> Result<(), Box<dyn std::error::Error>> {
        for (name, _) in version_row("") {
            bind.add_result_column(name, LogicalTypeHandle::from(LogicalTypeId::Varchar));
        }
        bind.set_cardinality(1, true);
        Ok(())
    }

    fn init(_: &InitInfo) -> Result<Done, Box<dyn std::error::Error>> {
        Ok(Done(AtomicBool::new(false)))
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        if func.get_init_data().0.swap(true, Ordering::Relaxed) {
            output.set_len(0);
            return Ok(());
        }
        for (i, (_, value)) in version_row(&running_duckdb()).into_iter().enumerate() {
            output.flat_vector(i).insert(0, value.as_str());
        }
        output.set_len(1);
        Ok(())
    }
}

/// The version of the DuckDB library lakemig runs in (`duckdb_library_version`, stable since v1.0).
fn running_duckdb() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string owned by DuckDB.
    let ptr = unsafe { duckdb::ffi::duckdb_library_version() };
    if ptr.is_null() {
        return "unknown".to_string();
    }
    // SAFETY: non-null, NUL-terminated, static (above).
    unsafe { std::ffi::CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}
