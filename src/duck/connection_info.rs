//! `pg_connection_info(dsn)`: connect with lakemig's connection layer and describe the session.
//! The first thing to run when a DSN, a password or sslmode does not behave.

use std::sync::atomic::{AtomicBool, Ordering};

use duckdb::core::{DataChunkHandle, Inserter, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::{args, fail, runtime};
use crate::postgres::{self, connect};

const NAME: &str = "pg_connection_info";

pub struct PgConnectionInfo;

pub struct Bind {
    params: connect::ConnParams,
}

impl VTab for PgConnectionInfo {
    type InitData = AtomicBool;
    type BindData = Bind;

    fn bind(bind: &BindInfo) -> Result<Bind, Box<dyn std::error::Error>> {
        let dsn = args::required_string(bind, 0, "dsn").map_err(fail(NAME))?;
        let params = connect::resolve(&dsn, &connect::ProcessEnv).map_err(fail(NAME))?;
        let cols = [
            ("host", LogicalTypeId::Varchar),
            ("port", LogicalTypeId::Integer),
            ("database", LogicalTypeId::Varchar),
            ("user", LogicalTypeId::Varchar),
            ("server_version", LogicalTypeId::Varchar),
            ("ssl", LogicalTypeId::Boolean),
            ("ssl_version", LogicalTypeId::Varchar),
        ];
        for (name, ty) in cols {
            bind.add_result_column(name, LogicalTypeHandle::from(ty));
        }
        Ok(Bind { params })
    }

    fn init(_: &InitInfo) -> Result<AtomicBool, Box<dyn std::error::Error>> {
        Ok(AtomicBool::new(false))
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        if func.get_init_data().swap(true, Ordering::Relaxed) {
            output.set_len(0);
            return Ok(());
        }
        let params = &func.get_bind_data().params;
        let info = runtime::block_on(postgres::connection_info(params)).map_err(fail(NAME))?;
        output.flat_vector(0).insert(0, info.host.as_str());
        // SAFETY: column 1 was declared INTEGER (physical i32) in bind; one row fits any chunk.
        unsafe { output.flat_vector(1).copy::<i32>(&[i32::from(info.port)]) };
        output.flat_vector(2).insert(0, info.database.as_str());
        output.flat_vector(3).insert(0, info.user.as_str());
        output
            .flat_vector(4)
            .insert(0, info.server_version.as_str());
        // SAFETY: column 5 was declared BOOLEAN (physical bool) in bind.
        unsafe { output.flat_vector(5).copy::<bool>(&[info.ssl]) };
        match &info.ssl_version {
            Some(v) => output.flat_vector(6).insert(0, v.as_str()),
            None => output.flat_vector(6).set_null(0),
        }
        output.set_len(1);
        Ok(())
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)])
    }
}
