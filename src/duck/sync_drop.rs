//! `pg_sync_drop(target, dsn := ...)`: stop keeping a target in step. For a CDC target, drops its
//! replication slot (so the source stops keeping WAL for it) and the publication lakemig made, then
//! the checkpoint; the target table stays. A slot other targets still read (a `pg_sync_tables`
//! call's) stays: only the table leaves lakemig's publication. The server comes from the checkpoint (its password
//! from libpq's environment or password file) unless `dsn :=` is given.

use duckdb::core::{DataChunkHandle, LogicalTypeHandle, LogicalTypeId};
use duckdb::vtab::{BindInfo, InitInfo, TableFunctionInfo, VTab};

use super::report::Pager;
use super::rows::Out;
use super::sync::side_connection;
use super::{args, fail, runtime};
use crate::error::{Error, Result};
use crate::postgres::connect;
use crate::postgres::replication;
use crate::sync::cdc::{dsn_of_server, others_on_slot, parse_cursor};
use crate::sync::checkpoint;
use crate::sync::engine::resolve_text;
use crate::sync::session::{Database, Session, SqlSession};
use crate::sync::statements::Statement;

pub const NAME: &str = "pg_sync_drop";

pub struct PgSyncDrop;

pub struct Args {
    target: String,
    dsn: Option<String>,
}

impl VTab for PgSyncDrop {
    type InitData = Pager;
    type BindData = Args;

    fn bind(bind: &BindInfo) -> Result<Args, Box<dyn std::error::Error>> {
        let target = args::required_string(bind, 0, "target").map_err(fail(NAME))?;
        let v = |id| LogicalTypeHandle::from(id);
        for (name, ty) in [
            ("target", v(LogicalTypeId::Varchar)),
            ("slot", v(LogicalTypeId::Varchar)),
            ("slot_dropped", v(LogicalTypeId::Boolean)),
            ("publication", v(LogicalTypeId::Varchar)),
            ("publication_dropped", v(LogicalTypeId::Boolean)),
            ("checkpoint_dropped", v(LogicalTypeId::Boolean)),
        ] {
            bind.add_result_column(name, ty);
        }
        Ok(Args {
            target,
            dsn: args::named_string(bind, "dsn"),
        })
    }

    fn init(init: &InitInfo) -> Result<Pager, Box<dyn std::error::Error>> {
        let mut con = side_connection(init, NAME)?;
        // SAFETY: DuckDB hands back the bind data this function's bind returned.
        let args = unsafe { &*init.get_bind_data::<Args>() };
        let out = drop_target(&mut SqlSession(&mut *con), args).map_err(fail(NAME))?;
        Ok(Pager::columns(out))
    }

    fn func(
        func: &TableFunctionInfo<Self>,
        output: &mut DataChunkHandle,
    ) -> Result<(), Box<dyn std::error::Error>> {
        func.get_init_data().next(output)
    }

    fn parameters() -> Option<Vec<LogicalTypeHandle>> {
        Some(vec![LogicalTypeHandle::from(LogicalTypeId::Varchar)])
    }

    fn named_parameters() -> Option<Vec<(String, LogicalTypeHandle)>> {
        Some(vec![(
            "dsn".into(),
            LogicalTypeHandle::from(LogicalTypeId::Varchar),
        )])
    }
}

fn drop_target<D: Database>(session: &mut SqlSession<&mut D>, args: &Args) -> Result<Vec<Out>> {
    let target = resolve_text(session, &args.target)?;
    let state = if session.columns(&target.state_table())?.is_empty() {
        None
    } else {
        session.read_checkpoint(&target)?
    };
    let state = state.ok_or_else(|| {
        Error::argument(format!(
            "target {} has no pg_sync checkpoint; nothing was changed (pg_sync_state() lists the targets)",
            target.quoted()
        ))
    })?;
    let (mut slot, mut publication) = (None, None);
    let (mut slot_dropped, mut publication_dropped) = (false, false);
    if let Some((s, p)) = parse_cursor(&state.cursor) {
        let dsn = match &args.dsn {
            Some(d) => d.clone(),
            None => dsn_of_server(&state.server).ok_or_else(|| {
                Error::argument(format!(
                    "cannot tell how to reach {} from the checkpoint; pass dsn := '...'",
                    state.server
                ))
            })?,
        };
        let params = connect::resolve(&dsn, &connect::ProcessEnv)?;
        // Every checkpoint, read only for a CDC target: does another target share its slot?
        let all = checkpoint::read_all(&mut *session.0)?;
        if others_on_slot(&all, &target.catalog, &target.state_key(), &s) > 0 {
            runtime::block_on(replication::leave_slot(&params, &s, &p, &state.source))?;
        } else {
            let (a, b) = runtime::block_on(replication::drop_slot(&params, &s, &p))?;
            (slot_dropped, publication_dropped) = (a, b);
        }
        (slot, publication) = (Some(s), Some(p));
    }
    session.run(&Statement::Begin)?;
    let dropped = session.run(&Statement::DropTable(target.state_table()));
    match dropped {
        Ok(_) => session.run(&Statement::Commit)?,
        Err(e) => {
            let _ = session.run(&Statement::Rollback);
            return Err(e);
        }
    };
    Ok(vec![
        Out::Text(vec![Some(target.display())]),
        Out::Text(vec![slot]),
        Out::Bool(vec![Some(slot_dropped)]),
        Out::Text(vec![publication]),
        Out::Bool(vec![Some(publication_dropped)]),
        Out::Bool(vec![Some(true)]),
    ])
}
