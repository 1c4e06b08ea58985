//! The CDC decisions on byte-level messages: what is staged, in which segment, what is skipped,
//! and the SQL that applies a segment.

use super::*;
use crate::postgres::pgoutput::RelColumn;

const OID: u32 = 16384;

fn described() -> Vec<StageColumn> {
    vec![
        StageColumn {
            name: "id".into(),
            duck: DuckType::BigInt,
            decode: Decode::Int8,
        },
        StageColumn {
            name: "note".into(),
            duck: DuckType::Varchar,
            decode: Decode::Text,
        },
    ]
}

fn relation(names: &[&str]) -> Message<'static> {
    Message::Relation(Relation {
        oid: OID,
        schema: "shop".into(),
        name: "orders".into(),
        replica_identity: b'd',
        columns: names
            .iter()
            .map(|n| RelColumn {
                key: *n == "id",
                name: n.to_string(),
                type_oid: 20,
                typmod: -1,
            })
            .collect(),
    })
}

fn begin(lsn: u64) -> Message<'static> {
    Message::Begin {
        final_lsn: Lsn(lsn),
        xid: 1,
    }
}

fn commit(lsn: u64) -> Message<'static> {
    Message::Commit {
        commit_lsn: Lsn(lsn),
        end_lsn: Lsn(lsn + 8),
    }
}

/// A tuple of (id, note); `note` None is NULL, Some("~u") unchanged.
fn row(id: i64, note: Option<&'static str>) -> Tuple<'static> {
    let id: &'static [u8] = Box::leak(id.to_be_bytes().to_vec().into_boxed_slice());
    Tuple(vec![
        Datum::Binary(id),
        match note {
            None => Datum::Null,
            Some("~u") => Datum::Unchanged,
            Some(s) => Datum::Binary(s.as_bytes()),
        },
    ])
}

fn key_only(id: i64) -> Tuple<'static> {
    let mut t = row(id, None);
    t.0[1] = Datum::Null;
    t
}

/// Every staged row as (seq, seg, op, u, id, note), and the parts' summaries.
type StagedRow = (
    i64,
    i32,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

fn run(msgs: &[Message], since: u64, batch: usize) -> (Vec<StagedRow>, Vec<PartSummary>, Stager) {
    run_parts(msgs, since, batch, PART_ROWS)
}

fn run_parts(
    msgs: &[Message],
    since: u64,
    batch: usize,
    part_rows: u64,
) -> (Vec<StagedRow>, Vec<PartSummary>, Stager) {
    let (batches, parts, s) = staged(msgs, since, batch, part_rows);
    (batches.iter().flat_map(batch_rows).collect(), parts, s)
}

/// Stage `msgs` with a stager that is not direct: its batches (at most `batch` rows each) and its
/// parts' summaries, in order.
fn staged(
    msgs: &[Message],
    since: u64,
    batch: usize,
    part_rows: u64,
) -> (Vec<Batch>, Vec<PartSummary>, Stager) {
    let mut s = Stager::new(OID, described(), vec!["id".into()], Lsn(since), batch)
        .with_part_rows(part_rows);
    for m in msgs {
        s.push(m).unwrap();
    }
    s.finish().unwrap();
    let mut batches = Vec::new();
    let mut parts = Vec::new();
    let mut starts = 0;
    while let Some(x) = s.next_staged() {
        match x {
            Staged::Start(cols) => {
                starts += 1;
                assert!(!cols.is_empty());
            }
            Staged::Batch(b) => {
                assert!(b.len <= batch);
                batches.push(b);
            }
            Staged::End(p) => parts.push(p),
            Staged::Direct(_)
            | Staged::SideStart(_)
            | Staged::Side(_)
            | Staged::WritesStart(_)
            | Staged::Writes(_)
            | Staged::KeysStart(_)
            | Staged::Keys(_) => {
                unreachable!("not a direct stager")
            }
        }
    }
    assert_eq!(starts, parts.len());
    (batches, parts, s)
}

fn batch_rows(b: &Batch) -> Vec<StagedRow> {
    let text = |c: &Column, i: usize| match &c.data {
        ColumnData::Bytes { bytes, offsets } if c.validity[i] => {
            Some(String::from_utf8(bytes[offsets[i]..offsets[i + 1]].to_vec()).unwrap())
        }
        _ => None,
    };
    (0..b.len)
        .map(|i| {
            let c = &b.columns;
            let ColumnData::I64(seq) = &c[0].data else {
                panic!()
            };
            let ColumnData::I32(seg) = &c[1].data else {
                panic!()
            };
            let x = stage_extra_columns().len();
            let ColumnData::I64(id) = &c[x].data else {
                panic!()
            };
            (
                seq[i],
                seg[i],
                text(&c[2], i).unwrap(),
                text(&c[3], i),
                c[x].validity[i].then_some(id[i]),
                text(&c[x + 1], i),
            )
        })
        .collect()
}

#[test]
fn every_change_kind_is_staged_in_commit_order() {
    let msgs = vec![
        begin(100),
        relation(&["id", "note"]),
        Message::Insert {
            relation: OID,
            new: row(1, Some("a")),
        },
        Message::Update {
            relation: OID,
            old: None,
            new: row(1, Some("b")),
        },
        Message::Delete {
            relation: OID,
            old: key_only(1),
        },
        // Another table's change is not ours.
        Message::Insert {
            relation: OID + 1,
            new: row(9, Some("x")),
        },
        commit(100),
    ];
    let (rows, parts, s) = run(&msgs, 0, 2048);
    assert_eq!(
        rows,
        vec![
            (1, 1, "I".into(), None, Some(1), Some("a".into())),
            (2, 1, "U".into(), None, Some(1), Some("b".into())),
            (3, 1, "D".into(), None, Some(1), None),
        ]
    );
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].segments.len(), 1);
    assert_eq!(parts[0].segments[0].rows, 3);
    assert_eq!(s.summary.applied, Some(Lsn(100)));
    assert_eq!(s.summary.end, Some(Lsn(108)));
    assert_eq!(
        (s.summary.inserts, s.summary.updates, s.summary.deletes),
        (1, 1, 1)
    );
}

#[test]
fn transactions_at_or_below_the_checkpoint_are_skipped() {
    let msgs = vec![
        begin(100),
        relation(&["id", "note"]),
        Message::Insert {
            relation: OID,
            new: row(1, Some("a")),
        },
        commit(100),
        begin(200),
        Message::Insert {
            relation: OID,
            new: row(2, Some("b")),
        },
        Message::Truncate {
            relations: vec![OID],
        },
        commit(200),
    ];
    let (rows, parts, s) = run(&msgs, 100, 2048);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].4, Some(2));
    assert_eq!((s.summary.skipped, s.summary.transactions), (1, 1));
    assert_eq!(s.summary.applied, Some(Lsn(200)));
    // The slot still advances past the skipped transaction.
    assert_eq!(s.summary.end, Some(Lsn(208)));
    // The truncate starts a segment of its own, after the insert's.
    let segs = &parts[0].segments;
    assert_eq!(segs.len(), 2);
    assert!(!segs[0].truncate && segs[1].truncate);
    assert_eq!((segs[0].rows, segs[1].rows), (1, 0));

    // Everything at or below: nothing applied, still advanced.
    let (rows, _, s) = run(&msgs, 200, 2048);
    assert!(rows.is_empty());
    assert_eq!(s.summary.applied, None);
    assert_eq!(s.summary.end, Some(Lsn(208)));
}

#[test]
fn a_long_stream_is_staged_in_bounded_parts() {
    let mut msgs = vec![begin(100), relation(&["id", "note"])];
    for id in 1..=5 {
        msgs.push(Message::Insert {
            relation: OID,
            new: row(id, Some("a")),
        });
    }
    // A key change stages two rows (X, U) that stay in one part, even across the limit.
    msgs.push(Message::Update {
        relation: OID,
        old: Some(key_only(5)),
        new: row(6, Some("~u")),
    });
    msgs.push(Message::Truncate {
        relations: vec![OID],
    });
    msgs.push(Message::Update {
        relation: OID,
        old: None,
        new: row(7, Some("~u")),
    });
    msgs.push(commit(100));
    let (rows, parts, s) = run_parts(&msgs, 0, 2, 2);
    let sizes: Vec<u64> = parts
        .iter()
        .map(|p| p.segments.iter().map(|g| g.rows).sum())
        .collect();
    assert_eq!(sizes, vec![2, 2, 3, 1]);
    // Every row once, in order; segments never span parts.
    let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    let ops: Vec<&str> = rows[5..7].iter().map(|r| r.2.as_str()).collect();
    assert_eq!(ops, vec!["X", "U"]);
    let mut seen = std::collections::BTreeSet::new();
    for p in &parts {
        for g in &p.segments {
            assert!(seen.insert(g.seg), "segment {} in two parts", g.seg);
        }
    }
    // The TRUNCATE opens a segment in the last part; the unchanged value after it is flagged.
    let last = parts.last().unwrap();
    assert!(last.segments.iter().any(|g| g.truncate));
    assert_eq!(rows[7].3.as_deref(), Some("01"));
    assert_eq!(
        (s.summary.inserts, s.summary.updates, s.summary.truncates),
        (5, 2, 1)
    );
}

#[test]
fn a_key_change_deletes_the_old_key() {
    let msgs = vec![
        begin(100),
        relation(&["id", "note"]),
        Message::Update {
            relation: OID,
            old: Some(key_only(1)),
            new: row(2, Some("b")),
        },
        // The same key in the old tuple (REPLICA IDENTITY FULL): not a key change.
        Message::Update {
            relation: OID,
            old: Some(row(2, Some("b"))),
            new: row(2, Some("c")),
        },
        commit(100),
    ];
    let (rows, parts, _) = run(&msgs, 0, 2048);
    let ops: Vec<(&str, Option<i64>)> = rows.iter().map(|r| (r.2.as_str(), r.4)).collect();
    assert_eq!(ops, vec![("X", Some(1)), ("U", Some(2)), ("U", Some(2))]);
    assert_eq!(parts[0].segments.len(), 1);
}

#[test]
fn unchanged_toast_values_are_flagged_and_a_key_change_with_them_is_alone() {
    let msgs = vec![
        begin(100),
        relation(&["id", "note"]),
        Message::Update {
            relation: OID,
            old: None,
            new: row(1, Some("~u")),
        },
        Message::Update {
            relation: OID,
            old: Some(key_only(1)),
            new: row(2, Some("~u")),
        },
        Message::Insert {
            relation: OID,
            new: row(3, Some("c")),
        },
        commit(100),
    ];
    let (rows, parts, _) = run(&msgs, 0, 2048);
    assert_eq!(rows[0].3.as_deref(), Some("01"));
    assert_eq!(rows[0].5, None);
    let segs: Vec<(i32, u64, Vec<usize>)> = parts[0]
        .segments
        .iter()
        .map(|s| (s.seg, s.rows, s.unchanged.iter().copied().collect()))
        .collect();
    assert_eq!(
        segs,
        vec![(1, 1, vec![1]), (2, 2, vec![1]), (3, 1, vec![])],
        "the key change (X, U) sits in a segment of its own"
    );
    assert_eq!((rows[1].1, rows[2].1, rows[3].1), (2, 2, 3));
}

#[test]
fn an_added_column_starts_a_new_part() {
    let three = vec![
        described()[0].clone(),
        described()[1].clone(),
        StageColumn {
            name: "extra".into(),
            duck: DuckType::BigInt,
            decode: Decode::Int8,
        },
    ];
    let mut s = Stager::new(OID, three, vec!["id".into()], Lsn(0), 2048);
    s.push(&begin(100)).unwrap();
    s.push(&relation(&["id", "note"])).unwrap();
    s.push(&Message::Insert {
        relation: OID,
        new: row(1, Some("a")),
    })
    .unwrap();
    // The same columns again (a new decoding session): the same part.
    s.push(&relation(&["id", "note"])).unwrap();
    s.push(&relation(&["id", "note", "extra"])).unwrap();
    let mut t = row(2, Some("b"));
    t.0.push(Datum::Binary(&[0, 0, 0, 0, 0, 0, 0, 7]));
    s.push(&Message::Insert {
        relation: OID,
        new: t,
    })
    .unwrap();
    s.push(&commit(100)).unwrap();
    s.finish().unwrap();
    let mut shapes = Vec::new();
    while let Some(x) = s.next_staged() {
        match x {
            Staged::Start(c) => shapes.push(format!("start {}", c.len())),
            Staged::Batch(b) => shapes.push(format!("batch {}x{}", b.len, b.columns.len())),
            Staged::End(p) => shapes.push(format!("end {}", p.segments.len())),
            Staged::Direct(_)
            | Staged::SideStart(_)
            | Staged::Side(_)
            | Staged::WritesStart(_)
            | Staged::Writes(_)
            | Staged::KeysStart(_)
            | Staged::Keys(_) => {
                unreachable!("not a direct stager")
            }
        }
    }
    assert_eq!(
        shapes,
        vec![
            "start 2",
            "batch 1x7",
            "end 1",
            "start 3",
            "batch 1x8",
            "end 1"
        ]
    );
}

#[test]
fn rows_come_in_bounded_batches() {
    for n in [0usize, 2047, 2048, 2049, 5000] {
        let mut msgs = vec![begin(100), relation(&["id", "note"])];
        for i in 0..n {
            msgs.push(Message::Insert {
                relation: OID,
                new: row(i as i64, Some("v")),
            });
        }
        msgs.push(commit(100));
        let (rows, _, _) = run(&msgs, 0, 2048);
        assert_eq!(rows.len(), n);
        assert!(rows.windows(2).all(|w| w[0].0 + 1 == w[1].0), "in order");
    }
}

#[test]
fn text_values_are_refused_by_name() {
    let mut s = Stager::new(OID, described(), vec!["id".into()], Lsn(0), 10);
    s.push(&begin(1)).unwrap();
    s.push(&relation(&["id", "note"])).unwrap();
    let mut t = row(1, None);
    t.0[1] = Datum::Text(b"x");
    let e = s
        .push(&Message::Insert {
            relation: OID,
            new: t,
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"note\"") && e.contains("watermark method"),
        "{e}"
    );
}

fn target() -> Target {
    Target {
        catalog: "lake".into(),
        schema: "raw".into(),
        name: "orders".into(),
        ducklake: true,
    }
}

#[test]
fn a_segment_applies_the_last_change_per_key() {
    let seg = Segment {
        seg: 3,
        rows: 5,
        ..Segment::default()
    };
    let cols = vec!["id".to_string(), "note".to_string()];
    let sql = apply_sql(&target(), &["id".into()], &cols, &seg);
    // No key changed twice: every staged insert or update is its key's last change.
    assert_eq!(
        sql,
        vec![
            Step::Delete(
                "DELETE FROM \"lake\".\"raw\".\"orders\" AS __t WHERE __t.\"id\" IN (SELECT \"id\" FROM temp.main.\"__lakemig_cdc_stage\" \
                 WHERE __seg = 3)"
                    .to_string()
            ),
            Step::Insert(
                "INSERT INTO \"lake\".\"raw\".\"orders\" (\"id\", \"note\") SELECT \"id\", \"note\" FROM \
                 temp.main.\"__lakemig_cdc_stage\" AS s WHERE s.__seg = 3 AND s.__op IN ('I', 'U')"
                    .to_string()
            ),
        ]
    );
    // What each moves the target's row count by.
    assert_eq!((sql[0].rows(7), sql[1].rows(5)), (-7, 5));
    // Rows replaced by a later change of their key are left out.
    let replaced = Segment {
        superseded: 2,
        ..seg.clone()
    };
    assert!(apply_sql(&target(), &["id".into()], &cols, &replaced)[1].sql().ends_with(
        "WHERE s.__seg = 3 AND s.__op IN ('I', 'U') AND s.__seq NOT IN \
         (SELECT __sup FROM temp.main.\"__lakemig_cdc_stage\" WHERE __seg = 3 AND __sup IS NOT NULL)"
    ));
    // A key the stream did not send: each key's last change by grouping.
    let unknown = Segment {
        keys_unknown: true,
        ..seg.clone()
    };
    assert!(apply_sql(&target(), &["id".into()], &cols, &unknown)[1].sql().ends_with(
        "AND s.__seq IN (SELECT max(s.__seq) FROM temp.main.\"__lakemig_cdc_stage\" AS s WHERE s.__seg = 3 \
         GROUP BY s.\"id\")"
    ));
    // A composite key: EXISTS.
    let two = apply_sql(&target(), &["id".into(), "note".into()], &cols, &seg);
    assert!(two[0].sql().contains("WHERE EXISTS (SELECT 1 FROM temp.main.\"__lakemig_cdc_stage\" AS __s WHERE __s.__seg = 3 \
         AND __t.\"id\" = __s.\"id\" AND __t.\"note\" = __s.\"note\")"), "{:?}", two[0]);
    // A truncate first; an empty segment is the truncate only.
    let t = Segment {
        truncate: true,
        rows: 0,
        ..seg.clone()
    };
    assert_eq!(
        apply_sql(&target(), &["id".into()], &cols, &t),
        vec![Step::Delete(
            "DELETE FROM \"lake\".\"raw\".\"orders\"".to_string()
        )]
    );
}

#[test]
fn unchanged_values_come_from_the_key_s_earlier_change_or_the_target() {
    let seg = Segment {
        seg: 1,
        unchanged: [1].into_iter().collect(),
        rows: 2,
        ..Segment::default()
    };
    let cols = vec!["id".to_string(), "note".to_string()];
    let sql = apply_sql(&target(), &["id".into()], &cols, &seg);
    assert_eq!(sql.len(), 3);
    assert!(
        matches!(&sql[2], Step::Insert(s) if s.ends_with("FROM temp.main.\"__lakemig_cdc_final\""))
    );
    assert!(matches!(&sql[1], Step::Delete(_)));
    let Step::Prepare(fin) = &sql[0] else {
        panic!("{:?}", sql[0])
    };
    assert_eq!(sql[0].rows(100), 0);
    assert!(fin.contains(
        "last_value(CASE WHEN s.__u IS NULL OR substr(s.__u, 2, 1) = '0' THEN {'v': s.\"note\"} END IGNORE NULLS) \
         OVER (PARTITION BY s.\"id\" ORDER BY s.__seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS \"__w_1\""
    ), "{fin}");
    assert!(fin.contains(
        "CASE WHEN s.__u IS NOT NULL AND substr(s.__u, 2, 1) = '1' THEN CASE WHEN s.\"__w_1\" IS NOT NULL \
         THEN s.\"__w_1\".v ELSE __t.\"note\" END ELSE s.\"note\" END AS \"note\""
    ), "{fin}");
    // The target's row by the old key when the row before is the X of a key change.
    assert!(fin.contains(
        "LEFT JOIN temp.main.\"__lakemig_cdc_stage\" AS __x ON __x.__seg = 1 AND __x.__seq = s.__seq - 1 AND __x.__op = 'X' \
         LEFT JOIN \"lake\".\"raw\".\"orders\" AS __t ON __t.\"id\" = CASE WHEN __x.__seq IS NULL THEN s.\"id\" ELSE __x.\"id\" END"
    ), "{fin}");
}

#[test]
fn keys_and_replica_identity() {
    let cols: Vec<String> = ["id", "note"].iter().map(|s| s.to_string()).collect();
    let id = vec!["id".to_string()];
    assert_eq!(
        choose_key("t", None, &id, 'd', &id, &cols).unwrap(),
        id.clone()
    );
    let e = choose_key("t", None, &[], 'd', &[], &cols)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("REPLICA IDENTITY FULL") && e.contains("no primary key"),
        "{e}"
    );
    // Without a key but FULL: the user names one.
    let note = vec!["note".to_string()];
    assert_eq!(
        choose_key("t", Some(&note), &[], 'f', &[], &cols).unwrap(),
        note
    );
    // A given key outside the identity.
    let e = choose_key("t", Some(&note), &id, 'd', &id, &cols)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not its replica identity"), "{e}");
    let e = choose_key("t", None, &id, 'n', &[], &cols)
        .unwrap_err()
        .to_string();
    assert!(e.contains("REPLICA IDENTITY FULL"), "{e}");
    assert!(choose_key("t", Some(&["nope".to_string()]), &id, 'f', &[], &cols).is_err());
}

#[test]
fn names_and_checkpoint_text() {
    let a = slot_name(
        "/data/x.duckdb",
        "\"raw\".\"orders\"",
        "h:5432/db",
        "shop.orders",
    );
    assert_eq!(
        a,
        slot_name(
            "/data/x.duckdb",
            "\"raw\".\"orders\"",
            "h:5432/db",
            "shop.orders"
        )
    );
    assert_ne!(
        a,
        slot_name(
            "/data/y.duckdb",
            "\"raw\".\"orders\"",
            "h:5432/db",
            "shop.orders"
        )
    );
    assert!(a.starts_with("lakemig_") && a.len() == 24);
    assert!(a
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
    let c = cursor_text(&a, "my;pub");
    assert_eq!(parse_cursor(&c), Some((a.clone(), "my;pub".to_string())));
    assert_eq!(parse_cursor("updated_at"), None);
    assert!(publication_is_lakemigs(&a, &a));
    assert!(!publication_is_lakemigs(&a, "mine"));
}

#[test]
fn a_checkpoint_s_server_becomes_a_dsn() {
    assert_eq!(
        dsn_of_server("127.0.0.1:5433/shop as user \"app\"").as_deref(),
        Some("host='127.0.0.1' port=5433 dbname='shop' user='app'")
    );
    assert_eq!(
        dsn_of_server("/var/run/postgresql:5432/d b as user \"o'k\"").as_deref(),
        Some("host='/var/run/postgresql' port=5432 dbname='d b' user='o\\'k'")
    );
    // A database name holding `:<digits>/`: split where pg_sync_state splits it, at the port.
    assert_eq!(
        dsn_of_server("/var/run/postgresql:5432/my/d:1/b as user \"u\"").as_deref(),
        Some("host='/var/run/postgresql' port=5432 dbname='my/d:1/b' user='u'")
    );
    assert_eq!(dsn_of_server("nonsense"), None);
}

/// An insert of a 10 kB row: the stager decodes what it gathered every 64 kB.
fn insert(oid: u32, id: i64) -> Message<'static> {
    static BIG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| "x".repeat(10_000));
    Message::Insert {
        relation: oid,
        new: row(id, Some(BIG.as_str())),
    }
}

/// Every output of a router, as (table, what): `S` start, `B<n>` a batch of n rows, `E<n>` an end
/// (rows in the part).
fn drain(r: &mut Router, out: &mut Vec<(usize, String)>) {
    while let Some((t, x)) = r.next_out().unwrap() {
        out.push((
            t,
            match x {
                Staged::Start(_) => "S".into(),
                Staged::Batch(b) => format!("B{}", b.len),
                Staged::End(p) => format!("E{}", p.segments.iter().map(|s| s.rows).sum::<u64>()),
                Staged::Direct(_)
                | Staged::SideStart(_)
                | Staged::Side(_)
                | Staged::WritesStart(_)
                | Staged::Writes(_)
                | Staged::KeysStart(_)
                | Staged::Keys(_) => {
                    unreachable!("not a direct stager")
                }
            },
        ));
    }
}

#[test]
fn a_router_hands_on_one_part_at_a_time() {
    let stager = |oid| Stager::new(oid, described(), vec!["id".into()], Lsn(0), 2);
    // Two tables whose changes interleave; the other one may hold 4 rows.
    let mut r = Router::new(vec![stager(OID), stager(OID + 1)], 4);
    let mut out = Vec::new();
    r.push(&begin(100)).unwrap();
    for id in 1..=40 {
        r.push(&insert(OID, id)).unwrap();
        r.push(&insert(OID + 1, id)).unwrap();
        // Not ours: ignored.
        r.push(&insert(OID + 7, id)).unwrap();
        drain(&mut r, &mut out);
    }
    r.push(&Message::Truncate {
        relations: vec![OID + 1],
    })
    .unwrap();
    r.push(&commit(100)).unwrap();
    r.finish().unwrap();
    drain(&mut r, &mut out);
    // Parts never interleave: each Start is followed by its table's batches, then its End.
    let mut open: Option<usize> = None;
    for (t, what) in &out {
        match (open, what.as_str()) {
            (None, "S") => open = Some(*t),
            (Some(o), w) if w.starts_with('B') => assert_eq!(o, *t, "{out:?}"),
            (Some(o), w) if w.starts_with('E') => {
                assert_eq!(o, *t, "{out:?}");
                open = None;
            }
            _ => panic!("out of order: {out:?}"),
        }
    }
    assert_eq!(open, None);
    // Every row once per table, and the part being handed on was cut short whenever the other
    // table held more than the budget (so no table waits with more than budget + a feed).
    for t in 0..2 {
        let rows: u64 = out
            .iter()
            .filter(|(x, w)| *x == t && w.starts_with('E'))
            .map(|(_, w)| w[1..].parse::<u64>().unwrap())
            .sum();
        assert_eq!(rows, 40);
    }
    let parts = out.iter().filter(|(_, w)| w.starts_with('E')).count();
    assert!(parts >= 4, "the parts were cut short: {out:?}");
    let sums = r.summaries();
    assert_eq!((sums[0].inserts, sums[1].inserts), (40, 40));
    assert_eq!((sums[0].truncates, sums[1].truncates), (0, 1));
    assert_eq!(sums[0].applied, Some(Lsn(100)));
}

#[test]
fn one_table_streams_straight_through() {
    let mut r = Router::new(
        vec![Stager::new(OID, described(), vec!["id".into()], Lsn(0), 2)],
        0,
    );
    let mut out = Vec::new();
    r.push(&begin(100)).unwrap();
    for id in 1..=6 {
        r.push(&insert(OID, id)).unwrap();
    }
    drain(&mut r, &mut out);
    // Nothing is held back for a lone table (its batches leave as its decoder makes them).
    assert_eq!(out.first().map(|(_, w)| w.as_str()), Some("S"));
    r.push(&commit(100)).unwrap();
    r.finish().unwrap();
    drain(&mut r, &mut out);
    let ends: Vec<&str> = out
        .iter()
        .filter(|(_, w)| w.starts_with('E'))
        .map(|(_, w)| w.as_str())
        .collect();
    assert_eq!(ends, vec!["E6"]);
}

/// A second table's relation message (same columns as `relation`, another oid and name).
fn relation_of(oid: u32, name: &str) -> Message<'static> {
    let Message::Relation(mut r) = relation(&["id", "note"]) else {
        unreachable!()
    };
    r.oid = oid;
    r.name = name.to_string();
    Message::Relation(r)
}

#[test]
fn one_stream_is_routed_by_relation_and_skipped_per_table() {
    const OTHER: u32 = OID + 1;
    // Table 0 (OID) is at LSN 100 already (a crash after its commit, before the advance); table 1
    // (OTHER) at 0. A table not in the call (OID + 2) is not staged anywhere.
    let stager = |oid, since| Stager::new(oid, described(), vec!["id".into()], Lsn(since), 2048);
    let mut router = Router::new(vec![stager(OID, 100), stager(OTHER, 0)], HELD_ROWS);
    let msgs = vec![
        begin(100),
        relation_of(OID, "orders"),
        relation_of(OTHER, "items"),
        relation_of(OID + 2, "logs"),
        insert(OID, 1),
        insert(OTHER, 1),
        insert(OID + 2, 1),
        commit(100),
        // One transaction over both tables, and a TRUNCATE of one of them.
        begin(200),
        insert(OTHER, 2),
        insert(OID, 2),
        Message::Truncate {
            relations: vec![OTHER, OID + 2],
        },
        insert(OTHER, 3),
        commit(200),
    ];
    let mut ids: Vec<Vec<i64>> = vec![Vec::new(), Vec::new()];
    let mut truncates = vec![0, 0];
    let mut drain = |router: &mut Router| {
        while let Some((i, x)) = router.next_out().unwrap() {
            match x {
                Staged::Batch(b) => ids[i].extend(batch_rows(&b).iter().map(|r| r.4.unwrap())),
                Staged::End(p) => truncates[i] += p.segments.iter().filter(|s| s.truncate).count(),
                Staged::Start(_) => {}
                Staged::Direct(_)
                | Staged::SideStart(_)
                | Staged::Side(_)
                | Staged::WritesStart(_)
                | Staged::Writes(_)
                | Staged::KeysStart(_)
                | Staged::Keys(_) => {
                    unreachable!("not a direct stager")
                }
            }
        }
    };
    for m in &msgs {
        router.push(m).unwrap();
        drain(&mut router);
    }
    router.finish().unwrap();
    drain(&mut router);
    assert_eq!(ids, vec![vec![2], vec![1, 2, 3]]);
    assert_eq!(truncates, vec![0, 1]);
    let s = router.summaries();
    assert_eq!((s[0].skipped, s[0].transactions), (1, 1));
    assert_eq!((s[1].skipped, s[1].transactions), (0, 2));
    // Both tables applied the shared transaction and advance to the same end.
    assert_eq!(
        (s[0].applied, s[1].applied),
        (Some(Lsn(200)), Some(Lsn(200)))
    );
    assert_eq!((s[0].end, s[1].end), (Some(Lsn(208)), Some(Lsn(208))));
}

#[test]
fn a_shared_slot_goes_with_its_last_target_and_calls_get_their_own_slot() {
    let cp = |target: &str, cursor: &str| Checkpoint {
        target: target.into(),
        cursor: cursor.into(),
        ..Default::default()
    };
    let slot = slot_name("/d.duckdb", "\"raw\"", "h:5432/db", "shop.*\n--exclude");
    let on = cursor_text(&slot, &slot);
    let all = vec![
        ("lake".to_string(), cp("\"raw\".\"a\"", &on)),
        ("lake".to_string(), cp("\"raw\".\"b\"", &on)),
        // Another catalog's target on a slot of the same name, and a watermark target: not counted.
        ("other".to_string(), cp("\"raw\".\"c\"", &on)),
        ("lake".to_string(), cp("\"raw\".\"d\"", "updated_at")),
    ];
    assert_eq!(others_on_slot(&all, "lake", "\"raw\".\"a\"", &slot), 1);
    assert_eq!(others_on_slot(&all[1..], "lake", "\"raw\".\"b\"", &slot), 0);
    // Other patterns (or excludes) into the same schema: another slot.
    for patterns in ["shop.orders\n--exclude", "shop.*\n--exclude\nshop.tmp_*"] {
        assert_ne!(
            slot,
            slot_name("/d.duckdb", "\"raw\"", "h:5432/db", patterns)
        );
    }
    assert_ne!(
        slot,
        slot_name("/d.duckdb", "\"mirror\"", "h:5432/db", "shop.*\n--exclude")
    );
}

/// Per staged row, the `__seq` of the earlier row of its segment it replaces.
fn sups(msgs: &[Message]) -> (Vec<(i64, Option<i64>)>, Vec<Segment>) {
    let (batches, parts, _) = staged(msgs, 0, 2048, PART_ROWS);
    let at = stage_extra_columns()
        .iter()
        .position(|(n, _)| n == "__sup")
        .expect("a __sup column");
    let mut out = Vec::new();
    for b in &batches {
        let (ColumnData::I64(seq), ColumnData::I64(sup)) =
            (&b.columns[0].data, &b.columns[at].data)
        else {
            panic!()
        };
        for i in 0..b.len {
            out.push((seq[i], b.columns[at].validity[i].then_some(sup[i])));
        }
    }
    (out, parts.into_iter().flat_map(|p| p.segments).collect())
}

fn ins(id: i64, note: &'static str) -> Message<'static> {
    Message::Insert {
        relation: OID,
        new: row(id, Some(note)),
    }
}

fn upd(old: Option<i64>, id: i64, note: &'static str) -> Message<'static> {
    Message::Update {
        relation: OID,
        old: old.map(key_only),
        new: row(id, Some(note)),
    }
}

fn del(id: i64) -> Message<'static> {
    Message::Delete {
        relation: OID,
        old: key_only(id),
    }
}

#[test]
fn each_row_names_the_earlier_row_of_its_key_it_replaces() {
    let head = || vec![begin(100), relation(&["id", "note"])];
    let mut msgs = head();
    // Key 1 changed four times; key 2 moved to 3 (its old key, X, replaces its insert).
    msgs.extend([
        ins(1, "a"),
        ins(2, "b"),
        upd(None, 1, "c"),
        del(1),
        upd(Some(2), 3, "d"),
        ins(1, "e"),
    ]);
    msgs.push(commit(100));
    let (rows, segments) = sups(&msgs);
    assert_eq!(
        rows,
        vec![
            (1, None),
            (2, None),
            (3, Some(1)),
            (4, Some(3)),
            (5, Some(2)),
            (6, None),
            (7, Some(4))
        ]
    );
    assert_eq!(
        (
            segments.len(),
            segments[0].superseded,
            segments[0].keys_unknown
        ),
        (1, 4, false)
    );
    // Each segment on its own: after a TRUNCATE, key 1 starts again.
    let mut msgs = head();
    msgs.extend([
        ins(1, "a"),
        Message::Truncate {
            relations: vec![OID],
        },
        ins(1, "b"),
        commit(100),
    ]);
    let (rows, segments) = sups(&msgs);
    assert_eq!(rows, vec![(1, None), (2, None)]);
    assert_eq!(
        segments.iter().map(|s| s.superseded).collect::<Vec<_>>(),
        vec![0, 0]
    );
    // A key pgoutput did not send (unchanged TOASTed): the segment's keys are unknown.
    let mut msgs = head();
    msgs.push(Message::Update {
        relation: OID,
        old: None,
        new: Tuple(vec![Datum::Unchanged, Datum::Binary(b"x")]),
    });
    msgs.push(commit(100));
    let (_, segments) = sups(&msgs);
    assert!(segments[0].keys_unknown);
}

#[test]
fn latest_by_key_tells_each_key_apart_as_it_grows() {
    let mut latest = LatestByKey::default();
    // Keys that are prefixes of one another, an empty key, and enough keys to grow the table
    // many times over.
    assert_eq!(latest.replace(b"", 1), None);
    assert_eq!(latest.replace(b"a", 2), None);
    assert_eq!(latest.replace(b"ab", 3), None);
    for i in 0..100_000i64 {
        assert_eq!(latest.replace(&i.to_be_bytes(), 10 + i), None);
    }
    assert_eq!(latest.replace(b"a", 4), Some(2));
    assert_eq!(latest.replace(b"a", 5), Some(4));
    assert_eq!(latest.replace(b"", 6), Some(1));
    assert_eq!(latest.replace(b"ab", 7), Some(3));
    for i in (0..100_000i64).step_by(7) {
        assert_eq!(latest.replace(&i.to_be_bytes(), -i), Some(10 + i));
    }
    latest.clear();
    assert_eq!(latest.replace(b"a", 8), None);
    assert_eq!(latest.replace(&7i64.to_be_bytes(), 9), None);
}

/// A direct stager's output as text: `D` a direct part, `S` a staged one, `B[ids]` rows for the
/// target (table columns only), `side[(op, id)]` side rows, `E` an end (with `T` per TRUNCATE).
fn direct_shapes(msgs: &[Message]) -> Vec<String> {
    direct_shapes_in(msgs, 2048)
}

fn direct_shapes_in(msgs: &[Message], batch: usize) -> Vec<String> {
    let mut s = Stager::new(OID, described(), vec!["id".into()], Lsn(0), batch).direct(true);
    for m in msgs {
        s.push(m).unwrap();
    }
    s.finish().unwrap();
    let id_of = |b: &Batch, c: usize, i: usize| match &b.columns[c].data {
        ColumnData::I64(v) => v[i],
        other => panic!("{other:?}"),
    };
    let mut out = Vec::new();
    while let Some(x) = s.next_staged() {
        out.push(match x {
            Staged::Direct(_) => "D".to_string(),
            Staged::Start(_) => "S".to_string(),
            Staged::Batch(b) => {
                let ids: Vec<i64> = (0..b.len).map(|i| id_of(&b, 0, i)).collect();
                format!("B{ids:?}/{}", b.columns.len())
            }
            Staged::SideStart(columns) => format!("k/{}", columns.len()),
            Staged::Side(b) => {
                let ids: Vec<i64> = (0..b.len).map(|i| id_of(&b, 0, i)).collect();
                format!("keys{ids:?}")
            }
            Staged::WritesStart(columns) => format!("W/{}", columns.len()),
            // Each write's id, and whether it is live (its last column).
            Staged::Writes(b) => {
                let live = match &b.columns.last().unwrap().data {
                    ColumnData::Bool(v) => v.clone(),
                    other => panic!("{other:?}"),
                };
                let w: Vec<String> = (0..b.len)
                    .map(|i| format!("{}{}", id_of(&b, 0, i), if live[i] { "+" } else { "-" }))
                    .collect();
                format!("w{w:?}")
            }
            Staged::KeysStart(columns) => format!("K/{}", columns.len()),
            Staged::Keys(b) => {
                let ids: Vec<i64> = (0..b.len).map(|i| id_of(&b, 0, i)).collect();
                format!("direct{ids:?}")
            }
            Staged::End(p) => format!(
                "E{}",
                "T".repeat(p.segments.iter().filter(|s| s.truncate).count())
            ),
        });
    }
    out
}

#[test]
fn a_direct_part_sends_each_key_s_first_write_to_the_target_and_stages_the_rest() {
    let upd = |id, note| Message::Update {
        relation: OID,
        old: None,
        new: row(id, note),
    };
    let ins = |id| Message::Insert {
        relation: OID,
        new: row(id, Some("a")),
    };
    let del = |id| Message::Delete {
        relation: OID,
        old: key_only(id),
    };
    let truncate = Message::Truncate {
        relations: vec![OID],
    };
    // First writes go straight in (ids 1, 2, 4), without the extra columns; a later change of a
    // key (update of 1, delete of 2) and a delete of a key not written before (3) are side rows.
    let msgs = [
        begin(10),
        ins(1),
        ins(2),
        upd(1, Some("b")),
        del(3),
        del(2),
        upd(4, Some("c")),
        commit(10),
    ];
    assert_eq!(
        direct_shapes(&msgs),
        [
            "D",
            "B[1, 2, 4]/2",
            "k/1",
            "keys[1, 3, 2]",
            "W/2",
            r#"w["1+"]"#,
            "K/1",
            "direct[1, 2, 4]",
            "E"
        ]
    );
    // Side rows in many batches keep their own extra values (each batch in order).
    let shapes = direct_shapes_in(&msgs, 1);
    assert_eq!(
        shapes,
        [
            "D",
            "B[1]/2",
            "B[2]/2",
            "B[4]/2",
            "k/1",
            "keys[1]",
            "keys[3]",
            "keys[2]",
            "W/2",
            r#"w["1+"]"#,
            "K/1",
            "direct[1]",
            "direct[2]",
            "direct[4]",
            "E"
        ]
    );
    // A later write replaced by a later one still is not live; a delete replaces a write too.
    let again = [
        begin(10),
        ins(1),
        upd(1, Some("b")),
        upd(1, Some("c")),
        ins(2),
        upd(2, Some("d")),
        del(2),
        commit(10),
    ];
    assert_eq!(
        direct_shapes(&again),
        [
            "D",
            "B[1, 2]/2",
            "k/1",
            "keys[1, 1, 2, 2]",
            "W/2",
            r#"w["1-", "1+", "2-"]"#,
            "K/1",
            "direct[1, 2]",
            "E"
        ]
    );
    // Where no row replaced another (each side row deletes a key the part wrote nowhere else),
    // there is nothing to write.
    let deletes = [
        begin(10),
        ins(1),
        del(3),
        upd(4, Some("c")),
        del(5),
        commit(10),
    ];
    assert_eq!(
        direct_shapes(&deletes),
        [
            "D",
            "B[1, 4]/2",
            "k/1",
            "keys[3, 5]",
            "K/1",
            "direct[1, 4]",
            "E"
        ]
    );
    assert_eq!(
        direct_shapes_in(&deletes, 1),
        [
            "D",
            "B[1]/2",
            "B[4]/2",
            "k/1",
            "keys[3]",
            "keys[5]",
            "K/1",
            "direct[1]",
            "direct[4]",
            "E"
        ]
    );
    // A TRUNCATE after rows starts a new direct part, which it begins.
    let shapes = direct_shapes(&[begin(10), ins(1), truncate.clone(), ins(1), commit(10)]);
    assert_eq!(
        shapes,
        [
            "D",
            "B[1]/2",
            "K/1",
            "direct[1]",
            "E",
            "D",
            "B[1]/2",
            "K/1",
            "direct[1]",
            "ET"
        ]
    );
    // An update that left a TOASTed value unchanged ends direct parts: the rest is staged.
    let shapes = direct_shapes(&[begin(10), ins(1), upd(2, Some("~u")), ins(3), commit(10)]);
    assert_eq!(shapes[..5], ["D", "B[1]/2", "K/1", "direct[1]", "E"]);
    assert_eq!(shapes[5], "S");
    assert_eq!(shapes.last().map(String::as_str), Some("E"));
}

#[test]
fn a_direct_part_deletes_older_rows_by_rowid_then_applies_its_side_rows() {
    let part = |rows, truncate| PartSummary {
        segments: vec![Segment {
            seg: 1,
            truncate,
            rows,
            ..Segment::default()
        }],
    };
    // Some row replaced an earlier write of its key.
    let replacing = |rows| PartSummary {
        segments: vec![Segment {
            seg: 1,
            rows,
            superseded: 1,
            ..Segment::default()
        }],
    };
    let replacing_after_truncate = || PartSummary {
        segments: vec![Segment {
            seg: 1,
            truncate: true,
            rows: 4,
            superseded: 1,
            ..Segment::default()
        }],
    };
    let cols = ["id".to_string(), "note".to_string()];
    let (keys, stage, writes) = ("held(1)", "held(2)", "held(3)");
    let steps = |key: &[&str], p: &PartSummary, side: bool| {
        let key: Vec<String> = key.iter().map(|k| k.to_string()).collect();
        let held = DirectRows {
            keys,
            side: side.then_some(stage),
            // Side rows write only where some replaced another.
            writes: side.then_some(writes).filter(|_| p.replaces()),
        };
        direct_sql(&target(), &key, &cols, p, 41, &held)
    };
    let t = r#""lake"."raw"."orders""#;
    // Only first writes: the older rows of their keys (held: the target is not scanned for them)
    // go. The key's filter is what lets DuckDB push a Bloom filter into the target's scan.
    assert_eq!(
        steps(&["id"], &part(3, false), false),
        [Step::Delete(format!(
            r#"DELETE FROM {t} WHERE "id" IN (SELECT "id" FROM {keys} WHERE "id" IS NOT NULL) AND rowid <= 41"#
        ))]
    );
    // Side rows: their keys' older rows too and, in the same scan, the first writes they replaced;
    // then each key's last write among them.
    let s = steps(&["id"], &replacing(5), true);
    assert_eq!(
        s[0],
        Step::Delete(format!(
            r#"DELETE FROM {t} WHERE "id" IN (SELECT "id" FROM {keys} WHERE "id" IS NOT NULL UNION ALL SELECT "id" FROM {stage}) AND (rowid <= 41 OR "id" IN (SELECT "id" FROM {stage}))"#
        ))
    );
    assert_eq!(
        s[1],
        Step::Insert(format!(
            r#"INSERT INTO {t} ("id", "note") SELECT "id", "note" FROM {writes} WHERE "__live""#
        ))
    );
    assert_eq!(s.len(), 2);
    // Side rows that replaced no row (deletes of keys the part wrote nowhere else): their keys'
    // older rows go with the first writes', and that is all.
    assert_eq!(
        steps(&["id"], &part(5, false), true),
        [Step::Delete(format!(
            r#"DELETE FROM {t} WHERE "id" IN (SELECT "id" FROM {keys} WHERE "id" IS NOT NULL UNION ALL SELECT "id" FROM {stage}) AND rowid <= 41"#
        ))]
    );
    // A composite key joins, and deletes the replaced first writes in a statement of its own.
    let s = steps(&["id", "note"], &replacing(5), true);
    assert!(
        s[0].sql().contains(&format!(
            "__t.rowid <= 41 AND (EXISTS (SELECT 1 FROM {keys} AS __n WHERE __t.\"id\" = __n.\"id\" AND __t.\"note\" = __n.\"note\") OR EXISTS (SELECT 1 FROM {stage} AS __s"
        )),
        "{}",
        s[0].sql()
    );
    assert!(
        s[1].sql().contains("__t.rowid > 41 AND EXISTS"),
        "{}",
        s[1].sql()
    );
    assert_eq!(s.len(), 3);
    // A TRUNCATE first removes every older row, then the replaced first writes go on their own;
    // an empty part does nothing.
    assert_eq!(
        steps(&["id"], &part(2, true), false),
        [Step::Delete(format!("DELETE FROM {t} WHERE rowid <= 41"))]
    );
    let s = steps(&["id"], &replacing_after_truncate(), true);
    assert_eq!(
        s[0],
        Step::Delete(format!("DELETE FROM {t} WHERE rowid <= 41"))
    );
    assert_eq!(
        s[1],
        Step::Delete(format!(
            r#"DELETE FROM {t} AS __t WHERE __t.rowid > 41 AND __t."id" IN (SELECT "id" FROM {stage})"#
        ))
    );
    assert_eq!(s.len(), 3);
    assert!(steps(&["id"], &part(0, false), false).is_empty());
    assert_eq!(steps(&["id"], &part(0, true), false).len(), 1);
}

#[test]
fn the_stream_reads_ahead_about_a_fixed_amount_of_memory() {
    use DuckType::*;
    // The benchmark's table: 12 columns, about 270 bytes a row: 60 batches, 123,000 rows.
    let bench = [
        BigInt,
        Varchar,
        Varchar,
        Decimal {
            width: 12,
            scale: 2,
        },
        TimestampTz,
        TimestampTz,
        TimestampTz,
        Uuid,
        Json,
        Integer,
        Boolean,
        List(Box::new(Varchar)),
    ];
    assert_eq!(read_ahead(&bench, 2048, 5), 60);
    // Narrow rows: at most READ_AHEAD_BATCHES; wide ones: what batch_size asks for, no less.
    assert_eq!(read_ahead(&[BigInt], 2048, 5), READ_AHEAD_BATCHES);
    assert_eq!(read_ahead(&vec![Varchar; 400], 2048, 5), 5);
    assert_eq!(read_ahead(&vec![Varchar; 400], 2048, 0), 1);
    assert_eq!(read_ahead(&[], 2048, 0), READ_AHEAD_BATCHES);
}

#[test]
fn each_part_s_rows_have_the_columns_of_its_kind() {
    let names = |x: &Staged| {
        x.part_start()
            .map(|(kind, c)| (kind, c.into_iter().map(|(n, _)| n).collect::<Vec<_>>()))
    };
    let cols = described();
    let (kind, staged) = names(&Staged::Start(cols.clone())).unwrap();
    assert_eq!(kind, PartKind::Staged);
    assert_eq!(staged[..5], ["__seq", "__seg", "__op", "__u", "__sup"]);
    assert_eq!(staged[5..], ["id", "note"]);
    assert_eq!(
        names(&Staged::Direct(cols.clone())),
        Some((PartKind::Direct, vec!["id".into(), "note".into()]))
    );
    assert_eq!(
        names(&Staged::WritesStart(cols.clone())),
        Some((
            PartKind::Writes,
            vec!["id".into(), "note".into(), LIVE_COLUMN.into()]
        ))
    );
    assert_eq!(
        names(&Staged::SideStart(cols[..1].to_vec())),
        Some((PartKind::Side, vec!["id".into()]))
    );
    assert_eq!(
        names(&Staged::KeysStart(cols[..1].to_vec())),
        Some((PartKind::Keys, vec!["id".into()]))
    );
    assert!(names(&Staged::End(PartSummary {
        segments: Vec::new()
    }))
    .is_none());
}
