/* Shared helpers of the driver suites; see driver_testlib.h. */
#include "driver_testlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "host.h"

/* Rows a recorder starts with, so a test reading rows[0] of an empty result reads zeros. */
#define REC_ROWS_FIRST 64

static int rec_begin(void *ud, const struct quarry_column *cols, size_t n)
{
    struct row_rec *r = ud;
    r->begun++;
    r->ncols = n;
    for (size_t i = 0; i < n && i < REC_COLS; i++) {
        /* The driver's struct may be larger or smaller than ours: step by its size. */
        const void *at = (const char *)cols + i * cols[0].struct_size;
        struct quarry_column col;
        host_copy_struct(&col, sizeof(col), at);
        r->names[i] = dup_or_null(col.name);
        r->decls[i] = dup_or_null(col.decl_type);
        r->types[i] = col.type;
    }
    return QUARRY_SINK_CONTINUE;
}

/* Grows the kept rows to `cap` (at most REC_ROWS), new ones zeroed; -1 when out of memory. */
static int rec_reserve(struct row_rec *r, size_t cap)
{
    if (cap > REC_ROWS)
        cap = REC_ROWS;
    if (cap <= r->cap)
        return 0;
    struct rec_value(*rows)[REC_COLS] = realloc(r->rows, cap * sizeof(*rows));
    if (!rows)
        return -1;
    memset(rows + r->cap, 0, (cap - r->cap) * sizeof(*rows));
    r->rows = rows;
    r->cap = cap;
    return 0;
}

/* Room for one more kept row; NULL past REC_ROWS or when out of memory. */
static struct rec_value *rec_slot(struct row_rec *r)
{
    if (r->nrows >= REC_ROWS)
        return NULL;
    if (r->nrows == r->cap && rec_reserve(r, r->cap ? r->cap * 2 : REC_ROWS_FIRST) != 0)
        return NULL;
    return r->rows[r->nrows];
}

static int rec_row(void *ud, const struct quarry_value *vals, size_t n)
{
    struct row_rec *r = ud;
    if (r->check_width)
        CU_ASSERT_EQUAL(n, r->ncols);
    struct rec_value *row = rec_slot(r);
    for (size_t i = 0; row && i < n && i < REC_COLS; i++) {
        struct rec_value *v = &row[i];
        v->type = vals[i].type;
        v->i = vals[i].i;
        v->d = vals[i].d;
        v->len = vals[i].len;
        if (vals[i].str && (v->str = malloc(vals[i].len + 1)) != NULL) {
            memcpy(v->str, vals[i].str, vals[i].len);
            v->str[vals[i].len] = '\0';
        }
    }
    r->nrows++;
    return r->stop_after && r->nrows >= r->stop_after ? QUARRY_SINK_STOP : QUARRY_SINK_CONTINUE;
}

static void rec_end(void *ud)
{
    ((struct row_rec *)ud)->ended++;
}

void rec_sink_init(struct quarry_row_sink *sink, struct row_rec *r)
{
    memset(sink, 0, sizeof(*sink));
    QUARRY_STRUCT_INIT(sink);
    sink->userdata = r;
    sink->begin = rec_begin;
    sink->row = rec_row;
    sink->end = rec_end;
}

struct row_rec *rec_new(struct quarry_row_sink *sink)
{
    struct row_rec *r = calloc(1, sizeof(*r));
    if (r && rec_reserve(r, REC_ROWS_FIRST) != 0) {
        free(r);
        r = NULL;
    }
    rec_sink_init(sink, r);
    return r;
}

void rec_clear(struct row_rec *r)
{
    size_t kept = r->nrows < r->cap ? r->nrows : r->cap;
    for (size_t i = 0; i < REC_COLS; i++) {
        free(r->names[i]);
        free(r->decls[i]);
    }
    for (size_t j = 0; j < kept; j++)
        for (size_t i = 0; i < REC_COLS; i++)
            free(r->rows[j][i].str);
    free(r->rows);
    memset(r, 0, sizeof(*r));
}

void rec_free(struct row_rec *r)
{
    if (!r)
        return;
    rec_clear(r);
    free(r);
}

int dt_execute(const struct quarry_driver *drv, struct quarry_conn *conn, const char *sql,
               int32_t timeout_ms, uint64_t row_limit, struct row_rec *r, struct quarry_error *err)
{
    struct host_call call;
    struct quarry_row_sink sink;
    host_call_init(&call, timeout_ms, row_limit);
    host_error_init(err);
    rec_sink_init(&sink, r);
    int status = drv->execute(conn, &call.ctx, sql, &sink, err);
    if (status != QUARRY_OK && getenv("QUARRY_TEST_VERBOSE"))
        fprintf(stderr, "\n  execute(%s): %d %s\n", sql, status, err->message);
    return status;
}

int dt_run(const struct quarry_driver *drv, struct quarry_conn *conn, const char *sql,
           int32_t timeout_ms, uint64_t row_limit, struct row_rec **out, struct quarry_error *err)
{
    struct quarry_row_sink unused;
    *out = rec_new(&unused);
    if (!*out) {
        host_error_init(err);
        return host_services()->error_set(err, QUARRY_ERR_NOMEM, NULL, 0,
                                          "no memory for a recorder");
    }
    return dt_execute(drv, conn, sql, timeout_ms, row_limit, *out, err);
}

char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

char *join(const char *const *items, size_t n)
{
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    if (!mem)
        return NULL;
    for (size_t i = 0; i < n; i++)
        fprintf(mem, "%s%s", i ? "," : "", items[i] ? items[i] : "<expr>");
    fclose(mem);
    return out;
}

int closed_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}
