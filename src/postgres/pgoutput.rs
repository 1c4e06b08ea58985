//! PostgreSQL's logical replication protocol as the `pgoutput` plugin writes it (protocol version
//! 1), decoded from the bytes of one message: what `pg_logical_slot_peek_binary_changes` returns in
//! its `data` column. Pure byte parsing, no I/O; values stay borrowed from the message. Mirrors
//! PostgreSQL 15's `src/backend/replication/logical/proto.c` (`logicalrep_write_*`) and the
//! message formats page of its documentation ("Logical Replication Message Formats").

use crate::error::{Error, Result};

/// A commit or WAL position (`pg_lsn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Lsn(pub u64);

impl std::fmt::Display for Lsn {
    /// As PostgreSQL prints a `pg_lsn`: `16/B374D848`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl std::str::FromStr for Lsn {
    type Err = Error;

    /// PostgreSQL's text form, `hi/lo` in hexadecimal.
    fn from_str(s: &str) -> Result<Lsn> {
        let bad = || Error::argument(format!("{s:?} is not a PostgreSQL LSN (like 16/B374D848)"));
        let (hi, lo) = s.trim().split_once('/').ok_or_else(bad)?;
        let hi = u32::from_str_radix(hi, 16).map_err(|_| bad())?;
        let lo = u32::from_str_radix(lo, 16).map_err(|_| bad())?;
        Ok(Lsn(((hi as u64) << 32) | lo as u64))
    }
}

/// One column's value in a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datum<'a> {
    Null,
    /// A TOASTed value the change left as it was: pgoutput does not send it.
    Unchanged,
    /// The type's text output (types without a binary form, or `binary` off).
    Text(&'a [u8]),
    /// The type's binary `*_send` form (the `binary` option).
    Binary(&'a [u8]),
}

/// A row's values, one per column of the relation, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuple<'a>(pub Vec<Datum<'a>>);

/// One column of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelColumn {
    /// Part of the replica identity (the key, or every column with REPLICA IDENTITY FULL).
    pub key: bool,
    pub name: String,
    pub type_oid: u32,
    pub typmod: i32,
}

/// A relation's description, sent before its first change in a decoding session and again after
/// its schema changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `d` default (primary key), `n` nothing, `f` full, `i` index.
    pub replica_identity: u8,
    pub columns: Vec<RelColumn>,
}

/// A decoded pgoutput message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    Begin {
        /// The LSN of the transaction's commit record.
        final_lsn: Lsn,
        xid: u32,
    },
    Commit {
        commit_lsn: Lsn,
        /// The end of the commit record: where a slot is advanced to after applying it.
        end_lsn: Lsn,
    },
    Relation(Relation),
    Insert {
        relation: u32,
        new: Tuple<'a>,
    },
    Update {
        relation: u32,
        /// The old key (`K`) or, with REPLICA IDENTITY FULL, the old row (`O`); sent only when the
        /// key changed or the identity is FULL.
        old: Option<Tuple<'a>>,
        new: Tuple<'a>,
    },
    Delete {
        relation: u32,
        /// The old key, or the whole old row with REPLICA IDENTITY FULL.
        old: Tuple<'a>,
    },
    Truncate {
        relations: Vec<u32>,
    },
    /// Origin, Type and logical decoding messages: nothing a sync applies.
    Other(u8),
}

/// Reads big-endian fields from a message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::CopyFormat {
        reason: format!("pgoutput message: {}", reason.into()),
    }
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| {
            malformed(format!(
                "{} bytes wanted at offset {}, the message has {}",
                n,
                self.pos,
                self.buf.len()
            ))
        })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(self.u32()? as i32)
    }
    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn cstring(&mut self) -> Result<String> {
        let rest = &self.buf[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| malformed("a name without its terminating zero byte"))?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }
    fn tuple(&mut self) -> Result<Tuple<'a>> {
        let n = self.i16()?;
        if n < 0 {
            return Err(malformed(format!("a tuple of {n} columns")));
        }
        let mut values = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let kind = self.u8()?;
            values.push(match kind {
                b'n' => Datum::Null,
                b'u' => Datum::Unchanged,
                b't' | b'b' => {
                    let len = self.i32()?;
                    if len < 0 {
                        return Err(malformed(format!("a value of length {len}")));
                    }
                    let bytes = self.take(len as usize)?;
                    if kind == b't' {
                        Datum::Text(bytes)
                    } else {
                        Datum::Binary(bytes)
                    }
                }
                k => return Err(malformed(format!("unknown value kind {:?}", k as char))),
            });
        }
        Ok(Tuple(values))
    }
}

/// Decode one message (the `data` of one row of `pg_logical_slot_peek_binary_changes`).
pub fn decode(buf: &[u8]) -> Result<Message<'_>> {
    let mut r = Reader { buf, pos: 0 };
    let tag = r.u8()?;
    let msg = match tag {
        b'B' => {
            let final_lsn = Lsn(r.u64()?);
            let _commit_time = r.u64()?;
            Message::Begin {
                final_lsn,
                xid: r.u32()?,
            }
        }
        b'C' => {
            let _flags = r.u8()?;
            let commit_lsn = Lsn(r.u64()?);
            let end_lsn = Lsn(r.u64()?);
            let _commit_time = r.u64()?;
            Message::Commit {
                commit_lsn,
                end_lsn,
            }
        }
        b'R' => {
            let oid = r.u32()?;
            let schema = r.cstring()?;
            let name = r.cstring()?;
            let replica_identity = r.u8()?;
            let n = r.i16()?;
            let mut columns = Vec::with_capacity(n.max(0) as usize);
            for _ in 0..n {
                let flags = r.u8()?;
                let name = r.cstring()?;
                let type_oid = r.u32()?;
                let typmod = r.i32()?;
                columns.push(RelColumn {
                    key: flags & 1 == 1,
                    name,
                    type_oid,
                    typmod,
                });
            }
            Message::Relation(Relation {
                oid,
                schema,
                name,
                replica_identity,
                columns,
            })
        }
        b'I' => {
            let relation = r.u32()?;
            expect(r.u8()?, b'N', "an insert")?;
            Message::Insert {
                relation,
                new: r.tuple()?,
            }
        }
        b'U' => {
            let relation = r.u32()?;
            let mut old = None;
            let mut kind = r.u8()?;
            if kind == b'K' || kind == b'O' {
                old = Some(r.tuple()?);
                kind = r.u8()?;
            }
            expect(kind, b'N', "an update")?;
            Message::Update {
                relation,
                old,
                new: r.tuple()?,
            }
        }
        b'D' => {
            let relation = r.u32()?;
            let kind = r.u8()?;
            if kind != b'K' && kind != b'O' {
                return Err(malformed(format!(
                    "a delete carries {:?}, not K or O",
                    kind as char
                )));
            }
            Message::Delete {
                relation,
                old: r.tuple()?,
            }
        }
        b'T' => {
            let n = r.u32()?;
            let _options = r.u8()?;
            let mut relations = Vec::with_capacity(n.min(1024) as usize);
            for _ in 0..n {
                relations.push(r.u32()?);
            }
            Message::Truncate { relations }
        }
        other => Message::Other(other),
    };
    Ok(msg)
}

fn expect(got: u8, want: u8, what: &str) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(malformed(format!(
            "{what} carries {:?} where {:?} belongs",
            got as char, want as char
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut b = (values.len() as i16).to_be_bytes().to_vec();
        for v in values {
            match v {
                None => b.push(b'n'),
                Some(x) if x == b"~u" => b.push(b'u'),
                Some(x) => {
                    b.push(b'b');
                    b.extend((x.len() as i32).to_be_bytes());
                    b.extend(*x);
                }
            }
        }
        b
    }

    #[test]
    fn lsn_prints_and_parses_like_postgres() {
        let l: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(l.0, 0x16_B374_D848);
        assert_eq!(l.to_string(), "16/B374D848");
        assert_eq!(Lsn(0).to_string(), "0/0");
        assert!("16B374D848".parse::<Lsn>().is_err());
        assert!("x/1".parse::<Lsn>().is_err());
        assert!(Lsn(1) < Lsn(0x1_0000_0000));
    }

    #[test]
    fn begin_and_commit() {
        let mut b = vec![b'B'];
        b.extend(0x0000_0001_0000_0010u64.to_be_bytes());
        b.extend(7u64.to_be_bytes());
        b.extend(42u32.to_be_bytes());
        assert_eq!(
            decode(&b).unwrap(),
            Message::Begin {
                final_lsn: Lsn(0x1_0000_0010),
                xid: 42
            }
        );
        let mut c = vec![b'C', 0];
        c.extend(10u64.to_be_bytes());
        c.extend(20u64.to_be_bytes());
        c.extend(7u64.to_be_bytes());
        assert_eq!(
            decode(&c).unwrap(),
            Message::Commit {
                commit_lsn: Lsn(10),
                end_lsn: Lsn(20)
            }
        );
        // Cut short: an error, not a panic.
        assert!(decode(&c[..10]).is_err());
        assert!(decode(&[]).is_err());
    }

    #[test]
    fn relation() {
        let mut b = vec![b'R'];
        b.extend(16384u32.to_be_bytes());
        b.extend(b"shop\0orders\0");
        b.push(b'd');
        b.extend(2i16.to_be_bytes());
        b.push(1);
        b.extend(b"id\0");
        b.extend(20u32.to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        b.push(0);
        b.extend(b"note\0");
        b.extend(1043u32.to_be_bytes());
        b.extend(36i32.to_be_bytes());
        let Message::Relation(r) = decode(&b).unwrap() else {
            panic!("not a relation")
        };
        assert_eq!(
            (r.oid, r.schema.as_str(), r.name.as_str()),
            (16384, "shop", "orders")
        );
        assert_eq!(r.replica_identity, b'd');
        assert_eq!(
            r.columns,
            vec![
                RelColumn {
                    key: true,
                    name: "id".into(),
                    type_oid: 20,
                    typmod: -1
                },
                RelColumn {
                    key: false,
                    name: "note".into(),
                    type_oid: 1043,
                    typmod: 36
                }
            ]
        );
        // A name without its zero byte.
        assert!(decode(&b[..8]).is_err());
    }

    #[test]
    fn insert_update_delete_truncate() {
        let one = 1i64.to_be_bytes();
        let two = 2i64.to_be_bytes();
        let mut b = vec![b'I'];
        b.extend(5u32.to_be_bytes());
        b.push(b'N');
        b.extend(tuple(&[Some(&one), None]));
        assert_eq!(
            decode(&b).unwrap(),
            Message::Insert {
                relation: 5,
                new: Tuple(vec![Datum::Binary(&one), Datum::Null])
            }
        );

        // An update leaving a TOASTed value unchanged, no old key.
        let mut u = vec![b'U'];
        u.extend(5u32.to_be_bytes());
        u.push(b'N');
        u.extend(tuple(&[Some(&one), Some(b"~u")]));
        assert_eq!(
            decode(&u).unwrap(),
            Message::Update {
                relation: 5,
                old: None,
                new: Tuple(vec![Datum::Binary(&one), Datum::Unchanged])
            }
        );

        // A key change: the old key first.
        let mut k = vec![b'U'];
        k.extend(5u32.to_be_bytes());
        k.push(b'K');
        k.extend(tuple(&[Some(&one), None]));
        k.push(b'N');
        k.extend(tuple(&[Some(&two), Some(b"x")]));
        let Message::Update { old, new, .. } = decode(&k).unwrap() else {
            panic!()
        };
        assert_eq!(old, Some(Tuple(vec![Datum::Binary(&one), Datum::Null])));
        assert_eq!(new.0[1], Datum::Binary(b"x"));

        let mut d = vec![b'D'];
        d.extend(5u32.to_be_bytes());
        d.push(b'O');
        d.extend(tuple(&[Some(&two), Some(b"x")]));
        assert!(matches!(
            decode(&d).unwrap(),
            Message::Delete { relation: 5, .. }
        ));
        d[5] = b'N';
        assert!(decode(&d).is_err());

        let mut t = vec![b'T'];
        t.extend(2u32.to_be_bytes());
        t.push(0);
        t.extend(5u32.to_be_bytes());
        t.extend(6u32.to_be_bytes());
        assert_eq!(
            decode(&t).unwrap(),
            Message::Truncate {
                relations: vec![5, 6]
            }
        );

        // Text values and unknown kinds.
        let mut x = vec![b'I'];
        x.extend(5u32.to_be_bytes());
        x.push(b'N');
        x.extend(1i16.to_be_bytes());
        x.push(b't');
        x.extend(2i32.to_be_bytes());
        x.extend(b"hi");
        let Message::Insert { new, .. } = decode(&x).unwrap() else {
            panic!()
        };
        assert_eq!(new.0, vec![Datum::Text(b"hi")]);
        let n = x.len();
        x[n - 7] = b'z';
        assert!(decode(&x).is_err());
        assert_eq!(decode(b"O\0").unwrap(), Message::Other(b'O'));
    }
}
