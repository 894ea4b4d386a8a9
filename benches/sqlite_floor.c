/* The floor under a write on this machine: statements run from C against the system
 * SQLite, with no Python and no Rust between them, on the pragmas strata sets (WAL,
 * synchronous NORMAL, foreign keys). benches/ratelimit_floor.py builds and drives it,
 * with the statements taken from strata's dialect.
 *
 *   sqlite_floor DB N TURN STATEMENT...
 *
 * Runs N operations; one operation runs every STATEMENT in order, each stepped to its end
 * and reset. A STATEMENT is its SQL, then its parameters, separated by tabs: "i:42" binds
 * an integer, "t:text" a text. TURN 1 takes and releases an flock on DB-floor-lock around
 * each operation, as strata's writes take their turn. Prints the microseconds per
 * operation, wall-clock and CPU (user + system). */
#include <fcntl.h>
#include <malloc.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static double seconds(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(sqlite3 *db, const char *what) {
  fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
  exit(1);
}

static sqlite3_stmt *prepare(sqlite3 *db, char *spec) {
  char *sql = strtok(spec, "\t");
  sqlite3_stmt *stmt;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK)
    fail(db, sql);
  int index = 0;
  for (char *param = strtok(NULL, "\t"); param; param = strtok(NULL, "\t")) {
    index++;
    if (param[0] == 'i')
      sqlite3_bind_int64(stmt, index, strtoll(param + 2, NULL, 10));
    else
      sqlite3_bind_text(stmt, index, param + 2, -1, SQLITE_TRANSIENT);
  }
  return stmt;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s DB N TURN STATEMENT...\n", argv[0]);
    return 2;
  }
  /* glibc would otherwise hand memory back to the kernel and take it again on every
   * transaction of some loops (two brk calls each), which strata's process does not do. */
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  sqlite3 *db;
  if (sqlite3_open(argv[1], &db) != SQLITE_OK) fail(db, "open");
  if (sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                   "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK)
    fail(db, "pragmas");
  long n = strtol(argv[2], NULL, 10);
  int turn = argv[3][0] == '1';
  char lock_path[4096];
  snprintf(lock_path, sizeof lock_path, "%s-floor-lock", argv[1]);
  int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  int count = argc - 4;
  sqlite3_stmt **stmts = calloc(count, sizeof *stmts);
  for (int i = 0; i < count; i++) stmts[i] = prepare(db, argv[4 + i]);
  double wall = seconds(CLOCK_MONOTONIC), cpu = seconds(CLOCK_PROCESS_CPUTIME_ID);
  for (long op = 0; op < n; op++) {
    if (turn) flock(lock, LOCK_EX);
    for (int i = 0; i < count; i++) {
      int rc;
      while ((rc = sqlite3_step(stmts[i])) == SQLITE_ROW) {
      }
      if (rc != SQLITE_DONE) fail(db, "step");
      sqlite3_reset(stmts[i]);
    }
    if (turn) flock(lock, LOCK_UN);
  }
  wall = seconds(CLOCK_MONOTONIC) - wall;
  cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu;
  printf("%.3f %.3f\n", wall / n * 1e6, cpu / n * 1e6);
  for (int i = 0; i < count; i++) sqlite3_finalize(stmts[i]);
  sqlite3_close(db);
  return 0;
}
