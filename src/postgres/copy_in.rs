//! Writing PostgreSQL's binary COPY input (`COPY t (...) FROM STDIN (FORMAT binary)`): rows of
//! [`PgValue`]s framed into tuples between the header and the trailer ([`BinaryCopyEncoder`]; each
//! value written by [`crate::postgres::codec::encode`]), and the stream that hands them to
//! tokio-postgres' `copy_in` sink with bounded memory ([`copy_in_with`]). Rows of SQLite values are
//! converted first by [`crate::sqlite::convert`].

use bytes::Bytes;
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio_postgres::Client;

use super::codec::conversion::{COPY_HEADER, COPY_TRAILER};
use super::codec::encode;
use crate::error::{Error, Result};
use crate::sql::quote_ident;
use crate::types::pg_value::{CopyColumn, PgValue};

/// Default size of one chunk handed to the server.
pub const DEFAULT_CHUNK_BYTES: usize = 256 * 1024;

/// Encodes rows into binary COPY data in one growing buffer, to be handed over in chunks.
pub struct BinaryCopyEncoder {
    table: String,
    columns: Vec<CopyColumn>,
    buf: Vec<u8>,
    rows: u64,
    /// Where the row begun with `begin_row` and not yet ended starts.
    open_row: Option<usize>,
}

impl BinaryCopyEncoder {
    /// `table` is only used in error messages (`"schema"."table"`).
    pub fn new(table: impl Into<String>, columns: Vec<CopyColumn>) -> Self {
        let mut buf = Vec::with_capacity(DEFAULT_CHUNK_BYTES + 64 * 1024);
        buf.extend_from_slice(COPY_HEADER);
        BinaryCopyEncoder {
            table: table.into(),
            columns,
            buf,
            rows: 0,
            open_row: None,
        }
    }

    /// The columns being written.
    pub fn columns(&self) -> &[CopyColumn] {
        &self.columns
    }

    /// The table, as given to [`BinaryCopyEncoder::new`].
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Append a row already converted (the caller keeps the [`PgValue`]s, e.g. to checksum them).
    pub fn write_values(&mut self, values: &[PgValue<'_>]) {
        self.buf
            .extend_from_slice(&(values.len() as i16).to_be_bytes());
        for v in values {
            encode::field(v, &mut self.buf);
        }
        self.rows += 1;
    }

    /// Begin a row of `columns` values, appended one by one with [`BinaryCopyEncoder::push_value`]
    /// and closed with [`BinaryCopyEncoder::end_row`]. A row left open (a value failed to convert)
    /// is dropped by [`BinaryCopyEncoder::finish`] and never sent.
    pub fn begin_row(&mut self, columns: usize) {
        self.open_row = Some(self.buf.len());
        self.buf.extend_from_slice(&(columns as i16).to_be_bytes());
    }

    /// Append one value of the row begun.
    pub fn push_value(&mut self, v: &PgValue<'_>) {
        encode::field(v, &mut self.buf);
    }

    /// Close the row begun.
    pub fn end_row(&mut self) {
        self.open_row = None;
        self.rows += 1;
    }

    /// Bytes waiting to be sent.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Take the buffered bytes (the buffer starts again empty).
    pub fn take(&mut self) -> Bytes {
        let cap = self.buf.capacity();
        Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(cap)))
    }

    /// The trailer, and everything still buffered (but a row left open).
    pub fn finish(mut self) -> Bytes {
        if let Some(start) = self.open_row.take() {
            self.buf.truncate(start);
        }
        self.buf.extend_from_slice(&COPY_TRAILER);
        Bytes::from(self.buf)
    }
}

enum CopyMsg {
    Data(Bytes),
    Done,
}

/// The producing half of a streamed COPY: used on a blocking thread; sends chunks of about
/// `chunk_bytes`, waiting when the server is slower (the channel holds a few chunks at most).
pub struct CopyInWriter {
    encoder: Option<BinaryCopyEncoder>,
    tx: mpsc::Sender<CopyMsg>,
    chunk_bytes: usize,
}

impl CopyInWriter {
    /// Send one row of already converted values.
    pub fn write_values(&mut self, values: &[PgValue<'_>]) -> Result<()> {
        self.encoder_mut().write_values(values);
        self.flush_if_full()
    }

    /// Begin a row value by value (see [`BinaryCopyEncoder::begin_row`]); on an error before
    /// [`CopyInWriter::end_row`], return it: the COPY is then aborted.
    pub fn begin_row(&mut self, columns: usize) {
        self.encoder_mut().begin_row(columns);
    }

    /// Append one value of the row begun.
    pub fn push_value(&mut self, v: &PgValue<'_>) {
        self.encoder_mut().push_value(v);
    }

    /// Close the row begun, and send a chunk when one is full.
    pub fn end_row(&mut self) -> Result<()> {
        self.encoder_mut().end_row();
        self.flush_if_full()
    }

    /// The columns being written.
    pub fn columns(&self) -> &[CopyColumn] {
        self.encoder.as_ref().map_or(&[], |e| e.columns())
    }

    /// The table being written (`"schema"."table"`).
    pub fn table(&self) -> &str {
        self.encoder.as_ref().map_or("", |e| e.table())
    }

    fn encoder_mut(&mut self) -> &mut BinaryCopyEncoder {
        self.encoder.as_mut().expect("used after finish")
    }

    fn flush_if_full(&mut self) -> Result<()> {
        if self.encoder_mut().buffered() >= self.chunk_bytes {
            let chunk = self.encoder_mut().take();
            self.send(CopyMsg::Data(chunk))?;
        }
        Ok(())
    }

    fn send(&self, msg: CopyMsg) -> Result<()> {
        self.tx.blocking_send(msg).map_err(|_| Error::CopyAborted {
            table: self
                .encoder
                .as_ref()
                .map_or_else(String::new, |e| e.table.clone()),
            reason: "the server side of the COPY ended early".into(),
        })
    }

    /// Send the rest and the trailer, and tell the COPY it is complete. Returns the rows written.
    pub fn finish(&mut self) -> Result<u64> {
        let Some(enc) = self.encoder.take() else {
            return Ok(0);
        };
        let rows = enc.rows();
        let table = enc.table.clone();
        let last = enc.finish();
        let err = |_| Error::CopyAborted {
            table: table.clone(),
            reason: "the server side of the COPY ended early".into(),
        };
        self.tx.blocking_send(CopyMsg::Data(last)).map_err(err)?;
        self.tx.blocking_send(CopyMsg::Done).map_err(err)?;
        Ok(rows)
    }
}

/// `COPY "schema"."table" ("a", "b") FROM STDIN (FORMAT binary)`, every name quoted.
pub fn copy_in_sql(table_quoted: &str, columns: &[CopyColumn]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    format!(
        "COPY {table_quoted} ({}) FROM STDIN (FORMAT binary)",
        cols.join(", ")
    )
}

/// Stream rows into `table_quoted` with binary COPY. `produce` runs on a blocking thread (it may read
/// SQLite there) and writes rows into the [`CopyInWriter`]; at most a few chunks of
/// `chunk_bytes` are in flight. Returns the rows PostgreSQL reports and what `produce` returned.
///
/// If `produce` fails, the COPY is aborted (CopyFail: nothing of it stays in the table) and its error
/// is returned; if the server fails, its error is returned. `target` is `host:port/db as user`.
pub async fn copy_in_with<F, R>(
    client: &Client,
    table_quoted: &str,
    columns: Vec<CopyColumn>,
    chunk_bytes: usize,
    target: &str,
    produce: F,
) -> Result<(u64, R)>
where
    F: FnOnce(&mut CopyInWriter) -> Result<R> + Send + 'static,
    R: Send + 'static,
{
    let sql = copy_in_sql(table_quoted, &columns);
    let context = format!("copying rows into {table_quoted}");
    let sink = client
        .copy_in::<_, Bytes>(sql.as_str())
        .await
        .map_err(|e| Error::from_pg(e, &context, target))?;
    let (tx, mut rx) = mpsc::channel::<CopyMsg>(4);
    let mut writer = CopyInWriter {
        encoder: Some(BinaryCopyEncoder::new(table_quoted, columns)),
        tx,
        chunk_bytes: chunk_bytes.max(4096),
    };
    let producer = tokio::task::spawn_blocking(move || {
        let out = produce(&mut writer);
        let out = out.and_then(|r| writer.finish().map(|_| r));
        drop(writer);
        out
    });
    let mut sink = std::pin::pin!(sink);
    let mut server: Result<u64> = Err(Error::CopyAborted {
        table: table_quoted.to_string(),
        reason: "the reader stopped before the end".into(),
    });
    while let Some(msg) = rx.recv().await {
        match msg {
            CopyMsg::Data(b) => {
                if let Err(e) = sink.as_mut().feed(b).await {
                    server = Err(Error::from_pg(e, &context, target));
                    break;
                }
            }
            CopyMsg::Done => {
                server = sink
                    .as_mut()
                    .finish()
                    .await
                    .map_err(|e| Error::from_pg(e, &context, target));
                break;
            }
        }
    }
    // Dropping the receiver unblocks a producer still sending; dropping an unfinished sink aborts the COPY.
    drop(rx);
    let produced = producer.await.map_err(|e| Error::CopyAborted {
        table: table_quoted.to_string(),
        reason: format!("the reader panicked: {e}"),
    })?;
    match (produced, server) {
        (Ok(r), Ok(n)) => Ok((n, r)),
        // A server error explains why the producer could not send: report the server's.
        (Err(Error::CopyAborted { .. }), Err(e)) => Err(e),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::pg_value::PgTarget;

    #[test]
    fn a_row_left_open_is_not_sent() {
        let cols = vec![
            CopyColumn::new("a", PgTarget::Int4),
            CopyColumn::new("b", PgTarget::Int4),
        ];
        let mut e = BinaryCopyEncoder::new("t", cols.clone());
        e.begin_row(2);
        e.push_value(&PgValue::Int4(1));
        e.push_value(&PgValue::Int4(2));
        e.end_row();
        e.begin_row(2);
        e.push_value(&PgValue::Int4(3));
        let mut whole = BinaryCopyEncoder::new("t", cols);
        whole.write_values(&[PgValue::Int4(1), PgValue::Int4(2)]);
        assert_eq!(e.rows(), 1);
        assert_eq!(e.finish(), whole.finish());
    }
}
