/* examples/sqlite/sqlite_fastalloc.c: SQLite's memory from fastalloc (SQLITE_CONFIG_MALLOC).
 *
 * SQLite calls its allocator from any thread that uses a connection, so this uses fastalloc's
 * thread heaps (fa_malloc & co.), not a first-class heap. xSize and xRoundup are exact: SQLite's
 * memory statistics then count what a block really takes.
 *
 *   sqlite_fastalloc fa|default [ROWS]    runs the workload on an in-memory database and prints its
 *                                         result; fa: the methods below, default: SQLite's own
 * Build: cc -O2 -I. examples/sqlite/sqlite_fastalloc.c -lsqlite3      (libsqlite3-dev)
 */
#define FASTALLOC_IMPLEMENTATION
#include "fastalloc.h"
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void* fa_sqlite_malloc(int n) { return fa_malloc((size_t)n); }
static void fa_sqlite_free(void* p) { fa_free(p); }
static void* fa_sqlite_realloc(void* p, int n) { return fa_realloc(p, (size_t)n); }
static int fa_sqlite_size(void* p) { return (int)fa_usable_size(p); }
static int fa_sqlite_roundup(int n) {
    size_t good = fa_good_size((size_t)n);
    return good == 0 || good > INT_MAX ? n : (int)good;
}
static int fa_sqlite_init(void* unused) { (void)unused; return SQLITE_OK; }
static void fa_sqlite_shutdown(void* unused) { (void)unused; fa_collect(true); }

/* Before sqlite3_initialize (or after sqlite3_shutdown): SQLite copies the struct. */
int fa_sqlite_use(void) {
    static sqlite3_mem_methods methods = { fa_sqlite_malloc, fa_sqlite_free, fa_sqlite_realloc, fa_sqlite_size,
                                           fa_sqlite_roundup, fa_sqlite_init, fa_sqlite_shutdown, NULL };
    return sqlite3_config(SQLITE_CONFIG_MALLOC, &methods);
}

/* ---- the workload --------------------------------------------------------------------------------- */
static void fail(sqlite3* db, const char* what) {
    fprintf(stderr, "%s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    exit(1);
}
static void exec(sqlite3* db, const char* sql) {
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) fail(db, sql);
}
static sqlite3_int64 query(sqlite3* db, const char* sql) {
    sqlite3_stmt* st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) fail(db, sql);
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int main(int argc, char** argv) {
    if (argc < 2 || (strcmp(argv[1], "fa") != 0 && strcmp(argv[1], "default") != 0)) {
        fprintf(stderr, "usage: %s fa|default [ROWS]\n", argv[0]);
        return 2;
    }
    long rows = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
    bool fa = strcmp(argv[1], "fa") == 0;
    if (fa && fa_sqlite_use() != SQLITE_OK) fail(NULL, "SQLITE_CONFIG_MALLOC");
    sqlite3* db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) fail(db, "open");
    void* probe = sqlite3_malloc(100);     /* fastalloc's block in fa mode, not otherwise */
    if ((fa_usable_size(probe) >= 100) != fa) fail(db, "the allocator SQLite uses");
    sqlite3_free(probe);

    /* Rows of text whose lengths vary (so records, the sorter and the index churn memory), an index,
       a GROUP BY, an ORDER BY over a temporary b-tree, updates that grow and shrink values, a delete. */
    exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT)");
    exec(db, "BEGIN");
    sqlite3_stmt* ins;
    if (sqlite3_prepare_v2(db, "INSERT INTO t(k, v) VALUES(?1, printf('%x-%s', ?1, substr(?2, 1, ?1 % 97)))",
                           -1, &ins, NULL) != SQLITE_OK) fail(db, "prepare");
    static const char text[] = "the quick brown fox jumps over the lazy dog, pack my box with five dozen "
                               "liquor jugs; sphinx of black quartz, judge my vow";
    for (long i = 1; i <= rows; i++) {
        sqlite3_bind_int64(ins, 1, (i * 7919) % 100003);
        sqlite3_bind_text(ins, 2, text, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) fail(db, "insert");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    exec(db, "COMMIT");
    exec(db, "CREATE INDEX t_v ON t(v)");
    exec(db, "UPDATE t SET v = v || v WHERE k % 3 = 0");
    exec(db, "UPDATE t SET v = substr(v, 1, 5) WHERE k % 5 = 0");
    exec(db, "DELETE FROM t WHERE k % 7 = 0");
    sqlite3_int64 n = query(db, "SELECT count(*) FROM t");
    sqlite3_int64 len = query(db, "SELECT sum(length(v)) FROM t");
    sqlite3_int64 groups = query(db, "SELECT count(*) FROM (SELECT k % 1000 AS g, group_concat(v) FROM t GROUP BY g)");
    sqlite3_int64 order = query(db, "SELECT sum(rowid_ * pos) % 1000000007 FROM "
                                    "(SELECT id AS rowid_, row_number() OVER (ORDER BY v DESC, id) AS pos FROM t)");
    sqlite3_int64 high = sqlite3_memory_highwater(0);
    /* The same numbers worked out in C: the check does not trust SQLite under either allocator. */
    long want_n = 0, want_len = 0, want_groups = 0;
    static bool seen[1000];
    for (long i = 1; i <= rows; i++) {
        long k = (i * 7919) % 100003;
        if (k % 7 == 0) continue;
        char hex[32];
        long l = snprintf(hex, sizeof hex, "%lx-", k) + (k % 97 < (long)strlen(text) ? k % 97 : (long)strlen(text));
        if (k % 3 == 0) l *= 2;
        if (k % 5 == 0 && l > 5) l = 5;
        want_n++;
        want_len += l;
        if (!seen[k % 1000]) { seen[k % 1000] = true; want_groups++; }
    }
    if (n != want_n || len != want_len || groups != want_groups) {
        fprintf(stderr, "wrong result: %lld rows (want %ld), %lld bytes (want %ld), %lld groups (want %ld)\n",
                (long long)n, want_n, (long long)len, want_len, (long long)groups, want_groups);
        return 1;
    }
    sqlite3_close(db);
    printf("%lld rows, %lld bytes of text, %lld groups, order hash %lld\n", (long long)n, (long long)len,
           (long long)groups, (long long)order);
    fprintf(stderr, "sqlite3_memory_highwater: %lld bytes; in use after close: %lld\n", (long long)high,
            (long long)sqlite3_memory_used());
    sqlite3_shutdown();
    return 0;
}
