/*
 * Helpers the driver suites share: a row sink that records what a driver
 * streams, a runner that executes one statement through a driver's vtable,
 * and a few small utilities. Test code only; linked into quarry_tests.
 */
#ifndef QUARRY_DRIVER_TESTLIB_H
#define QUARRY_DRIVER_TESTLIB_H

#include <stddef.h>
#include <stdint.h>

#include "quarry/driver.h"

/* Columns recorded per result; values past it are counted but not kept. */
#define REC_COLS 32
/* Rows kept per result; later rows are counted in `nrows` but not kept. */
#define REC_ROWS 1024

/* One recorded value; `str` is a NUL-terminated copy of the driver's str/len. */
struct rec_value {
    int type;
    int64_t i;
    double d;
    char *str;
    size_t len;
};

/*
 * What a row sink received. Zero-initialise one (or use rec_new); release
 * what it holds with rec_clear (or rec_free for rec_new's).
 */
struct row_rec {
    size_t stop_after; /* answer STOP after this many rows; 0 never */
    int check_width;   /* nonzero: assert each row carries `ncols` values */
    int begun, ended;
    size_t ncols, nrows; /* as the driver reported them, even past the caps */
    char *names[REC_COLS], *decls[REC_COLS];
    int types[REC_COLS];
    size_t cap;                         /* rows allocated in `rows` */
    struct rec_value (*rows)[REC_COLS]; /* min(nrows, REC_ROWS) rows */
};

/* A sink recording into `r`, which the caller owns. */
void rec_sink_init(struct quarry_row_sink *sink, struct row_rec *r);
/* A zeroed recorder on the heap and its sink; free with rec_free. NULL when out of memory. */
struct row_rec *rec_new(struct quarry_row_sink *sink);
/* Frees what `r` holds and zeroes it, ready for reuse. */
void rec_clear(struct row_rec *r);
/* rec_clear, then frees `r` itself; NULL is fine. */
void rec_free(struct row_rec *r);

/*
 * Executes `sql` on `conn` with a fresh call (timeout_ms 0 = none, row_limit
 * 0 = none) into `r`, which the caller owns. Returns the driver's status; with
 * QUARRY_TEST_VERBOSE set, a failure is printed.
 */
int dt_execute(const struct quarry_driver *drv, struct quarry_conn *conn, const char *sql,
               int32_t timeout_ms, uint64_t row_limit, struct row_rec *r, struct quarry_error *err);
/* dt_execute into a fresh recorder, `*out`, which the caller frees with rec_free. */
int dt_run(const struct quarry_driver *drv, struct quarry_conn *conn, const char *sql,
           int32_t timeout_ms, uint64_t row_limit, struct row_rec **out, struct quarry_error *err);

/* A copy of `s`, or NULL for NULL. */
char *dup_or_null(const char *s);
/* Both non-NULL and equal. */
int str_eq(const char *a, const char *b);
/* "a,b"; an expression (NULL) entry reads "<expr>". Caller frees. */
char *join(const char *const *items, size_t n);
/* A loopback TCP port nothing listens on (bound once, then released); 0 on failure. */
int closed_port(void);

#endif
