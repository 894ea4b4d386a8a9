//! The engine's tests: transactions, routing, pooled and stream readers, error refinement,
//! each against a real database file.

use std::time::Instant;

use super::*;
use crate::error::ConstraintKind;

/// `err` is the foreign-key error of the `child.parentId -> parent.id` relation, named.
fn assert_names_child_to_parent(err: Error) {
    match err {
        Error::Constraint {
            kind: ConstraintKind::ForeignKey,
            table,
            columns,
            references,
            ..
        } => {
            assert_eq!(table.as_deref(), Some("child"));
            assert_eq!(columns, vec!["parentId"]);
            assert_eq!(references, Some(("parent".into(), vec!["id".into()])));
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn temp_db(name: &str) -> (tempdir::Dir, String) {
    let dir = tempdir::Dir::new(name);
    let path = dir.path.join("test.db").to_string_lossy().into_owned();
    (dir, path)
}

/// A throwaway directory, removed on drop (avoids a dev-dependency for one helper).
mod tempdir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new(name: &str) -> Dir {
            let path =
                std::env::temp_dir().join(format!("strata-core-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn engine(path: &str) -> Engine {
    Engine::open(path, Options::default()).unwrap()
}

/// A database with `child.parentId` referencing `parent.id` (with `action`, if any).
fn parent_and_child(name: &str, action: &str) -> (tempdir::Dir, Engine) {
    let (dir, path) = temp_db(name);
    let db = engine(&path);
    db.execute_script(&format!(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY,
                             parentId INTEGER REFERENCES parent (id) {action});"
    ))
    .unwrap();
    (dir, db)
}

#[test]
fn pragmas_are_in_force() {
    let (_dir, path) = temp_db("pragmas");
    let settings = engine(&path).settings().unwrap();
    assert_eq!(settings.journal_mode, "wal");
    assert_eq!(settings.synchronous, "NORMAL");
    assert!(settings.foreign_keys);
}

#[test]
fn nested_transactions_use_savepoints() {
    let (_dir, path) = temp_db("nested");
    let db = engine(&path);
    db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
    db.begin().unwrap();
    db.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    db.begin().unwrap();
    db.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
    db.rollback().unwrap();
    db.commit().unwrap();
    let rows = db.query("SELECT x FROM t", &[]).unwrap();
    assert_eq!(rows.rows, vec![vec![Value::Integer(1)]]);
    assert!(!db.in_transaction());
}

#[test]
fn raw_transaction_control_is_refused() {
    let (_dir, path) = temp_db("control");
    let db = engine(&path);
    assert!(matches!(
        db.execute("  begin", &[]),
        Err(Error::Transaction(_))
    ));
    // A comment hides BEGIN from the keyword check; the state check still rolls it back.
    assert!(matches!(
        db.execute("/* sneaky */ BEGIN", &[]),
        Err(Error::Transaction(_))
    ));
    db.begin().unwrap();
    db.commit().unwrap();
}

#[test]
fn reads_inside_a_transaction_see_its_writes() {
    let (_dir, path) = temp_db("own-writes");
    let db = engine(&path);
    db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
    db.begin().unwrap();
    db.execute("INSERT INTO t VALUES (?1)", &[Value::Integer(7)])
        .unwrap();
    let rows = db.query("SELECT count(*) FROM t", &[]).unwrap();
    assert_eq!(rows.rows[0][0], Value::Integer(1));
    db.rollback().unwrap();
}

#[test]
fn foreign_key_failures_name_the_columns() {
    let (_dir, db) = parent_and_child("fk", "");
    let err = db
        .execute(
            "INSERT INTO child (parentId) VALUES (?1)",
            &[Value::Integer(9)],
        )
        .unwrap_err();
    assert_names_child_to_parent(err);
    let rows = db.query("SELECT count(*) FROM child", &[]).unwrap();
    assert_eq!(
        rows.rows[0][0],
        Value::Integer(0),
        "the probe left nothing behind"
    );
}

#[test]
fn statements_with_named_parameters_have_their_foreign_key_named() {
    // The queue binds by name; the probe re-runs the statement with those bindings.
    let (_dir, db) = parent_and_child("fk-named", "");
    let err = db
        .write(|conn| {
            let sql = "INSERT INTO child (parentId) VALUES (:parent) RETURNING id";
            let mut stmt = conn.prepare(sql).unwrap();
            let index = stmt.parameter_index(":parent").unwrap().unwrap();
            stmt.raw_bind_parameter(index, 9).unwrap();
            collect_bound(conn, &mut stmt, sql)
        })
        .unwrap_err();
    assert!(
        matches!(&err, Error::Constraint { kind: ConstraintKind::ForeignKey, table: Some(t), .. } if t == "child"),
        "{err:?}"
    );
}

#[test]
fn a_restrict_action_is_a_foreign_key_failure() {
    // RESTRICT fails as a trigger program does; it is still a foreign key's failure.
    let (_dir, db) = parent_and_child("fk-restrict", "ON DELETE RESTRICT");
    db.execute_script("INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1);")
        .unwrap();
    let err = db
        .execute("DELETE FROM parent WHERE id = ?1", &[Value::Integer(1)])
        .unwrap_err();
    assert_names_child_to_parent(err);
    assert!(!db.in_transaction());
    let rows = db.query("SELECT count(*) FROM parent", &[]).unwrap();
    assert_eq!(rows.rows[0][0], Value::Integer(1));
}

#[test]
fn unique_failures_name_table_and_columns() {
    let (_dir, path) = temp_db("unique");
    let db = engine(&path);
    db.execute_script(
        "CREATE TABLE u (a TEXT, b TEXT, UNIQUE (a, b)); INSERT INTO u VALUES ('x', 'y');",
    )
    .unwrap();
    let err = db
        .execute("INSERT INTO u VALUES ('x', 'y')", &[])
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Constraint { kind: ConstraintKind::Unique, ref table, ref columns, .. }
            if table.as_deref() == Some("u") && columns == &["a", "b"]
    ));
}

#[test]
fn pragmas_read_the_writers_settings() {
    let (_dir, path) = temp_db("pragma-route");
    let db = engine(&path);
    db.execute("PRAGMA foreign_keys = OFF", &[]).unwrap();
    let rows = db.query("pragma foreign_keys", &[]).unwrap();
    assert_eq!(rows.rows, vec![vec![Value::Integer(0)]]);
}

#[test]
fn closed_engine_refuses_calls() {
    let (_dir, path) = temp_db("closed");
    let db = engine(&path);
    db.close();
    assert!(matches!(db.query("SELECT 1", &[]), Err(Error::Closed)));
    assert!(matches!(db.begin(), Err(Error::Closed)));
    db.close();
}

fn count(db: &Engine) -> Value {
    db.query("SELECT count(*) FROM t", &[]).unwrap().rows[0][0].clone()
}

#[test]
fn write_commits_its_own_transaction_and_rolls_back_on_failure() {
    let (_dir, path) = temp_db("write-own");
    let db = engine(&path);
    db.execute("CREATE TABLE t (x INTEGER UNIQUE)", &[])
        .unwrap();
    db.write(|conn| {
        conn.execute("INSERT INTO t VALUES (1)", [])
            .map_err(|e| Error::from_sqlite(e, ""))
    })
    .unwrap();
    let failed = db.write(|conn| {
        conn.execute("INSERT INTO t VALUES (2)", [])
            .and_then(|_| conn.execute("INSERT INTO t VALUES (1)", []))
            .map_err(|e| Error::from_sqlite(e, ""))
    });
    assert!(matches!(failed, Err(Error::Constraint { .. })));
    assert_eq!(count(&db), Value::Integer(1));
    assert!(!db.in_transaction());
    // The writer is usable afterwards: no transaction was left open.
    db.execute("INSERT INTO t VALUES (3)", &[]).unwrap();
}

#[test]
fn write_joins_the_callers_transaction_as_a_savepoint() {
    let (_dir, path) = temp_db("write-nested");
    let db = engine(&path);
    db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
    db.begin().unwrap();
    db.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    let failed: Result<()> = db.write(|conn| {
        conn.execute("INSERT INTO t VALUES (2)", [])
            .map_err(|e| Error::from_sqlite(e, ""))?;
        Err(Error::Transaction("abandon".into()))
    });
    assert!(failed.is_err());
    db.write(|conn| {
        conn.execute("INSERT INTO t VALUES (3)", [])
            .map_err(|e| Error::from_sqlite(e, ""))
    })
    .unwrap();
    // Only the failed savepoint was undone; the outer transaction decides the rest.
    assert_eq!(count(&db), Value::Integer(2));
    db.rollback().unwrap();
    assert_eq!(count(&db), Value::Integer(0));
}

#[test]
fn waiting_for_a_pooled_reader_is_bounded_and_streams_hold_none() {
    let (_dir, path) = temp_db("pool-busy");
    let options = Options {
        busy_timeout: Duration::from_millis(200),
        max_readers: 2,
    };
    let db = Engine::open(&path, options).unwrap();
    db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
    // Streams read on connections of their own: any number leaves the pool free.
    let streams: Vec<_> = (0..3)
        .map(|_| db.stream_reader().unwrap().unwrap())
        .collect();
    assert_eq!(
        db.query("SELECT count(*) FROM t", &[]).unwrap().rows.len(),
        1
    );
    // Readers held elsewhere for longer than the busy timeout: the next read gives up.
    let held: Vec<_> = (0..2)
        .map(|_| db.acquire_reader().unwrap().unwrap())
        .collect();
    let started = Instant::now();
    let err = db.query("SELECT count(*) FROM t", &[]).unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(
            err,
            Error::ReadersBusy {
                readers: 2,
                streams: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(waited >= Duration::from_millis(190), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    // The wait is noted for the log, on this thread, once.
    let noted = super::waits::take().expect("the wait is noted");
    assert_eq!(
        (noted.pool, noted.size, noted.timed_out),
        ("sqlite readers", 2, true)
    );
    assert!(noted.waited >= Duration::from_millis(190), "{noted:?}");
    assert_eq!(super::waits::take(), None);
    drop(held);
    drop(streams);
    assert_eq!(db.readers.open_streams.load(Ordering::Relaxed), 0);
    db.query("SELECT count(*) FROM t", &[]).unwrap();
}

#[test]
fn a_reader_returned_while_waiting_is_taken() {
    let (_dir, path) = temp_db("pool-wait");
    let options = Options {
        busy_timeout: Duration::from_secs(10),
        max_readers: 1,
    };
    let db = Engine::open(&path, options).unwrap();
    let held = db.acquire_reader().unwrap().unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let rows = db.query("SELECT 1", &[]).map(|rows| rows.rows);
            (rows, super::waits::take())
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(held);
        let (rows, noted) = waiter.join().unwrap();
        assert_eq!(rows.unwrap(), vec![vec![Value::Integer(1)]]);
        let noted = noted.expect("the wait is noted");
        assert!(!noted.timed_out);
        assert!(noted.waited >= Duration::from_millis(40), "{noted:?}");
    });
    // A read that found a reader free waited for nothing.
    db.query("SELECT 1", &[]).unwrap();
    assert_eq!(super::waits::take(), None);
}

#[test]
fn a_transaction_sqlite_rolled_back_ends_cleanly() {
    let (_dir, path) = temp_db("interrupted");
    let db = engine(&path);
    db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
    db.begin().unwrap();
    db.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    db.begin().unwrap();
    // An interrupted write makes SQLite roll back the whole transaction itself.
    let err = db
        .write(|conn| {
            let handle = conn.get_interrupt_handle();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                handle.interrupt();
            });
            conn.execute(
                "INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL \
                 SELECT x + 1 FROM c WHERE x < 1000000000) SELECT x FROM c",
                [],
            )
            .map_err(|e| Error::from_sqlite(e, ""))
        })
        .unwrap_err();
    assert!(matches!(err, Error::Interrupted), "{err:?}");
    assert!(matches!(db.commit(), Err(Error::Transaction(_))));
    db.rollback().unwrap();
    assert!(!db.in_transaction());
    assert_eq!(count(&db), Value::Integer(0));
    db.execute("INSERT INTO t VALUES (3)", &[]).unwrap();
    assert_eq!(count(&db), Value::Integer(1));
}

#[test]
fn dedicated_reader_sees_commits_through_data_version() {
    let (_dir, path) = temp_db("data-version");
    let db = engine(&path);
    db.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
    let reader = db.dedicated_reader().unwrap();
    let version = |conn: &Connection| -> i64 {
        conn.query_row("PRAGMA data_version", [], |row| row.get(0))
            .unwrap()
    };
    let before = version(&reader);
    assert_eq!(version(&reader), before);
    db.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
    assert_ne!(version(&reader), before);
}

#[test]
fn a_checkpoint_due_under_the_turn_runs_once_it_is_let_go() {
    let (_dir, path) = temp_db("checkpoint");
    let db = engine(&path);
    db.execute("CREATE TABLE t (x BLOB)", &[]).unwrap();
    let main_file = || std::fs::metadata(&path).unwrap().len();
    let before = main_file();
    // 1,200 pages in one commit: past SQLite's 1,000-page checkpoint threshold.
    db.write(|conn| {
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) \
             INSERT INTO t SELECT zeroblob(4000) FROM n",
            [],
        )
        .map_err(|e| Error::from_sqlite(e, ""))
    })
    .unwrap();
    // The commit only noted the checkpoint (the turn was held); `write` ran it after letting
    // the turn go, so the pages are in the database file already.
    assert!(
        main_file() > before + 1_000 * 4096,
        "{} -> {}",
        before,
        main_file()
    );
    // A commit made without the turn (a transaction the application opened) checkpoints
    // from the hook, as SQLite does by default.
    db.begin().unwrap();
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) \
         INSERT INTO t SELECT zeroblob(4000) FROM n",
        &[],
    )
    .unwrap();
    let grown = main_file();
    db.commit().unwrap();
    assert!(
        main_file() > grown + 1_000 * 4096,
        "{} -> {}",
        grown,
        main_file()
    );
}

#[test]
fn checkpoints_after_the_turn_are_spaced_and_a_log_they_cannot_restart_is_checkpointed_inside_it() {
    let (_dir, path) = temp_db("spacing");
    let db = engine(&path);
    db.execute("CREATE TABLE t (x BLOB)", &[]).unwrap();
    // A reader whose snapshot is older than every commit below keeps the log from starting
    // over, as other processes' writes do.
    let reader = db.dedicated_reader().unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .unwrap();
    // Each row is a page of its own.
    let insert_pages = |n: i64| {
        db.write(|conn| {
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
                 INSERT INTO t SELECT zeroblob(4000) FROM n",
                [n],
            )
            .map_err(|e| Error::from_sqlite(e, ""))
        })
        .unwrap();
        checkpoint::counts::run()
    };
    let (at_commit, after) = checkpoint::counts::run();
    // Past the threshold: a checkpoint after the turn.
    assert_eq!(insert_pages(1_200), (at_commit, after + 1));
    // Ten pages more: not yet another one.
    assert_eq!(insert_pages(10), (at_commit, after + 1));
    // A hundred and fifty more: the next one.
    assert_eq!(insert_pages(150), (at_commit, after + 2));
    // Past twice the threshold, the log never having started over: inside the turn.
    assert_eq!(insert_pages(700), (at_commit + 1, after + 2));
    reader.execute_batch("COMMIT").unwrap();
}
