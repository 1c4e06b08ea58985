//! Reading PostgreSQL's binary COPY output (`COPY (...) TO STDOUT (FORMAT binary)`): the stream's
//! framing (header, tuples, trailer) and the decoder that turns it into columnar batches laid out the
//! way DuckDB stores its vectors ([`crate::types::batch`]), so `src/duck/` can copy them as they are.
//!
//! The stream arrives in chunks of any size. Whole tuples are decoded straight from the chunk; only a
//! tuple that spans chunks is gathered in a small buffer first. Each value is parsed by
//! [`crate::postgres::codec::decode`] (PostgreSQL's `*_send` layouts); arrays are walked here, since
//! their elements go into nested lists. The counterpart of DuckDB's postgres extension
//! `postgres_binary_reader.hpp`. The same decoder takes the rows logical replication sends, one row's
//! values at a time ([`CopyDecoder::push_row`]): pgoutput's binary values are the same `*_send` layouts.

use std::collections::VecDeque;

use super::codec::conversion::{COPY_FLAG_WITH_OIDS, COPY_HEADER_FIXED_LEN, COPY_SIGNATURE};
use super::codec::decode::{
    be_i32, be_u32, date_to_duck, decode_error, fixed, interval_to_duck, next_field, time_of_day,
    timestamp_to_duck, timetz_to_duck, utf8, PgNumeric,
};
use crate::error::{Error, Result};
use crate::types::batch::{Batch, Column, ColumnData, DuckInterval};
use crate::types::postgres::Decode;

/// Decodes one binary COPY stream into batches.
pub struct CopyDecoder {
    names: Vec<String>,
    builders: Vec<Builder>,
    batch_rows: usize,
    rows_in_batch: usize,
    rows_decoded: u64,
    ready: VecDeque<Batch>,
    state: State,
    /// The start of a header or tuple that spans chunks.
    pending: Vec<u8>,
    /// How far the tuple in `pending` has been scanned.
    scan: TupleScan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Tuples,
    /// Rows are pushed one by one ([`CopyDecoder::push_row`]), not fed as a stream.
    Rows,
    /// The trailer was seen.
    Done,
    /// An error was returned; the decoder's contents are no longer consistent.
    Failed,
}

impl CopyDecoder {
    /// A decoder for `columns` (name for messages, how to decode), in the order of the COPY's select list.
    pub fn new(columns: Vec<(String, Decode)>, batch_rows: usize) -> Self {
        let batch_rows = batch_rows.max(1);
        let mut names = Vec::with_capacity(columns.len());
        let mut builders = Vec::with_capacity(columns.len());
        for (name, decode) in columns {
            names.push(name);
            builders.push(Builder::new(&decode, batch_rows));
        }
        CopyDecoder {
            names,
            builders,
            batch_rows,
            rows_in_batch: 0,
            rows_decoded: 0,
            ready: VecDeque::new(),
            state: State::Header,
            pending: Vec::new(),
            scan: TupleScan::default(),
        }
    }

    /// A decoder of rows pushed one by one ([`CopyDecoder::push_row`]) instead of a COPY stream.
    pub fn for_rows(columns: Vec<(String, Decode)>, batch_rows: usize) -> Self {
        CopyDecoder {
            state: State::Rows,
            ..CopyDecoder::new(columns, batch_rows)
        }
    }

    /// Feed the next chunk; completed batches of exactly `batch_rows` rows become available from
    /// [`CopyDecoder::next_batch`]. After an error the decoder refuses further input.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        let result = self.feed_inner(chunk);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    /// The next full batch, oldest first.
    pub fn next_batch(&mut self) -> Option<Batch> {
        self.ready.pop_front()
    }

    /// End of stream: an error if the trailer was not seen or bytes are left over. Returns the next
    /// batch not yet taken: normally the last, partial one (`None` if it has no rows). Batches not
    /// taken before this call stay in order: the oldest is returned, the rest come from `next_batch`.
    pub fn finish(&mut self) -> Result<Option<Batch>> {
        match self.state {
            State::Failed => return Err(stream_error("an earlier error stopped the decoding")),
            State::Header | State::Tuples => {
                self.state = State::Failed;
                let reason = if self.pending.is_empty() {
                    "the stream ended before its end-of-data marker (the COPY was cut short)"
                        .to_string()
                } else {
                    format!(
                        "the stream ended inside a row ({} bytes of it arrived; the COPY was cut short)",
                        self.pending.len()
                    )
                };
                return Err(stream_error(reason));
            }
            State::Done | State::Rows => {}
        }
        if self.rows_in_batch > 0 {
            if let Err(e) = self.flush_batch() {
                self.state = State::Failed;
                return Err(e);
            }
        }
        Ok(self.ready.pop_front())
    }

    /// Rows decoded so far, across all batches.
    pub fn rows_decoded(&self) -> u64 {
        self.rows_decoded
    }

    /// Decode one row given as its values (None: NULL), one per column in order, as logical
    /// replication sends them: the same decoding as a COPY tuple's, without its framing. Only for a
    /// decoder made by [`CopyDecoder::for_rows`]; [`CopyDecoder::finish`] ends the rows.
    pub fn push_row<'v>(
        &mut self,
        values: impl ExactSizeIterator<Item = Option<&'v [u8]>>,
    ) -> Result<()> {
        let result = self.push_row_inner(values);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn push_row_inner<'v>(
        &mut self,
        values: impl ExactSizeIterator<Item = Option<&'v [u8]>>,
    ) -> Result<()> {
        match self.state {
            State::Rows => {}
            State::Failed => return Err(stream_error("an earlier error stopped the decoding")),
            State::Header | State::Tuples | State::Done => {
                return Err(stream_error("a row pushed into a COPY stream"))
            }
        }
        if values.len() != self.builders.len() {
            return Err(stream_error(format!(
                "a row has {} fields, but {} columns were selected",
                values.len(),
                self.builders.len()
            )));
        }
        for ((builder, name), value) in self.builders.iter_mut().zip(&self.names).zip(values) {
            match value {
                Some(value) => builder.push_value(value, name)?,
                None => builder.push_null(),
            }
        }
        self.row_done()
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<()> {
        match self.state {
            State::Failed => return Err(stream_error("an earlier error stopped the decoding")),
            State::Rows => return Err(stream_error("a COPY stream fed after rows were pushed")),
            State::Done if !chunk.is_empty() => return Err(after_trailer(chunk.len())),
            State::Done => return Ok(()),
            State::Header | State::Tuples => {}
        }
        let mut rest = chunk;
        // First complete the header or tuple that began in an earlier chunk.
        if self.state == State::Header || !self.pending.is_empty() {
            loop {
                let need = self.pending_need()?;
                if need == 0 {
                    break;
                }
                if rest.is_empty() {
                    return Ok(());
                }
                let take = need.min(rest.len());
                self.pending.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
            }
        }
        if self.state == State::Done {
            return if rest.is_empty() {
                Ok(())
            } else {
                Err(after_trailer(rest.len()))
            };
        }
        // Then decode whole tuples straight from the chunk.
        let mut pos = 0;
        while pos < rest.len() {
            let tail = &rest[pos..];
            let mut scan = TupleScan::default();
            match scan.advance(tail, self.builders.len())? {
                Scan::Tuple(len) => {
                    self.decode_tuple(&tail[..len])?;
                    pos += len;
                }
                Scan::Trailer => {
                    self.state = State::Done;
                    let left = tail.len() - 2;
                    if left > 0 {
                        return Err(after_trailer(left));
                    }
                    return Ok(());
                }
                Scan::Need(_) => {
                    self.pending.extend_from_slice(tail);
                    self.scan = scan;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// How many more bytes the pending header or tuple needs; when it is complete (0), it has been
    /// consumed and `pending` is empty again.
    fn pending_need(&mut self) -> Result<usize> {
        match self.state {
            State::Header => {
                let have = self.pending.len();
                let sig_len = have.min(COPY_SIGNATURE.len());
                if self.pending[..sig_len] != COPY_SIGNATURE[..sig_len] {
                    return Err(stream_error(
                        "the stream does not start with the binary COPY signature PGCOPY\\n\\377\\r\\n\\0",
                    ));
                }
                if have < COPY_HEADER_FIXED_LEN {
                    return Ok(COPY_HEADER_FIXED_LEN - have);
                }
                let flags = be_u32(&self.pending[11..15]);
                if flags & COPY_FLAG_WITH_OIDS != 0 {
                    return Err(stream_error(
                        "the stream has OIDs included, which lakemig does not read",
                    ));
                }
                let ext = be_i32(&self.pending[15..19]);
                let total = usize::try_from(ext)
                    .ok()
                    .and_then(|e| e.checked_add(COPY_HEADER_FIXED_LEN))
                    .ok_or_else(|| {
                        stream_error(format!("negative header-extension length {ext}"))
                    })?;
                if have < total {
                    return Ok(total - have);
                }
                self.pending.clear();
                self.state = State::Tuples;
                Ok(0)
            }
            State::Tuples => {
                let pending = std::mem::take(&mut self.pending);
                let scanned = self.scan.advance(&pending, self.builders.len());
                let result = match scanned {
                    Ok(Scan::Need(n)) => Ok(n),
                    Ok(Scan::Tuple(len)) => self.decode_tuple(&pending[..len]).map(|()| 0),
                    Ok(Scan::Trailer) => {
                        self.state = State::Done;
                        Ok(0)
                    }
                    Err(e) => Err(e),
                };
                self.pending = pending;
                if let Ok(0) = result {
                    self.pending.clear();
                    self.scan = TupleScan::default();
                }
                result
            }
            State::Done | State::Rows | State::Failed => Ok(0),
        }
    }

    /// Decode one complete tuple whose structure `TupleScan` has checked.
    fn decode_tuple(&mut self, tuple: &[u8]) -> Result<()> {
        let mut pos = 2;
        for (builder, name) in self.builders.iter_mut().zip(&self.names) {
            match next_field(tuple, &mut pos) {
                Some(Some(value)) => builder.push_value(value, name)?,
                Some(None) => builder.push_null(),
                None => return Err(stream_error("a row ended inside a field")),
            }
        }
        self.row_done()
    }

    /// A row's values are all in the builders.
    fn row_done(&mut self) -> Result<()> {
        self.rows_in_batch += 1;
        self.rows_decoded += 1;
        if self.rows_in_batch == self.batch_rows {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<()> {
        let columns = self
            .builders
            .iter_mut()
            .zip(&self.names)
            .map(|(b, name)| b.take(name))
            .collect::<Result<_>>()?;
        self.ready.push_back(Batch {
            len: self.rows_in_batch,
            columns,
        });
        self.rows_in_batch = 0;
        Ok(())
    }
}

/// Resumable walk over one tuple's field headers, to find where it ends before decoding it.
#[derive(Debug, Default, Clone, Copy)]
struct TupleScan {
    /// Offset of the next field header (valid once `fields_left` is known).
    pos: usize,
    /// `None` until the field count has been read.
    fields_left: Option<usize>,
}

enum Scan {
    /// At least this many more bytes are needed.
    Need(usize),
    /// A complete tuple of this many bytes.
    Tuple(usize),
    /// The trailer (2 bytes).
    Trailer,
}

impl TupleScan {
    fn advance(&mut self, buf: &[u8], columns: usize) -> Result<Scan> {
        let mut left = match self.fields_left {
            Some(left) => left,
            None => {
                let Some(head) = buf.get(..2) else {
                    return Ok(Scan::Need(2 - buf.len()));
                };
                let count = i16::from_be_bytes([head[0], head[1]]);
                if count == -1 {
                    return Ok(Scan::Trailer);
                }
                if usize::try_from(count).ok() != Some(columns) {
                    return Err(stream_error(format!(
                        "a row has {count} fields, but {columns} columns were selected"
                    )));
                }
                self.pos = 2;
                columns
            }
        };
        while left > 0 {
            let Some(header) = buf.get(self.pos..self.pos + 4) else {
                self.fields_left = Some(left);
                return Ok(Scan::Need(self.pos + 4 - buf.len()));
            };
            let len = be_i32(header);
            let field_len = match len {
                -1 => 4,
                n if n >= 0 => 4 + n as usize,
                n => return Err(stream_error(format!("a field has length {n}"))),
            };
            let end = self.pos + field_len;
            if buf.len() < end {
                self.fields_left = Some(left);
                return Ok(Scan::Need(end - buf.len()));
            }
            self.pos = end;
            left -= 1;
        }
        self.fields_left = Some(0);
        Ok(Scan::Tuple(self.pos))
    }
}

/// Growing storage for one column (or the elements of a list).
struct Builder {
    validity: Vec<bool>,
    sink: Sink,
}

/// Concatenated variable-length values.
struct Strings {
    bytes: Vec<u8>,
    offsets: Vec<usize>,
}

enum NumericOut {
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    I128(Vec<i128>),
}

/// How values are decoded, and where they go.
enum Sink {
    Bool(Vec<bool>),
    Int2(Vec<i16>),
    Int4(Vec<i32>),
    Int8(Vec<i64>),
    Oid(Vec<u32>),
    Float4(Vec<f32>),
    Float8(Vec<f64>),
    Numeric {
        width: u8,
        scale: u8,
        out: NumericOut,
    },
    NumericText(Strings),
    Text(Strings),
    Json(Strings),
    Jsonb(Strings),
    Bytea(Strings),
    Date(Vec<i32>),
    Time(Vec<i64>),
    TimeTz(Vec<i64>),
    Timestamp(Vec<i64>),
    TimestampTz(Vec<i64>),
    Interval(Vec<DuckInterval>),
    Uuid(Vec<i128>),
    /// `ndims` levels of lists, this one the outermost; the child is the next level or the elements.
    List {
        ndims: usize,
        entries: Vec<(u64, u64)>,
        child: Box<Builder>,
    },
}

impl Strings {
    fn with_capacity(rows: usize, bytes: usize) -> Strings {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Strings {
            bytes: Vec::with_capacity(bytes),
            offsets,
        }
    }

    #[inline]
    fn push(&mut self, value: &[u8]) {
        self.bytes.extend_from_slice(value);
        self.offsets.push(self.bytes.len());
    }

    #[inline]
    fn push_empty(&mut self) {
        self.offsets.push(self.bytes.len());
    }

    /// Close the current value after bytes were appended to `self.bytes` directly.
    #[inline]
    fn end_value(&mut self) {
        self.offsets.push(self.bytes.len());
    }

    /// Check that every value is UTF-8, in one pass over the batch: the concatenation is valid and
    /// every value starts on a character boundary exactly when every value is valid. (One SIMD pass
    /// instead of one call per value: per-value checks were 4% of a full read.) Only on failure are
    /// the values checked one by one, to name the bad byte.
    fn check_utf8(&self, column: &str, pg_type: &str) -> Result<()> {
        let bytes = &self.bytes;
        let starts_ok = self
            .offsets
            .iter()
            .all(|&o| bytes.get(o).is_none_or(|&b| (b as i8) >= -0x40));
        if starts_ok && simdutf8::basic::from_utf8(bytes).is_ok() {
            return Ok(());
        }
        for w in self.offsets.windows(2) {
            utf8(&bytes[w[0]..w[1]], column, pg_type)?;
        }
        Ok(())
    }

    fn take(&mut self) -> ColumnData {
        let fresh = Strings::with_capacity(self.offsets.len(), self.bytes.len());
        let Strings { bytes, offsets } = std::mem::replace(self, fresh);
        ColumnData::Bytes { bytes, offsets }
    }
}

/// A vector replaced by an empty one of the same capacity.
fn take_vec<T>(v: &mut Vec<T>) -> Vec<T> {
    let capacity = v.len();
    std::mem::replace(v, Vec::with_capacity(capacity))
}

impl Builder {
    fn new(decode: &Decode, rows: usize) -> Builder {
        let strings = || Strings::with_capacity(rows, rows * 16);
        let sink = match decode {
            Decode::Bool => Sink::Bool(Vec::with_capacity(rows)),
            Decode::Int2 => Sink::Int2(Vec::with_capacity(rows)),
            Decode::Int4 => Sink::Int4(Vec::with_capacity(rows)),
            Decode::Int8 => Sink::Int8(Vec::with_capacity(rows)),
            Decode::Oid => Sink::Oid(Vec::with_capacity(rows)),
            Decode::Float4 => Sink::Float4(Vec::with_capacity(rows)),
            Decode::Float8 => Sink::Float8(Vec::with_capacity(rows)),
            Decode::Numeric { width, scale } => Sink::Numeric {
                width: *width,
                scale: *scale,
                out: match width {
                    0..=4 => NumericOut::I16(Vec::with_capacity(rows)),
                    5..=9 => NumericOut::I32(Vec::with_capacity(rows)),
                    10..=18 => NumericOut::I64(Vec::with_capacity(rows)),
                    _ => NumericOut::I128(Vec::with_capacity(rows)),
                },
            },
            Decode::NumericText => Sink::NumericText(strings()),
            Decode::Text => Sink::Text(strings()),
            Decode::Json => Sink::Json(strings()),
            Decode::Jsonb => Sink::Jsonb(strings()),
            Decode::Bytea => Sink::Bytea(strings()),
            Decode::Date => Sink::Date(Vec::with_capacity(rows)),
            Decode::Time => Sink::Time(Vec::with_capacity(rows)),
            Decode::TimeTz => Sink::TimeTz(Vec::with_capacity(rows)),
            Decode::Timestamp => Sink::Timestamp(Vec::with_capacity(rows)),
            Decode::TimestampTz => Sink::TimestampTz(Vec::with_capacity(rows)),
            Decode::Interval => Sink::Interval(Vec::with_capacity(rows)),
            Decode::Uuid => Sink::Uuid(Vec::with_capacity(rows)),
            Decode::Array { elem, ndims } => {
                let ndims = (*ndims).max(1);
                let mut inner = Builder::new(elem, rows);
                for level in 1..ndims {
                    inner = Builder {
                        validity: Vec::with_capacity(rows),
                        sink: Sink::List {
                            ndims: level,
                            entries: Vec::with_capacity(rows),
                            child: Box::new(inner),
                        },
                    };
                }
                Sink::List {
                    ndims,
                    entries: Vec::with_capacity(rows),
                    child: Box::new(inner),
                }
            }
        };
        Builder {
            validity: Vec::with_capacity(rows),
            sink,
        }
    }

    fn len(&self) -> usize {
        self.validity.len()
    }

    /// Hand over the values so far as a [`Column`], keeping room for as many again. Text values are
    /// checked for UTF-8 here, a batch at a time.
    fn take(&mut self, column: &str) -> Result<Column> {
        match &self.sink {
            Sink::Text(s) => s.check_utf8(column, "text")?,
            Sink::Json(s) => s.check_utf8(column, "json")?,
            Sink::Jsonb(s) => s.check_utf8(column, "jsonb")?,
            _ => {}
        }
        let validity = take_vec(&mut self.validity);
        let data = match &mut self.sink {
            Sink::Bool(v) => ColumnData::Bool(take_vec(v)),
            Sink::Int2(v) => ColumnData::I16(take_vec(v)),
            Sink::Int4(v) | Sink::Date(v) => ColumnData::I32(take_vec(v)),
            Sink::Int8(v)
            | Sink::Time(v)
            | Sink::TimeTz(v)
            | Sink::Timestamp(v)
            | Sink::TimestampTz(v) => ColumnData::I64(take_vec(v)),
            Sink::Oid(v) => ColumnData::U32(take_vec(v)),
            Sink::Float4(v) => ColumnData::F32(take_vec(v)),
            Sink::Float8(v) => ColumnData::F64(take_vec(v)),
            Sink::Numeric { out, .. } => match out {
                NumericOut::I16(v) => ColumnData::I16(take_vec(v)),
                NumericOut::I32(v) => ColumnData::I32(take_vec(v)),
                NumericOut::I64(v) => ColumnData::I64(take_vec(v)),
                NumericOut::I128(v) => ColumnData::I128(take_vec(v)),
            },
            Sink::NumericText(s)
            | Sink::Text(s)
            | Sink::Json(s)
            | Sink::Jsonb(s)
            | Sink::Bytea(s) => s.take(),
            Sink::Interval(v) => ColumnData::Interval(take_vec(v)),
            Sink::Uuid(v) => ColumnData::I128(take_vec(v)),
            Sink::List { entries, child, .. } => ColumnData::List {
                entries: take_vec(entries),
                child: Box::new(child.take(column)?),
            },
        };
        Ok(Column { validity, data })
    }

    /// A NULL: invalid, with a default value in the slot.
    fn push_null(&mut self) {
        self.validity.push(false);
        match &mut self.sink {
            Sink::Bool(v) => v.push(false),
            Sink::Int2(v) => v.push(0),
            Sink::Int4(v) | Sink::Date(v) => v.push(0),
            Sink::Int8(v)
            | Sink::Time(v)
            | Sink::TimeTz(v)
            | Sink::Timestamp(v)
            | Sink::TimestampTz(v) => v.push(0),
            Sink::Oid(v) => v.push(0),
            Sink::Float4(v) => v.push(0.0),
            Sink::Float8(v) => v.push(0.0),
            Sink::Numeric { out, .. } => match out {
                NumericOut::I16(v) => v.push(0),
                NumericOut::I32(v) => v.push(0),
                NumericOut::I64(v) => v.push(0),
                NumericOut::I128(v) => v.push(0),
            },
            Sink::NumericText(s)
            | Sink::Text(s)
            | Sink::Json(s)
            | Sink::Jsonb(s)
            | Sink::Bytea(s) => s.push_empty(),
            Sink::Interval(v) => v.push(DuckInterval::default()),
            Sink::Uuid(v) => v.push(0),
            Sink::List { entries, child, .. } => entries.push((child.len() as u64, 0)),
        }
    }

    /// Decode one non-NULL value of column `column`.
    fn push_value(&mut self, v: &[u8], column: &str) -> Result<()> {
        match &mut self.sink {
            Sink::Bool(out) => out.push(fixed::<1>(v, column, "boolean")?[0] != 0),
            Sink::Int2(out) => out.push(i16::from_be_bytes(fixed(v, column, "smallint")?)),
            Sink::Int4(out) => out.push(i32::from_be_bytes(fixed(v, column, "integer")?)),
            Sink::Int8(out) => out.push(i64::from_be_bytes(fixed(v, column, "bigint")?)),
            Sink::Oid(out) => out.push(u32::from_be_bytes(fixed(v, column, "oid")?)),
            Sink::Float4(out) => out.push(f32::from_be_bytes(fixed(v, column, "real")?)),
            Sink::Float8(out) => {
                out.push(f64::from_be_bytes(fixed(v, column, "double precision")?))
            }
            Sink::Numeric { width, scale, out } => {
                let n = PgNumeric::parse(v, column)?;
                let value = n.to_decimal(*width, *scale, column)?;
                // `to_decimal` checked |value| < 10^width, so it fits the physical type of `width`.
                let narrow = || decode_error(column, "numeric", "value does not fit its DECIMAL");
                match out {
                    NumericOut::I16(o) => o.push(i16::try_from(value).map_err(|_| narrow())?),
                    NumericOut::I32(o) => o.push(i32::try_from(value).map_err(|_| narrow())?),
                    NumericOut::I64(o) => o.push(i64::try_from(value).map_err(|_| narrow())?),
                    NumericOut::I128(o) => o.push(value),
                }
            }
            Sink::NumericText(s) => {
                PgNumeric::parse(v, column)?.write_text(&mut s.bytes);
                s.end_value();
            }
            // UTF-8 is checked when the batch is handed over (`Builder::take`).
            Sink::Text(s) | Sink::Json(s) => s.push(v),
            Sink::Jsonb(s) => match v.split_first() {
                Some((&1, text)) => s.push(text),
                Some((version, _)) => {
                    return Err(decode_error(
                        column,
                        "jsonb",
                        format!("unknown jsonb format version {version} (expected 1)"),
                    ))
                }
                None => return Err(decode_error(column, "jsonb", "empty value")),
            },
            Sink::Bytea(s) => s.push(v),
            Sink::Date(out) => out.push(date_to_duck(
                i32::from_be_bytes(fixed(v, column, "date")?),
                column,
            )?),
            Sink::Time(out) => {
                let micros = i64::from_be_bytes(fixed(v, column, "time")?);
                out.push(time_of_day(micros, column, "time")?);
            }
            Sink::TimeTz(out) => out.push(timetz_to_duck(fixed(v, column, "timetz")?, column)?),
            Sink::Timestamp(out) => out.push(timestamp_to_duck(
                i64::from_be_bytes(fixed(v, column, "timestamp")?),
                false,
                column,
            )?),
            Sink::TimestampTz(out) => out.push(timestamp_to_duck(
                i64::from_be_bytes(fixed(v, column, "timestamptz")?),
                true,
                column,
            )?),
            Sink::Interval(out) => {
                out.push(interval_to_duck(fixed(v, column, "interval")?, column)?)
            }
            Sink::Uuid(out) => {
                let raw = u128::from_be_bytes(fixed(v, column, "uuid")?);
                out.push((raw ^ (1u128 << 127)) as i128);
            }
            Sink::List { .. } => return self.push_array(v, column),
        }
        self.validity.push(true);
        Ok(())
    }

    /// A PostgreSQL array (`array_send`): ndim, has-nulls flag, element oid, (size, lower bound) per
    /// dimension, then the elements in row-major order. Lower bounds are dropped.
    fn push_array(&mut self, v: &[u8], column: &str) -> Result<()> {
        let err = |reason: String| decode_error(column, "array", reason);
        let declared = match &self.sink {
            Sink::List { ndims, .. } => *ndims,
            _ => return Err(err("not an array column".into())),
        };
        let head = v
            .get(..12)
            .ok_or_else(|| err(format!("{} bytes, too short for an array header", v.len())))?;
        let ndim = be_i32(&head[0..4]);
        if ndim == 0 {
            // An empty array: an empty list.
            if let Sink::List { entries, child, .. } = &mut self.sink {
                entries.push((child.len() as u64, 0));
            }
            self.validity.push(true);
            return Ok(());
        }
        if usize::try_from(ndim).ok() != Some(declared) {
            return Err(err(format!(
                "array has {ndim} dimensions, column declared with {declared}"
            )));
        }
        let dims_end = 12 + 8 * declared;
        let dims = v
            .get(12..dims_end)
            .ok_or_else(|| err("the array header ends early".into()))?;
        let mut total: u64 = 1;
        for d in dims.chunks_exact(8) {
            let size = be_i32(&d[0..4]);
            let size =
                u64::try_from(size).map_err(|_| err(format!("negative dimension size {size}")))?;
            total = total.saturating_mul(size);
        }
        // Every element takes at least its 4-byte length; this also bounds what we reserve.
        if total.saturating_mul(4) > (v.len() - dims_end) as u64 {
            return Err(err(format!(
                "{total} elements announced, but only {} bytes follow",
                v.len() - dims_end
            )));
        }

        let mut level: &mut Builder = self;
        let mut count: u64 = 1;
        for (k, d) in dims.chunks_exact(8).enumerate() {
            let size = u64::from(be_i32(&d[0..4]).unsigned_abs());
            let Builder { validity, sink } = level;
            let Sink::List { entries, child, .. } = sink else {
                return Err(err("array nesting does not match the column".into()));
            };
            if k == 0 {
                validity.push(true);
            } else {
                validity.extend(std::iter::repeat_n(true, count as usize));
            }
            let base = child.len() as u64;
            entries.extend((0..count).map(|i| (base + i * size, size)));
            count *= size;
            level = &mut **child;
        }

        let mut pos = dims_end;
        for _ in 0..count {
            match next_field(v, &mut pos) {
                Some(Some(elem)) => level.push_value(elem, column)?,
                Some(None) => level.push_null(),
                None => return Err(err("the array ends inside an element".into())),
            }
        }
        if pos != v.len() {
            return Err(err(format!(
                "{} bytes left after the last element",
                v.len() - pos
            )));
        }
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn stream_error(reason: impl Into<String>) -> Error {
    Error::CopyFormat {
        reason: reason.into(),
    }
}

fn after_trailer(bytes: usize) -> Error {
    stream_error(format!("{bytes} bytes after the end-of-data marker"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::codec::conversion::{
        COPY_HEADER, COPY_TRAILER, NUMERIC_NAN, NUMERIC_NEG, NUMERIC_NINF, NUMERIC_PINF,
        NUMERIC_POS, PG_EPOCH_MICROS,
    };
    use crate::postgres::codec::decode::{format_pg_date, format_pg_timestamp};

    // ---- a small writer of raw binary COPY streams (any bytes, malformed ones too) ----

    fn header() -> Vec<u8> {
        COPY_HEADER.to_vec()
    }

    fn tuple(fields: &[Option<Vec<u8>>]) -> Vec<u8> {
        let mut out = (fields.len() as i16).to_be_bytes().to_vec();
        for f in fields {
            match f {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    out.extend_from_slice(v);
                }
            }
        }
        out
    }

    fn stream(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
        let mut out = header();
        for r in rows {
            out.extend(tuple(r));
        }
        out.extend_from_slice(&COPY_TRAILER);
        out
    }

    fn i16v(v: i16) -> Option<Vec<u8>> {
        Some(v.to_be_bytes().to_vec())
    }
    fn i32v(v: i32) -> Option<Vec<u8>> {
        Some(v.to_be_bytes().to_vec())
    }
    fn i64v(v: i64) -> Option<Vec<u8>> {
        Some(v.to_be_bytes().to_vec())
    }
    fn bytes(v: &[u8]) -> Option<Vec<u8>> {
        Some(v.to_vec())
    }

    /// `numeric_send` of a decimal literal ("-12.3400").
    fn num(text: &str) -> Option<Vec<u8>> {
        let (neg, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let dscale = frac.len() as u16;
        let int_pad = (4 - int.len() % 4) % 4;
        let frac_pad = (4 - frac.len() % 4) % 4;
        let all = format!("{}{int}{frac}{}", "0".repeat(int_pad), "0".repeat(frac_pad));
        let mut groups: Vec<u16> = all
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap().parse().unwrap())
            .collect();
        let mut weight = ((int.len() + int_pad) / 4) as i16 - 1;
        while groups.first() == Some(&0) {
            groups.remove(0);
            weight -= 1;
        }
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        let sign = if neg && !groups.is_empty() {
            NUMERIC_NEG
        } else {
            NUMERIC_POS
        };
        Some(num_raw(sign, weight, dscale, &groups))
    }

    fn num_raw(sign: u16, weight: i16, dscale: u16, groups: &[u16]) -> Vec<u8> {
        let mut out = (groups.len() as i16).to_be_bytes().to_vec();
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for g in groups {
            out.extend_from_slice(&g.to_be_bytes());
        }
        out
    }

    /// `array_send` with the given dimensions (lower bounds 1).
    fn array(elem_oid: u32, dims: &[i32], elems: &[Option<Vec<u8>>]) -> Option<Vec<u8>> {
        let mut out = (dims.len() as i32).to_be_bytes().to_vec();
        let has_nulls = elems.iter().any(Option::is_none) as i32;
        out.extend_from_slice(&has_nulls.to_be_bytes());
        out.extend_from_slice(&elem_oid.to_be_bytes());
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
        }
        for e in elems {
            match e {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    out.extend_from_slice(v);
                }
            }
        }
        Some(out)
    }

    // ---- helpers to run and inspect ----

    fn cols(decodes: &[Decode]) -> Vec<(String, Decode)> {
        decodes
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("c{i}"), d.clone()))
            .collect()
    }

    /// Decode a whole stream fed as one chunk; all batches.
    fn decode_all(decodes: &[Decode], data: &[u8], batch_rows: usize) -> Result<Vec<Batch>> {
        decode_chunked(decodes, data, batch_rows, data.len().max(1))
    }

    fn decode_chunked(
        decodes: &[Decode],
        data: &[u8],
        batch_rows: usize,
        chunk: usize,
    ) -> Result<Vec<Batch>> {
        let mut dec = CopyDecoder::new(cols(decodes), batch_rows);
        let mut out = Vec::new();
        for c in data.chunks(chunk) {
            dec.feed(c)?;
            while let Some(b) = dec.next_batch() {
                out.push(b);
            }
        }
        if let Some(b) = dec.finish()? {
            out.push(b);
        }
        Ok(out)
    }

    /// One column, one batch.
    fn one(decode: Decode, values: Vec<Option<Vec<u8>>>) -> Result<Column> {
        let rows: Vec<_> = values.into_iter().map(|v| vec![v]).collect();
        let mut batches = decode_all(&[decode], &stream(&rows), 2048)?;
        assert_eq!(batches.len(), 1);
        Ok(batches.remove(0).columns.remove(0))
    }

    fn strings(c: &Column) -> Vec<String> {
        match &c.data {
            ColumnData::Bytes { bytes, offsets } => offsets
                .windows(2)
                .map(|w| String::from_utf8(bytes[w[0]..w[1]].to_vec()).unwrap())
                .collect(),
            other => panic!("not bytes: {other:?}"),
        }
    }

    fn err_text(r: Result<Column>) -> String {
        match r {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    // ---- stream structure ----

    #[test]
    fn zero_rows() {
        let mut dec = CopyDecoder::new(cols(&[Decode::Int4]), 2048);
        dec.feed(&stream(&[])).unwrap();
        assert!(dec.next_batch().is_none());
        assert!(dec.finish().unwrap().is_none());
        assert_eq!(dec.rows_decoded(), 0);
    }

    #[test]
    fn header_extension_is_skipped() {
        let mut data = COPY_SIGNATURE.to_vec();
        data.extend_from_slice(&0i32.to_be_bytes());
        data.extend_from_slice(&5i32.to_be_bytes());
        data.extend_from_slice(b"abcde");
        data.extend(tuple(&[i32v(7)]));
        data.extend_from_slice(&COPY_TRAILER);
        for chunk in 1..data.len() {
            let b = decode_chunked(&[Decode::Int4], &data, 2048, chunk).unwrap();
            assert_eq!(b[0].columns[0].data, ColumnData::I32(vec![7]));
        }
    }

    #[test]
    fn garbage_signature_is_an_error() {
        let mut dec = CopyDecoder::new(cols(&[Decode::Int4]), 2048);
        let e = dec.feed(b"PGCOPX\n\xff\r\n\0\0\0\0\0\0\0\0\0").unwrap_err();
        assert!(e.to_string().contains("signature"), "{e}");
        // Detected as soon as the first bytes differ, and the decoder stays failed.
        let mut dec = CopyDecoder::new(cols(&[Decode::Int4]), 2048);
        assert!(dec.feed(b"HTTP/1.1").is_err());
        assert!(dec.feed(b"").is_err());
        assert!(dec.finish().is_err());
    }

    #[test]
    fn truncated_streams_fail_in_finish() {
        let data = stream(&[vec![i32v(1)], vec![i32v(2)]]);
        // Every proper prefix: missing trailer, partial tuple or partial header.
        for cut in 0..data.len() {
            let mut dec = CopyDecoder::new(cols(&[Decode::Int4]), 2048);
            dec.feed(&data[..cut]).unwrap();
            let e = dec.finish().unwrap_err();
            assert!(e.to_string().contains("cut short"), "{cut}: {e}");
        }
    }

    #[test]
    fn bytes_after_trailer_are_an_error() {
        let mut data = stream(&[vec![i32v(1)]]);
        data.push(0);
        assert!(decode_all(&[Decode::Int4], &data, 2048).is_err());
        let mut dec = CopyDecoder::new(cols(&[Decode::Int4]), 2048);
        dec.feed(&stream(&[vec![i32v(1)]])).unwrap();
        let e = dec.feed(b"x").unwrap_err();
        assert!(
            e.to_string().contains("after the end-of-data marker"),
            "{e}"
        );
    }

    #[test]
    fn wrong_field_count_is_an_error() {
        let data = stream(&[vec![i32v(1), i32v(2)]]);
        let e = decode_all(&[Decode::Int4], &data, 2048).unwrap_err();
        assert!(e.to_string().contains("2 fields, but 1 columns"), "{e}");
    }

    #[test]
    fn wrong_fixed_width_is_an_error() {
        for (decode, value) in [
            (Decode::Int4, vec![0u8; 8]),
            (Decode::Int8, vec![0u8; 4]),
            (Decode::Int2, vec![0u8; 3]),
            (Decode::Bool, vec![]),
            (Decode::Float8, vec![0u8; 4]),
            (Decode::Uuid, vec![0u8; 15]),
            (Decode::Interval, vec![0u8; 12]),
            (Decode::TimeTz, vec![0u8; 8]),
            (Decode::Date, vec![0u8; 8]),
        ] {
            let e = err_text(one(decode.clone(), vec![Some(value)]));
            assert!(
                e.contains("malformed") && e.contains("were expected"),
                "{decode:?}: {e}"
            );
            assert!(e.starts_with("column c0:"), "{e}");
        }
    }

    #[test]
    fn batch_sizes() {
        for (rows, expected) in [
            (0usize, vec![]),
            (1, vec![1]),
            (2047, vec![2047]),
            (2048, vec![2048]),
            (2049, vec![2048, 1]),
            (5000, vec![2048, 2048, 904]),
        ] {
            let data = stream(
                &(0..rows)
                    .map(|i| vec![i64v(i as i64), Some(format!("row {i}").into_bytes())])
                    .collect::<Vec<_>>(),
            );
            for chunk in [data.len().max(1), 7, 4096] {
                let batches =
                    decode_chunked(&[Decode::Int8, Decode::Text], &data, 2048, chunk).unwrap();
                let sizes: Vec<_> = batches.iter().map(|b| b.len).collect();
                assert_eq!(sizes, expected, "{rows} rows, chunks of {chunk}");
                let mut next = 0i64;
                for b in &batches {
                    let ColumnData::I64(ids) = &b.columns[0].data else {
                        panic!()
                    };
                    assert_eq!(ids.len(), b.len);
                    assert_eq!(b.columns[0].validity.len(), b.len);
                    for (k, id) in ids.iter().enumerate() {
                        assert_eq!(*id, next);
                        next += 1;
                        let _ = k;
                    }
                    let text = strings(&b.columns[1]);
                    assert_eq!(text.len(), b.len);
                    assert_eq!(text[0], format!("row {}", ids[0]));
                }
                assert_eq!(next as usize, rows);
            }
        }
    }

    #[test]
    fn rows_decoded_counts_all_batches() {
        let data = stream(&(0..10).map(|i| vec![i32v(i)]).collect::<Vec<_>>());
        let mut dec = CopyDecoder::new(cols(&[Decode::Int4]), 4);
        dec.feed(&data).unwrap();
        assert_eq!(dec.rows_decoded(), 10);
        assert_eq!(dec.next_batch().map(|b| b.len), Some(4));
        // finish keeps the order when full batches were not taken yet.
        assert_eq!(dec.finish().unwrap().map(|b| b.len), Some(4));
        assert_eq!(dec.next_batch().map(|b| b.len), Some(2));
        assert!(dec.next_batch().is_none());
    }

    fn mixed_decodes() -> Vec<Decode> {
        vec![
            Decode::Int4,
            Decode::Text,
            Decode::Numeric {
                width: 12,
                scale: 2,
            },
            Decode::Array {
                elem: Box::new(Decode::Int4),
                ndims: 2,
            },
            Decode::Jsonb,
        ]
    }

    /// Three rows of `mixed_decodes()`' columns: values, NULLs, edge values.
    fn mixed_rows() -> Vec<Vec<Option<Vec<u8>>>> {
        vec![
            vec![
                i32v(1),
                bytes("héllo".as_bytes()),
                num("-12.34"),
                array(23, &[2, 2], &[i32v(1), None, i32v(3), i32v(4)]),
                bytes(b"\x01{\"a\": 1}"),
            ],
            vec![None, None, None, None, None],
            vec![
                i32v(-3),
                bytes(b""),
                num("1234567890.12"),
                array(23, &[], &[]),
                bytes(b"\x01[]"),
            ],
        ]
    }

    fn mixed_stream() -> Vec<u8> {
        stream(&mixed_rows())
    }

    #[test]
    fn a_tuple_split_at_every_byte_offset() {
        let data = mixed_stream();
        let whole = decode_all(&mixed_decodes(), &data, 2048).unwrap();
        // Two chunks, split at every offset.
        for cut in 0..=data.len() {
            let mut dec = CopyDecoder::new(cols(&mixed_decodes()), 2048);
            dec.feed(&data[..cut]).unwrap();
            dec.feed(&data[cut..]).unwrap();
            assert_eq!(
                dec.finish().unwrap().as_ref(),
                whole.first(),
                "cut at {cut}"
            );
        }
        // One byte at a time, and a few odd chunk sizes.
        for chunk in [1, 2, 3, 5, 13] {
            let split = decode_chunked(&mixed_decodes(), &data, 2048, chunk).unwrap();
            assert_eq!(split, whole, "chunks of {chunk}");
        }
        // Batches that fill up while bytes trickle in.
        let one_row = decode_chunked(&mixed_decodes(), &data, 1, 1).unwrap();
        assert_eq!(one_row.len(), 3);
        assert_eq!(one_row.iter().map(|b| b.len).sum::<usize>(), 3);
    }

    #[test]
    fn pushed_rows_decode_as_the_same_rows_in_a_copy_stream() {
        let rows = mixed_rows();
        for batch_rows in [1, 2, 2048] {
            let fed = decode_all(&mixed_decodes(), &stream(&rows), batch_rows).unwrap();
            let mut dec = CopyDecoder::for_rows(cols(&mixed_decodes()), batch_rows);
            let mut pushed = Vec::new();
            for row in &rows {
                dec.push_row(row.iter().map(|v| v.as_deref())).unwrap();
                pushed.extend(std::iter::from_fn(|| dec.next_batch()));
            }
            pushed.extend(dec.finish().unwrap());
            assert_eq!(pushed, fed, "batches of {batch_rows}");
        }
        // No rows: no batch. Too few values, or a decoder fed a COPY stream: errors.
        let mut dec = CopyDecoder::for_rows(cols(&mixed_decodes()), 2048);
        assert_eq!(dec.finish().unwrap(), None);
        let mut dec = CopyDecoder::for_rows(cols(&mixed_decodes()), 2048);
        let e = dec
            .push_row([None, None].into_iter())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a row has 2 fields, but 5 columns were selected"),
            "{e}"
        );
        assert!(
            dec.push_row([None; 5].into_iter()).is_err(),
            "a failed decoder goes on"
        );
        let mut dec = CopyDecoder::new(cols(&mixed_decodes()), 2048);
        assert!(dec.push_row([None; 5].into_iter()).is_err());
        let mut dec = CopyDecoder::for_rows(cols(&mixed_decodes()), 2048);
        assert!(dec.feed(&stream(&rows)).is_err());
    }

    #[test]
    fn mixed_stream_values() {
        let b = decode_all(&mixed_decodes(), &mixed_stream(), 2048).unwrap();
        let c = &b[0].columns;
        assert_eq!(b[0].len, 3);
        assert_eq!(c[0].data, ColumnData::I32(vec![1, 0, -3]));
        assert_eq!(c[0].validity, vec![true, false, true]);
        assert_eq!(strings(&c[1]), vec!["héllo", "", ""]);
        assert_eq!(c[1].validity, vec![true, false, true]);
        assert_eq!(c[2].data, ColumnData::I64(vec![-1234, 0, 123_456_789_012]));
        assert_eq!(strings(&c[4]), vec!["{\"a\": 1}", "", "[]"]);
    }

    // ---- NULLs in every column type ----

    #[test]
    fn nulls_in_every_type() {
        let decodes = vec![
            Decode::Bool,
            Decode::Int2,
            Decode::Int4,
            Decode::Int8,
            Decode::Oid,
            Decode::Float4,
            Decode::Float8,
            Decode::Numeric { width: 4, scale: 1 },
            Decode::Numeric { width: 9, scale: 1 },
            Decode::Numeric {
                width: 18,
                scale: 1,
            },
            Decode::Numeric {
                width: 38,
                scale: 1,
            },
            Decode::NumericText,
            Decode::Text,
            Decode::Json,
            Decode::Jsonb,
            Decode::Bytea,
            Decode::Date,
            Decode::Time,
            Decode::TimeTz,
            Decode::Timestamp,
            Decode::TimestampTz,
            Decode::Interval,
            Decode::Uuid,
            Decode::Array {
                elem: Box::new(Decode::Text),
                ndims: 1,
            },
        ];
        let nulls = vec![None; decodes.len()];
        let b = decode_all(&decodes, &stream(&[nulls.clone(), nulls]), 2048).unwrap();
        assert_eq!(b.len(), 1);
        for (col, decode) in b[0].columns.iter().zip(&decodes) {
            assert_eq!(col.validity, vec![false, false], "{decode:?}");
            let len = match &col.data {
                ColumnData::Bool(v) => v.len(),
                ColumnData::I16(v) => v.len(),
                ColumnData::I32(v) => v.len(),
                ColumnData::I64(v) => v.len(),
                ColumnData::I128(v) => v.len(),
                ColumnData::U32(v) => v.len(),
                ColumnData::F32(v) => v.len(),
                ColumnData::F64(v) => v.len(),
                ColumnData::Bytes { bytes, offsets } => {
                    assert!(bytes.is_empty());
                    offsets.len() - 1
                }
                ColumnData::Interval(v) => v.len(),
                ColumnData::List { entries, child } => {
                    assert_eq!(entries, &vec![(0, 0), (0, 0)]);
                    assert!(child.validity.is_empty());
                    entries.len()
                }
            };
            assert_eq!(len, 2, "{decode:?}");
        }
    }

    // ---- every Decode arm ----

    #[test]
    fn bool_int_oid_float() {
        let c = one(Decode::Bool, vec![bytes(&[1]), bytes(&[0])]).unwrap();
        assert_eq!(c.data, ColumnData::Bool(vec![true, false]));
        let c = one(Decode::Int2, vec![i16v(i16::MIN), i16v(i16::MAX)]).unwrap();
        assert_eq!(c.data, ColumnData::I16(vec![i16::MIN, i16::MAX]));
        let c = one(Decode::Int4, vec![i32v(i32::MIN), i32v(-1)]).unwrap();
        assert_eq!(c.data, ColumnData::I32(vec![i32::MIN, -1]));
        let c = one(Decode::Int8, vec![i64v(i64::MAX), i64v(0)]).unwrap();
        assert_eq!(c.data, ColumnData::I64(vec![i64::MAX, 0]));
        let c = one(Decode::Oid, vec![bytes(&u32::MAX.to_be_bytes())]).unwrap();
        assert_eq!(c.data, ColumnData::U32(vec![u32::MAX]));
        let c = one(
            Decode::Float4,
            vec![
                bytes(&1.5f32.to_be_bytes()),
                bytes(&f32::INFINITY.to_be_bytes()),
                bytes(&f32::NAN.to_be_bytes()),
            ],
        )
        .unwrap();
        let ColumnData::F32(v) = c.data else { panic!() };
        assert_eq!(v[..2], [1.5, f32::INFINITY]);
        assert!(v[2].is_nan());
        let c = one(
            Decode::Float8,
            vec![
                bytes(&(-0.25f64).to_be_bytes()),
                bytes(&f64::NEG_INFINITY.to_be_bytes()),
            ],
        )
        .unwrap();
        assert_eq!(c.data, ColumnData::F64(vec![-0.25, f64::NEG_INFINITY]));
    }

    #[test]
    fn numeric_to_decimal_widths() {
        let c = one(
            Decode::Numeric { width: 4, scale: 2 },
            vec![num("0"), num("-12.3"), num("99.99"), num("0.05")],
        )
        .unwrap();
        assert_eq!(c.data, ColumnData::I16(vec![0, -1230, 9999, 5]));
        let c = one(
            Decode::Numeric { width: 9, scale: 0 },
            vec![num("123456789"), num("-10000")],
        )
        .unwrap();
        assert_eq!(c.data, ColumnData::I32(vec![123_456_789, -10_000]));
        let c = one(
            Decode::Numeric {
                width: 18,
                scale: 4,
            },
            vec![
                num("12345678901234.5678"),
                num("-0.0001"),
                num("1.50000000"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.data,
            ColumnData::I64(vec![123_456_789_012_345_678, -1, 15_000])
        );
    }

    #[test]
    fn numeric_width_38() {
        let nines = "9".repeat(38);
        let c = one(
            Decode::Numeric {
                width: 38,
                scale: 0,
            },
            vec![num(&nines), num(&format!("-{nines}"))],
        )
        .unwrap();
        let max = 10i128.pow(38) - 1;
        assert_eq!(c.data, ColumnData::I128(vec![max, -max]));
        // 37 integer digits and one decimal: the digit groups straddle the decimal point.
        let v = format!("{}.9", "9".repeat(37));
        let c = one(
            Decode::Numeric {
                width: 38,
                scale: 1,
            },
            vec![num(&v)],
        )
        .unwrap();
        assert_eq!(c.data, ColumnData::I128(vec![max]));
        let c = one(
            Decode::Numeric {
                width: 38,
                scale: 10,
            },
            vec![num("12345678901234567890.123")],
        )
        .unwrap();
        assert_eq!(
            c.data,
            ColumnData::I128(vec![123_456_789_012_345_678_901_230_000_000])
        );
        // Large exponent, small digits: 1e30.
        let c = one(
            Decode::Numeric {
                width: 38,
                scale: 2,
            },
            vec![num(&format!("1{}", "0".repeat(30)))],
        )
        .unwrap();
        assert_eq!(c.data, ColumnData::I128(vec![10i128.pow(32)]));
    }

    #[test]
    fn numeric_errors() {
        let dec = Decode::Numeric { width: 5, scale: 2 };
        let e = err_text(one(dec.clone(), vec![num("1000.00")]));
        assert!(
            e.contains("value 1000.00 cannot be represented as DuckDB DECIMAL(5,2)"),
            "{e}"
        );
        assert!(e.contains("VARCHAR"), "{e}");
        let e = err_text(one(
            dec.clone(),
            vec![Some(num_raw(NUMERIC_NAN, 0, 0, &[]))],
        ));
        assert!(e.contains("value NaN"), "{e}");
        let e = err_text(one(
            dec.clone(),
            vec![Some(num_raw(NUMERIC_PINF, 0, 0, &[]))],
        ));
        assert!(e.contains("value Infinity"), "{e}");
        let e = err_text(one(
            dec.clone(),
            vec![Some(num_raw(NUMERIC_NINF, 0, 0, &[]))],
        ));
        assert!(e.contains("value -Infinity"), "{e}");
        // More decimals than the scale: never truncated silently.
        let e = err_text(one(dec.clone(), vec![num("1.234")]));
        assert!(e.contains("more than 2 decimal places"), "{e}");
        let e = err_text(one(dec.clone(), vec![num("0.00000001")]));
        assert!(e.contains("more than 2 decimal places"), "{e}");
        // Trailing zeros beyond the scale are fine.
        let c = one(dec.clone(), vec![num("1.230000")]).unwrap();
        assert_eq!(c.data, ColumnData::I32(vec![123]));
        // Past i128.
        let e = err_text(one(
            Decode::Numeric {
                width: 38,
                scale: 0,
            },
            vec![num(&format!("1{}", "0".repeat(60)))],
        ));
        assert!(e.contains("DECIMAL(38,0)"), "{e}");
        // Malformed.
        let e = err_text(one(dec.clone(), vec![Some(num_raw(0x1234, 0, 0, &[]))]));
        assert!(e.contains("unknown sign"), "{e}");
        let e = err_text(one(
            dec.clone(),
            vec![Some(num_raw(NUMERIC_POS, 0, 0, &[10_000]))],
        ));
        assert!(e.contains("10000 or more"), "{e}");
        let mut short = num_raw(NUMERIC_POS, 0, 0, &[1, 2]);
        short.pop();
        let e = err_text(one(dec, vec![Some(short)]));
        assert!(e.contains("malformed numeric"), "{e}");
    }

    #[test]
    fn numeric_text() {
        let c = one(
            Decode::NumericText,
            vec![
                num("-12.3400"),
                num("0"),
                num("0.000"),
                num("12345678901234567890.123"),
                num("10000"),
                num("0.0001"),
                num("100000000.00000001"),
                num(&format!("1{}", "0".repeat(60))),
                Some(num_raw(NUMERIC_NAN, 0, 0, &[])),
                Some(num_raw(NUMERIC_PINF, 0, 0, &[])),
                Some(num_raw(NUMERIC_NINF, 0, 0, &[])),
                None,
            ],
        )
        .unwrap();
        assert_eq!(
            strings(&c),
            vec![
                "-12.3400".to_string(),
                "0".into(),
                "0.000".into(),
                "12345678901234567890.123".into(),
                "10000".into(),
                "0.0001".into(),
                "100000000.00000001".into(),
                format!("1{}", "0".repeat(60)),
                "NaN".into(),
                "Infinity".into(),
                "-Infinity".into(),
                "".into(),
            ]
        );
        assert_eq!(c.validity.iter().filter(|v| !**v).count(), 1);
        // dscale shorter than the stored digits' last group: PostgreSQL prints dscale digits.
        let c = one(
            Decode::NumericText,
            vec![Some(num_raw(NUMERIC_POS, -1, 2, &[1200]))],
        )
        .unwrap();
        assert_eq!(strings(&c), vec!["0.12"]);
    }

    #[test]
    fn text_json_jsonb_bytea() {
        let c = one(Decode::Text, vec![bytes("zürich ✓".as_bytes()), bytes(b"")]).unwrap();
        assert_eq!(strings(&c), vec!["zürich ✓", ""]);
        let e = err_text(one(Decode::Text, vec![bytes(b"ok\xff")]));
        assert!(e.contains("invalid UTF-8 at byte 2"), "{e}");
        // Checked a batch at a time: a character split across two values is still caught, in
        // either value, and in list elements too.
        let e = err_text(one(Decode::Text, vec![bytes(b"a\xc3"), bytes(b"\xa9b")]));
        assert!(e.contains("invalid UTF-8 at byte 1"), "{e}");
        let e = err_text(one(Decode::Json, vec![bytes(b"1"), None, bytes(b"\xa9")]));
        assert!(e.contains("invalid UTF-8 at byte 0"), "{e}");
        let e = err_text(one(
            Decode::Array {
                elem: Box::new(Decode::Text),
                ndims: 1,
            },
            vec![array(25, &[2], &[bytes(b"\xc3"), bytes(b"\xa9")])],
        ));
        assert!(e.contains("invalid UTF-8"), "{e}");
        let c = one(Decode::Json, vec![bytes(b"{\"k\": [1, 2]}")]).unwrap();
        assert_eq!(strings(&c), vec!["{\"k\": [1, 2]}"]);
        let c = one(Decode::Jsonb, vec![bytes(b"\x01{\"k\": 1}")]).unwrap();
        assert_eq!(strings(&c), vec!["{\"k\": 1}"]);
        let e = err_text(one(Decode::Jsonb, vec![bytes(b"\x02{}")]));
        assert!(e.contains("version 2"), "{e}");
        let e = err_text(one(Decode::Jsonb, vec![bytes(b"")]));
        assert!(e.contains("malformed jsonb"), "{e}");
        let c = one(Decode::Bytea, vec![bytes(&[0, 0xff, 0x80]), bytes(&[])]).unwrap();
        assert_eq!(
            c.data,
            ColumnData::Bytes {
                bytes: vec![0, 0xff, 0x80],
                offsets: vec![0, 3, 3]
            }
        );
    }

    #[test]
    fn dates() {
        let c = one(
            Decode::Date,
            vec![
                i32v(0),
                i32v(-10_957),
                i32v(i32::MAX),
                i32v(i32::MIN),
                i32v(-2_451_545),
            ],
        )
        .unwrap();
        assert_eq!(
            c.data,
            ColumnData::I32(vec![10_957, 0, i32::MAX, -i32::MAX, -2_440_588])
        );
        // Past DuckDB's range (not a value PostgreSQL produces, but the wire allows it).
        let e = err_text(one(Decode::Date, vec![i32v(i32::MAX - 1)]));
        assert!(e.contains("cannot be represented as DuckDB DATE"), "{e}");
        assert_eq!(format_pg_date(2_145_031_948), "5874897-12-31");
        assert_eq!(format_pg_date(-2_451_545), "4714-11-24 BC");
        assert_eq!(format_pg_date(0), "2000-01-01");
        assert_eq!(format_pg_date(-1), "1999-12-31");
    }

    #[test]
    fn timestamps() {
        for decode in [Decode::Timestamp, Decode::TimestampTz] {
            let c = one(
                decode.clone(),
                vec![
                    i64v(0),
                    i64v(i64::MAX),
                    i64v(i64::MIN),
                    i64v(-946_684_800_000_000),
                    i64v(1),
                ],
            )
            .unwrap();
            assert_eq!(
                c.data,
                ColumnData::I64(vec![
                    946_684_800_000_000,
                    i64::MAX,
                    -i64::MAX,
                    0,
                    946_684_800_000_001
                ])
            );
            // 294277-01-01, PostgreSQL's last timestamp day, is past DuckDB's 294247-01-10.
            let pg_end = 9_223_371_331_200_000_000 - 86_400_000_000;
            let e = err_text(one(decode.clone(), vec![i64v(pg_end)]));
            assert!(
                e.contains("cannot be represented as DuckDB TIMESTAMP"),
                "{e}"
            );
            assert!(e.contains("294276-12-31 00:00:00"), "{e}");
            // The last value that is not DuckDB's infinity.
            let last = i64::MAX - 1 - PG_EPOCH_MICROS;
            let c = one(decode.clone(), vec![i64v(last)]).unwrap();
            assert_eq!(c.data, ColumnData::I64(vec![i64::MAX - 1]));
            let e = err_text(one(decode, vec![i64v(last + 1)]));
            assert!(e.contains("294247-01-10 04:00:54.775807"), "{e}");
        }
        assert_eq!(
            format_pg_timestamp(-211_813_488_000_000_000, false),
            "4714-11-24 00:00:00 BC"
        );
        assert_eq!(
            format_pg_timestamp(1_500_000, true),
            "2000-01-01 00:00:01.5+00"
        );
    }

    #[test]
    fn time_and_timetz() {
        let c = one(
            Decode::Time,
            vec![i64v(0), i64v(86_400_000_000), i64v(3_723_000_004)],
        )
        .unwrap();
        assert_eq!(
            c.data,
            ColumnData::I64(vec![0, 86_400_000_000, 3_723_000_004])
        );
        let e = err_text(one(Decode::Time, vec![i64v(-1)]));
        assert!(e.contains("malformed time"), "{e}");

        let timetz = |micros: i64, zone_west: i32| {
            let mut v = micros.to_be_bytes().to_vec();
            v.extend_from_slice(&zone_west.to_be_bytes());
            Some(v)
        };
        // 12:00:00+05:30 arrives as zone -19800 (seconds west of UTC).
        let noon = 12 * 3_600_000_000i64;
        let c = one(
            Decode::TimeTz,
            vec![timetz(noon, -19_800), timetz(0, 0), timetz(noon, 28_800)],
        )
        .unwrap();
        let expect = |micros: i64, offset_east: i64| (micros << 24) | (57_599 - offset_east);
        assert_eq!(
            c.data,
            ColumnData::I64(vec![
                expect(noon, 19_800),
                expect(0, 0),
                expect(noon, -28_800)
            ])
        );
        let ColumnData::I64(v) = &c.data else {
            panic!()
        };
        // Decoded as DuckDB does: offset = MAX_OFFSET - (bits & mask), micros = bits >> 24.
        assert_eq!(57_599 - (v[0] as u64 & 0xff_ffff) as i64, 19_800);
        assert_eq!(v[0] as u64 >> 24, noon as u64);
        let e = err_text(one(Decode::TimeTz, vec![timetz(0, 16 * 3600)]));
        assert!(e.contains("TIMETZ"), "{e}");
    }

    #[test]
    fn intervals() {
        let interval = |micros: i64, days: i32, months: i32| {
            let mut v = micros.to_be_bytes().to_vec();
            v.extend_from_slice(&days.to_be_bytes());
            v.extend_from_slice(&months.to_be_bytes());
            Some(v)
        };
        let c = one(
            Decode::Interval,
            vec![interval(3_000_004, 2, 14), interval(-1, -2, -3)],
        )
        .unwrap();
        assert_eq!(
            c.data,
            ColumnData::Interval(vec![
                DuckInterval {
                    months: 14,
                    days: 2,
                    micros: 3_000_004
                },
                DuckInterval {
                    months: -3,
                    days: -2,
                    micros: -1
                }
            ])
        );
        let e = err_text(one(
            Decode::Interval,
            vec![interval(i64::MAX, i32::MAX, i32::MAX)],
        ));
        assert!(e.contains("value infinity"), "{e}");
    }

    #[test]
    fn uuid_bit_flip_keeps_order() {
        let ids: [u128; 4] = [
            0,
            0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
            0x8000_0000_0000_0000_0000_0000_0000_0000,
            u128::MAX,
        ];
        let c = one(
            Decode::Uuid,
            ids.iter().map(|u| bytes(&u.to_be_bytes())).collect(),
        )
        .unwrap();
        let ColumnData::I128(v) = &c.data else {
            panic!()
        };
        assert_eq!(v[0], i128::MIN);
        assert_eq!(
            v[1],
            0x0123_4567_89ab_cdef_0123_4567_89ab_cdef_i128 + i128::MIN
        );
        assert_eq!(v[2], 0);
        assert_eq!(v[3], i128::MAX);
        assert!(
            v.windows(2).all(|w| w[0] < w[1]),
            "signed order = uuid order"
        );
    }

    #[test]
    fn arrays_two_dimensional_with_nulls_and_empty() {
        let decode = Decode::Array {
            elem: Box::new(Decode::Int4),
            ndims: 2,
        };
        let c = one(
            decode.clone(),
            vec![
                // {{1,NULL,3},{4,5,6}}
                array(
                    23,
                    &[2, 3],
                    &[i32v(1), None, i32v(3), i32v(4), i32v(5), i32v(6)],
                ),
                // {}
                array(23, &[], &[]),
                None,
                // {{7},{8}}
                array(23, &[2, 1], &[i32v(7), i32v(8)]),
            ],
        )
        .unwrap();
        assert_eq!(c.validity, vec![true, true, false, true]);
        let ColumnData::List { entries, child } = &c.data else {
            panic!()
        };
        assert_eq!(entries, &vec![(0, 2), (2, 0), (2, 0), (2, 2)]);
        assert_eq!(child.validity, vec![true; 4]);
        let ColumnData::List {
            entries: inner,
            child: elems,
        } = &child.data
        else {
            panic!()
        };
        assert_eq!(inner, &vec![(0, 3), (3, 3), (6, 1), (7, 1)]);
        assert_eq!(elems.data, ColumnData::I32(vec![1, 0, 3, 4, 5, 6, 7, 8]));
        assert_eq!(
            elems.validity,
            vec![true, false, true, true, true, true, true, true]
        );

        // A one-dimensional value in a two-dimensional column.
        let e = err_text(one(decode, vec![array(23, &[2], &[i32v(1), i32v(2)])]));
        assert!(
            e.contains("array has 1 dimensions, column declared with 2"),
            "{e}"
        );
        // And a two-dimensional value in a one-dimensional column.
        let e = err_text(one(
            Decode::Array {
                elem: Box::new(Decode::Int4),
                ndims: 1,
            },
            vec![array(23, &[1, 1], &[i32v(1)])],
        ));
        assert!(
            e.contains("array has 2 dimensions, column declared with 1"),
            "{e}"
        );
    }

    #[test]
    fn arrays_of_text_and_numeric() {
        let c = one(
            Decode::Array {
                elem: Box::new(Decode::Text),
                ndims: 1,
            },
            vec![
                array(25, &[3], &[bytes(b"a"), None, bytes(b"ccc")]),
                array(25, &[1], &[bytes(b"")]),
            ],
        )
        .unwrap();
        let ColumnData::List { entries, child } = &c.data else {
            panic!()
        };
        assert_eq!(entries, &vec![(0, 3), (3, 1)]);
        assert_eq!(strings(child), vec!["a", "", "ccc", ""]);
        assert_eq!(child.validity, vec![true, false, true, true]);

        let c = one(
            Decode::Array {
                elem: Box::new(Decode::Numeric {
                    width: 10,
                    scale: 2,
                }),
                ndims: 1,
            },
            vec![array(1700, &[2], &[num("1.5"), num("-2")])],
        )
        .unwrap();
        let ColumnData::List { child, .. } = &c.data else {
            panic!()
        };
        assert_eq!(child.data, ColumnData::I64(vec![150, -200]));
    }

    #[test]
    fn malformed_arrays() {
        let decode = Decode::Array {
            elem: Box::new(Decode::Int4),
            ndims: 1,
        };
        // Announces a million elements with no bytes behind them.
        let mut v = array(23, &[1_000_000], &[]).unwrap();
        let e = err_text(one(decode.clone(), vec![Some(v.clone())]));
        assert!(e.contains("1000000 elements announced"), "{e}");
        // Trailing garbage.
        v = array(23, &[1], &[i32v(1)]).unwrap();
        v.push(0);
        let e = err_text(one(decode.clone(), vec![Some(v)]));
        assert!(e.contains("left after the last element"), "{e}");
        // Element of the wrong width.
        let e = err_text(one(decode.clone(), vec![array(23, &[1], &[i64v(1)])]));
        assert!(e.contains("malformed integer"), "{e}");
        // Negative dimension.
        let e = err_text(one(decode, vec![array(23, &[-1], &[])]));
        assert!(e.contains("negative dimension"), "{e}");
    }

    #[test]
    fn batches_after_the_first_start_empty() {
        // Builders are reused across batches: offsets and list offsets restart at 0.
        let decodes = [
            Decode::Text,
            Decode::Array {
                elem: Box::new(Decode::Int2),
                ndims: 1,
            },
        ];
        let rows: Vec<_> = (0..5)
            .map(|i| {
                vec![
                    bytes(format!("v{i}").as_bytes()),
                    array(21, &[1], &[i16v(i)]),
                ]
            })
            .collect();
        let b = decode_all(&decodes, &stream(&rows), 2).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(strings(&b[1].columns[0]), vec!["v2", "v3"]);
        let ColumnData::List { entries, child } = &b[2].columns[1].data else {
            panic!()
        };
        assert_eq!(entries, &vec![(0, 1)]);
        assert_eq!(child.data, ColumnData::I16(vec![4]));
    }

    /// Decoding speed on a real stream: `psql -c "\\copy (SELECT * FROM analytics.subscriptions)
    /// TO 'subs.bin' (FORMAT binary)"` on bench/bench.py's table, then
    /// `LAKEMIG_COPY_FILE=subs.bin cargo test --release --lib copy_out::tests::decode_file -- --ignored --nocapture`.
    /// Fed one row per call, as PostgreSQL sends them (one CopyData message per row).
    #[test]
    #[ignore]
    fn decode_file() {
        let Ok(path) = std::env::var("LAKEMIG_COPY_FILE") else {
            return;
        };
        let data = std::fs::read(path).unwrap();
        let decodes = vec![
            Decode::Int8,
            Decode::Text,
            Decode::Text,
            Decode::Numeric {
                width: 12,
                scale: 2,
            },
            Decode::TimestampTz,
            Decode::TimestampTz,
            Decode::TimestampTz,
            Decode::Uuid,
            Decode::Jsonb,
            Decode::Int4,
            Decode::Bool,
            Decode::Array {
                elem: Box::new(Decode::Text),
                ndims: 1,
            },
        ];
        // Row boundaries first (not timed), so each row is fed on its own.
        let mut rows = vec![&data[..COPY_HEADER_FIXED_LEN]];
        let mut pos = COPY_HEADER_FIXED_LEN;
        while pos < data.len() {
            let mut scan = TupleScan::default();
            match scan.advance(&data[pos..], decodes.len()).unwrap() {
                Scan::Tuple(len) => {
                    rows.push(&data[pos..pos + len]);
                    pos += len;
                }
                Scan::Trailer => {
                    rows.push(&data[pos..]);
                    break;
                }
                Scan::Need(_) => panic!("truncated file"),
            }
        }
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let mut dec = CopyDecoder::new(cols(&decodes), 2048);
            let mut n = 0;
            for row in &rows {
                dec.feed(row).unwrap();
                while let Some(b) = dec.next_batch() {
                    n += b.len;
                }
            }
            n += dec.finish().unwrap().map_or(0, |b| b.len);
            println!(
                "{n} rows, {} MB in {:?}",
                data.len() / 1_000_000,
                start.elapsed()
            );
        }
    }

    /// Not a benchmark harness, just a sanity check of throughput:
    /// `cargo test --release --lib copy_out::tests::throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        let decodes = [
            Decode::Int8,
            Decode::Text,
            Decode::Numeric {
                width: 12,
                scale: 2,
            },
            Decode::TimestampTz,
            Decode::Float8,
            Decode::Text,
        ];
        let pad = "x".repeat(200);
        let mut data = header();
        let rows = 2_000_000;
        for i in 0..rows {
            data.extend(tuple(&[
                i64v(i),
                bytes(format!("customer {i} {pad}").as_bytes()),
                num(&format!("{}.{:02}", i % 100_000, i % 100)),
                i64v(i * 1_000_000),
                bytes(&(i as f64).to_be_bytes()),
                None,
            ]));
        }
        data.extend_from_slice(&COPY_TRAILER);
        let start = std::time::Instant::now();
        let mut dec = CopyDecoder::new(cols(&decodes), 2048);
        let mut n = 0;
        for row in data.chunks(300) {
            dec.feed(row).unwrap();
            while let Some(b) = dec.next_batch() {
                n += b.len;
            }
        }
        n += dec.finish().unwrap().map_or(0, |b| b.len);
        let elapsed = start.elapsed();
        assert_eq!(n, rows as usize);
        println!("{} MB, {rows} rows in {elapsed:?}", data.len() / 1_000_000);
    }
}
