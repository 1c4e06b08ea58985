//! Round-trips every `PgTarget` through a real PostgreSQL: SQLite-shaped values go in with binary COPY,
//! `SELECT col::text` must print what PostgreSQL itself prints for that value.
//!
//! Needs `LAKEMIG_TEST_PG_DSN` (test/test_copy_in.py starts a throwaway cluster and sets it); fails
//! without it, so a run that silently skips is impossible.

use lakemig::postgres::connect;
use lakemig::postgres::copy_in::copy_in_with;
use lakemig::sqlite::convert::WriteSqliteRow;
use lakemig::sqlite::SqliteValue as S;
use lakemig::types::pg_value::{CopyColumn, EpochUnit, PgTarget};

fn dsn() -> String {
    std::env::var("LAKEMIG_TEST_PG_DSN")
        .expect("LAKEMIG_TEST_PG_DSN is not set: run this through test/test_copy_in.py")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// (target, epoch, value, what `col::text` prints)
fn cases() -> Vec<(PgTarget, Option<EpochUnit>, S<'static>, &'static str)> {
    use PgTarget::*;
    vec![
        (Bool, None, S::Integer(1), "true"),
        (Bool, None, S::Integer(0), "false"),
        (Bool, None, S::Text(b"f"), "false"),
        (Int2, None, S::Integer(-32768), "-32768"),
        (Int4, None, S::Text(b"2147483647"), "2147483647"),
        (Int8, None, S::Integer(i64::MIN), "-9223372036854775808"),
        (Float4, None, S::Real(1.5), "1.5"),
        (Float8, None, S::Real(0.1), "0.1"),
        (Float8, None, S::Text(b"NaN"), "NaN"),
        (Float8, None, S::Text(b"-Infinity"), "-Infinity"),
        (Float8, None, S::Real(1e300), "1e+300"),
        (Numeric, None, S::Text(b"12345.678"), "12345.678"),
        (Numeric, None, S::Text(b"-0.0001"), "-0.0001"),
        (Numeric, None, S::Text(b"1.50"), "1.50"),
        (Numeric, None, S::Text(b"0.00"), "0.00"),
        (Numeric, None, S::Text(b"10000"), "10000"),
        (Numeric, None, S::Text(b"1e-2"), "0.01"),
        (
            Numeric,
            None,
            S::Text(b"123456789012345678901234567890.123456789012"),
            "123456789012345678901234567890.123456789012",
        ),
        (Numeric, None, S::Real(0.1), "0.1"),
        (Numeric, None, S::Integer(i64::MAX), "9223372036854775807"),
        (Numeric, None, S::Text(b"NaN"), "NaN"),
        (Numeric, None, S::Text(b"Infinity"), "Infinity"),
        (Numeric, None, S::Text(b"-inf"), "-Infinity"),
        (
            Text,
            None,
            S::Text("héllo \"q\" 'x'".as_bytes()),
            "héllo \"q\" 'x'",
        ),
        (Text, None, S::Integer(42), "42"),
        (Bytea, None, S::Blob(b"\x00\x01\xfe"), "\\x0001fe"),
        (
            Uuid,
            None,
            S::Text(b"550E8400-E29B-41D4-A716-446655440000"),
            "550e8400-e29b-41d4-a716-446655440000",
        ),
        (
            Uuid,
            None,
            S::Blob(&[
                0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44,
                0x00, 0x01,
            ]),
            "550e8400-e29b-41d4-a716-446655440001",
        ),
        (Date, None, S::Text(b"2026-11-21"), "2026-11-21"),
        (Date, None, S::Text(b"1999-12-31"), "1999-12-31"),
        (
            Date,
            Some(EpochUnit::Seconds),
            S::Integer(86_400),
            "1970-01-02",
        ),
        (Time, None, S::Text(b"10:00:01.5"), "10:00:01.5"),
        (Time, None, S::Text(b"23:59:59.999999"), "23:59:59.999999"),
        (TimeTz, None, S::Text(b"10:00:00+02:30"), "10:00:00+02:30"),
        (TimeTz, None, S::Text(b"10:00:00-05"), "10:00:00-05"),
        (
            Timestamp,
            None,
            S::Text(b"2026-11-21 10:00:00.123456"),
            "2026-11-21 10:00:00.123456",
        ),
        (
            Timestamp,
            None,
            S::Text(b"2026-11-21T10:00:00"),
            "2026-11-21 10:00:00",
        ),
        (
            Timestamp,
            None,
            S::Text(b"1900-01-01 00:00:00"),
            "1900-01-01 00:00:00",
        ),
        (
            Timestamp,
            Some(EpochUnit::Milliseconds),
            S::Integer(1_700_000_000_123),
            "2023-11-14 22:13:20.123",
        ),
        (
            TimestampTz,
            None,
            S::Text(b"2026-11-21 10:00:00.123+00"),
            "2026-11-21 10:00:00.123+00",
        ),
        (
            TimestampTz,
            None,
            S::Text(b"2026-11-21 12:00:00+02"),
            "2026-11-21 10:00:00+00",
        ),
        (
            TimestampTz,
            None,
            S::Text(b"2026-11-21T10:00:00Z"),
            "2026-11-21 10:00:00+00",
        ),
        (
            TimestampTz,
            None,
            S::Text(b"2026-11-21 10:00:00"),
            "2026-11-21 10:00:00+00",
        ),
        (TimestampTz, None, S::Text(b"infinity"), "infinity"),
        (
            TimestampTz,
            Some(EpochUnit::Seconds),
            S::Integer(1_700_000_000),
            "2023-11-14 22:13:20+00",
        ),
        (
            TimestampTz,
            Some(EpochUnit::Milliseconds),
            S::Integer(-1),
            "1969-12-31 23:59:59.999+00",
        ),
        (Interval, None, S::Text(b"1 day 02:00:00"), "1 day 02:00:00"),
        (Interval, None, S::Text(b"3 months"), "3 mons"),
        (Interval, None, S::Text(b"00:00:01.5"), "00:00:01.5"),
        (
            Interval,
            None,
            S::Text(b"1 year 2 mons 3 days 04:05:06.789"),
            "1 year 2 mons 3 days 04:05:06.789",
        ),
        (
            Interval,
            None,
            S::Text(b"-1 days -02:00:00"),
            "-1 days -02:00:00",
        ),
        (
            Json,
            None,
            S::Text(br#"{"b": 1,  "a": [1, 2]}"#),
            r#"{"b": 1,  "a": [1, 2]}"#,
        ),
        (
            Jsonb,
            None,
            S::Text(br#"{"b": 1,  "a": [1, 2.50], "a": true}"#),
            r#"{"a": true, "b": 1}"#,
        ),
    ]
}

#[test]
fn real_postgres_every_type_round_trips() {
    let rt = runtime();
    rt.block_on(async {
        let params = connect::resolve(&dsn(), &connect::ProcessEnv).unwrap();
        let client = connect::connect(&params).await.unwrap();
        client.batch_execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1").await.unwrap();
        let cases = cases();
        let mut ddl = Vec::new();
        let mut columns = Vec::new();
        for (i, (t, epoch, _, _)) in cases.iter().enumerate() {
            ddl.push(format!("c{i} {}", t.sql_name()));
            columns.push(CopyColumn { name: format!("c{i}"), target: *t, epoch: *epoch, scale: None });
        }
        client.batch_execute("DROP TABLE IF EXISTS roundtrip").await.unwrap();
        client.batch_execute(&format!("CREATE TABLE roundtrip ({})", ddl.join(", "))).await.unwrap();
        let values: Vec<S<'static>> = cases.iter().map(|c| c.2).collect();
        let nulls = vec![S::Null; values.len()];
        let (n, ()) = copy_in_with(&client, "\"roundtrip\"", columns, 1 << 16, "test", move |w| {
            w.write_row(&values[..])?;
            w.write_row(&nulls[..])
        })
        .await
        .unwrap();
        assert_eq!(n, 2);
        let select: Vec<String> = (0..cases.len()).map(|i| format!("c{i}::text")).collect();
        let rows = client
            .query(&format!("SELECT {} FROM roundtrip", select.join(", ")), &[])
            .await
            .unwrap();
        let (full, null) = if rows[0].get::<_, Option<String>>(0).is_some() { (&rows[0], &rows[1]) } else { (&rows[1], &rows[0]) };
        let mut wrong = Vec::new();
        for (i, (t, _, v, want)) in cases.iter().enumerate() {
            let got: Option<String> = full.get(i);
            if got.as_deref() != Some(*want) {
                wrong.push(format!("{t:?} from {}: got {got:?}, want {want:?}", v.describe()));
            }
            assert_eq!(null.get::<_, Option<String>>(i), None);
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    });
}

#[test]
fn real_postgres_a_bad_value_aborts_the_copy_and_names_it() {
    let rt = runtime();
    rt.block_on(async {
        let params = connect::resolve(&dsn(), &connect::ProcessEnv).unwrap();
        let client = connect::connect(&params).await.unwrap();
        client
            .batch_execute(
                "DROP TABLE IF EXISTS aborted; CREATE TABLE aborted (id bigint, at timestamptz)",
            )
            .await
            .unwrap();
        let columns = vec![
            CopyColumn::new("id", PgTarget::Int8),
            CopyColumn::new("at", PgTarget::TimestampTz),
        ];
        // Many chunks go out before the bad row: they must not stay in the table.
        let err = copy_in_with(
            &client,
            "\"public\".\"aborted\"",
            columns,
            4096,
            "test",
            |w| {
                for i in 0..50_000 {
                    w.write_row(&[S::Integer(i), S::Text(b"2026-01-01 00:00:00")][..])?;
                }
                w.write_row(&[S::Integer(-1), S::Text(b"2026-02-30 00:00:00")][..])
            },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("\"public\".\"aborted\".\"at\"")
                && err.contains("'2026-02-30 00:00:00'")
                && err.contains("not a valid calendar date"),
            "{err}"
        );
        let n: i64 = client
            .query_one("SELECT count(*) FROM aborted", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0);
    });
}

#[test]
fn real_postgres_many_chunks_stream_and_count() {
    let rt = runtime();
    rt.block_on(async {
        let params = connect::resolve(&dsn(), &connect::ProcessEnv).unwrap();
        let client = connect::connect(&params).await.unwrap();
        client.batch_execute("DROP TABLE IF EXISTS chunks; CREATE TABLE chunks (id int8, payload jsonb)").await.unwrap();
        let columns = vec![CopyColumn::new("id", PgTarget::Int8), CopyColumn::new("payload", PgTarget::Jsonb)];
        for rows in [0i64, 2047, 2048, 2049, 100_000] {
            client.batch_execute("TRUNCATE chunks").await.unwrap();
            let (n, ()) = copy_in_with(&client, "chunks", columns.clone(), 8192, "test", move |w| {
                for i in 0..rows {
                    let json = format!("{{\"i\": {i}}}");
                    w.write_row(&[S::Integer(i), S::Text(json.as_bytes())][..])?;
                }
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(n as i64, rows);
            let row = client.query_one("SELECT count(*), coalesce(sum((payload->>'i')::int8 - id), 0)::int8 FROM chunks", &[]).await.unwrap();
            assert_eq!(row.get::<_, i64>(0), rows);
            assert_eq!(row.get::<_, i64>(1), 0);
        }
    });
}
