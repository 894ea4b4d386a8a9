//! The aggregation and rollups on an in-memory `SQLite`.

use super::*;

fn memory() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE m (s TEXT, t TEXT, v REAL, n INTEGER);
         CREATE TABLE r (s TEXT, b TEXT, v_count INTEGER, v_sum REAL, v_min REAL, v_max REAL);",
    )
    .unwrap();
    conn
}

fn source() -> Source {
    // The statements `strata.dialects.sqlite.metrics.source_sql` writes.
    Source {
        table: "m".into(),
        time: "t".into(),
        sql: SourceSql {
            head: "SELECT t0.s, t0.t, t0.v, t0.n FROM m AS t0 WHERE t0.t IS NOT NULL AND (".into(),
            tail: ") ORDER BY t0.s, t0.t".into(),
            all_rows: "1".into(),
            since: "t0.t >= ?".into(),
            unordered_tail: None,
        },
        inputs: vec![
            Input::Raw {
                column: "v".into(),
                integer: false,
            },
            Input::Raw {
                column: "n".into(),
                integer: true,
            },
        ],
    }
}

fn insert(conn: &Connection, s: &str, seconds: i64, v: Option<f64>, n: Option<i64>) {
    conn.execute(
        "INSERT INTO m VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![
            s,
            time::UtcTime::from_unix_ms(seconds * 1000).iso8601(),
            v,
            n
        ],
    )
    .unwrap();
}

fn run(conn: &Connection, every_ms: i64, outputs: &[(usize, Stat)]) -> Vec<Bucket> {
    run_with(conn, &source(), every_ms, outputs)
}

#[test]
fn buckets_per_series_with_nulls_and_integers() {
    let conn = memory();
    insert(&conn, "a", 0, Some(1.0), Some(1));
    insert(&conn, "a", 30, Some(3.0), Some(2));
    insert(&conn, "a", 61, None, None);
    insert(&conn, "b", 5, Some(-2.5), Some(-7));
    let outputs = [
        (0, Stat::Count),
        (0, Stat::Avg),
        (0, Stat::Max),
        (1, Stat::Sum),
        (1, Stat::Min),
    ];
    let buckets = run(&conn, 60_000, &outputs);
    let values: Vec<_> = buckets
        .iter()
        .map(|b| (b.start_ms, b.values.clone()))
        .collect();
    assert_eq!(
        values,
        vec![
            (
                0,
                vec![
                    Value::Integer(2),
                    Value::Real(2.0),
                    Value::Real(3.0),
                    Value::Integer(3),
                    Value::Integer(1)
                ]
            ),
            (
                60_000,
                vec![
                    Value::Integer(0),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Null
                ]
            ),
            (
                0,
                vec![
                    Value::Integer(1),
                    Value::Real(-2.5),
                    Value::Real(-2.5),
                    Value::Integer(-7),
                    Value::Integer(-7)
                ]
            ),
        ]
    );
    assert_eq!(buckets[2].series, Value::Text("b".into()));
}

#[test]
fn percentiles_interpolate_between_ranks() {
    assert!((quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.5) - 2.5).abs() < 1e-12);
    assert!((quantile_sorted(&[7.0], 0.99) - 7.0).abs() < 1e-12);
    let conn = memory();
    for (i, v) in [5.0, 1.0, 3.0, 2.0, 4.0].into_iter().enumerate() {
        insert(&conn, "a", i64::try_from(i).unwrap(), Some(v), None);
    }
    let buckets = run(
        &conn,
        60_000,
        &[(0, Stat::Quantile(0.5)), (0, Stat::Quantile(0.95))],
    );
    assert_eq!(buckets[0].values, vec![Value::Real(3.0), Value::Real(4.8)]);
}

#[test]
fn rollup_rewrites_from_the_watermark() {
    let conn = memory();
    let outputs = [
        (0, Stat::Count),
        (0, Stat::Sum),
        (0, Stat::Min),
        (0, Stat::Max),
    ];
    let target = RollupTarget {
        watermark: "SELECT max(b) FROM r".into(),
        delete_from: "DELETE FROM r WHERE b >= ?".into(),
        insert: Target {
            sql: crate::bulk::tests::sqlite_insert(
                "r",
                &["s", "b", "v_count", "v_sum", "v_min", "v_max"],
            ),
            skip_duplicates: false,
        },
        format: Format::Iso8601,
    };
    let request = Request {
        every_ms: 60_000,
        outputs: &outputs,
        condition: "1",
        params: &[],
    };
    insert(&conn, "a", 0, Some(1.0), None);
    insert(&conn, "a", 70, Some(2.0), None);
    let written = rollup(&conn, &source(), Format::Iso8601, &request, &target, 0).unwrap();
    assert_eq!(written, 2);
    insert(&conn, "a", 80, Some(4.0), None);
    insert(&conn, "a", 130, Some(8.0), None);
    // The last bucket (60 s) is rewritten with the late sample; the first stays.
    let written = rollup(&conn, &source(), Format::Iso8601, &request, &target, 0).unwrap();
    assert_eq!(written, 2);
    let rows: Vec<(i64, f64)> = conn
        .prepare("SELECT v_count, v_sum FROM r ORDER BY b")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(rows, vec![(1, 1.0), (2, 6.0), (1, 8.0)]);
}

fn run_with(
    conn: &Connection,
    source: &Source,
    every_ms: i64,
    outputs: &[(usize, Stat)],
) -> Vec<Bucket> {
    let mut out = Vec::new();
    let request = Request {
        every_ms,
        outputs,
        condition: "1",
        params: &[],
    };
    aggregate(conn, source, &request, |b| {
        out.push(b);
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn the_table_order_scan_gives_what_the_ordered_walk_gives() {
    let conn = memory();
    // Arrival order is not time order, series of every storage class (an integer and a
    // real that compare equal, NULL, text whose bytes sort apart from its characters),
    // negative times, NULL samples and a float stored in the integer column.
    let series: [&dyn rusqlite::ToSql; 6] =
        [&"b", &"a", &2_i64, &1.5_f64, &rusqlite::types::Null, &"é"];
    for i in 0..600_i64 {
        let seconds = (i * 7919) % 1000 - 300;
        let v = (i % 11 != 0).then(|| f64::from(i32::try_from(i % 37).unwrap()) / 4.0);
        let n: rusqlite::types::Value = match i % 13 {
            0 => rusqlite::types::Value::Null,
            1 => rusqlite::types::Value::Real(0.5),
            _ => rusqlite::types::Value::Integer(i % 29 - 9),
        };
        conn.execute(
            "INSERT INTO m VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                series[usize::try_from(i % 6).unwrap()],
                time::UtcTime::from_unix_ms(seconds * 1000).iso8601(),
                v,
                n
            ],
        )
        .unwrap();
    }
    let ordered = source();
    let mut unordered = source();
    unordered.sql.unordered_tail = Some(")".into());
    let outputs = [
        (0, Stat::Count),
        (0, Stat::Sum),
        (0, Stat::Avg),
        (0, Stat::Min),
        (0, Stat::Max),
        (1, Stat::Count),
        (1, Stat::Sum),
        (1, Stat::Avg),
        (1, Stat::Min),
        (1, Stat::Max),
    ];
    for every_ms in [1_000, 60_000, 3_600_000] {
        let expected = run_with(&conn, &ordered, every_ms, &outputs);
        assert!(expected.len() > 6);
        assert_eq!(run_with(&conn, &unordered, every_ms, &outputs), expected);
    }
    // A percentile keeps the ordered walk, whose answer is the same with either source.
    let p95 = [(0, Stat::Quantile(0.95)), (0, Stat::Count)];
    assert_eq!(
        run_with(&conn, &unordered, 60_000, &p95),
        run_with(&conn, &ordered, 60_000, &p95)
    );
}

#[test]
fn the_table_order_scan_names_a_sample_that_is_not_a_number() {
    let conn = memory();
    insert(&conn, "a", 0, Some(1.0), Some(1));
    conn.execute(
        "INSERT INTO m VALUES ('a', '2026-01-01T00:00:00.000+00:00', 'hot', 1)",
        [],
    )
    .unwrap();
    let mut unordered = source();
    unordered.sql.unordered_tail = Some(")".into());
    let request = Request {
        every_ms: 60_000,
        outputs: &[(0, Stat::Avg)],
        condition: "1",
        params: &[],
    };
    let err = aggregate(&conn, &unordered, &request, |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("m.v holds"), "{err}");
    assert!(err.to_string().contains("not a number"), "{err}");
}
