/*
 * Private declarations shared by the files of the MySQL/MariaDB driver.
 *
 *   my_driver.c   entry point, driver table, lifecycle, open/close/ping/cancel
 *   my_url.c      connection URLs and parameters -> struct my_params
 *   my_conn.c     connecting (options, TLS), reconnecting, session settings, errors
 *   my_exec.c     execute and sample: read-only transaction, streaming, early stop
 *   my_values.c   result columns and values: MySQL types -> quarry values
 *   my_catalog.c  introspect from information_schema
 *   my_sql.c      a growing SQL text buffer with literal and identifier quoting
 */
#ifndef QUARRY_MY_INTERNAL_H
#define QUARRY_MY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <mysql.h>

#include "quarry/driver.h"

#define MY_DRIVER_NAME "mysql"

/* Bounds on what comes from a client. */
#define MY_URL_MAX 4096
#define MY_STATEMENT_MAX (1024 * 1024)
#define MY_IDENTIFIER_MAX 64 /* MySQL's own limit for database and table names */
#define MY_SCHEMAS_MAX 1024

/* ------------------------------------------------------------------------ */
/* Host services (my_driver.c)                                              */
/* ------------------------------------------------------------------------ */

/* The host's services table, copied zero-padded at entry; never NULL inside. */
extern struct quarry_host my_host;

void *my_alloc(size_t size);
void *my_calloc(size_t n, size_t size);
void my_free(void *ptr);
char *my_strdup(const char *s);
char *my_strndup(const char *s, size_t len);
void my_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets `err` (first error wins) and returns `status`. */
int my_fail(struct quarry_error *err, int status, const char *sqlstate, int native_code,
            const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ------------------------------------------------------------------------ */
/* Connection parameters (my_url.c)                                         */
/* ------------------------------------------------------------------------ */

enum my_ssl_mode {
    MY_SSL_UNSET = 0, /* decided from the other TLS options; PREFERRED without any */
    MY_SSL_DISABLED,
    MY_SSL_PREFERRED,
    MY_SSL_REQUIRED,
    MY_SSL_VERIFY_CA,
    MY_SSL_VERIFY_IDENTITY
};

/* Everything needed to (re)connect; owned strings, freed by my_params_free. */
struct my_params {
    char *host; /* NULL: localhost */
    unsigned port;
    char *user;
    char *password; /* never logged; wiped on free */
    char *database; /* NULL: none */
    char *unix_socket;
    char *ssl_ca, *ssl_capath, *ssl_cert, *ssl_key, *ssl_cipher, *ssl_crl, *tls_version;
    char *tls_peer_fp; /* the server certificate's SHA fingerprint, hex */
    int ssl_mode;      /* enum my_ssl_mode */
    unsigned connect_timeout_s, read_timeout_s, write_timeout_s;
};

/* Parses a URL into `out` (zeroed first). On failure `out` is freed. */
int my_url_parse(const char *url, struct my_params *out, struct quarry_error *err);
/* Applies one option (URL query or connection parameter) by name. */
int my_params_set(struct my_params *p, const char *key, const char *value,
                  struct quarry_error *err);
/* The TLS mode in force once every option was applied. */
int my_params_ssl_mode(const struct my_params *p);
void my_params_free(struct my_params *p);

/* ------------------------------------------------------------------------ */
/* Connections (my_conn.c)                                                  */
/* ------------------------------------------------------------------------ */

struct quarry_conn {
    struct my_params params;
    MYSQL *mysql; /* NULL while the link is down: the next call reconnects */
    int is_mariadb;
    char server_info[96]; /* mysql_get_server_info() at connect */
    /* What cancel() reads from another thread. */
    atomic_ulong thread_id; /* server connection id; 0 while down */
    atomic_int cancel_requested;
    pthread_mutex_t lock; /* held while `mysql` is replaced or closed, and by cancel */
    int fd;               /* the link's socket, or -1; under `lock` */
};

/* Opens a fresh client handle to the server (no session setup). */
MYSQL *my_connect_raw(const struct my_params *p, unsigned timeout_s, int with_database,
                      struct quarry_error *err);
/* Connects `conn` if it is down; `ctx` (may be NULL) bounds the connect time. */
int my_conn_ready(struct quarry_conn *conn, const struct quarry_ctx *ctx, struct quarry_error *err);
/* Closes the link; the next call reconnects. */
void my_conn_drop(struct quarry_conn *conn);
/* Sets the session for the next statement: read-only, time zone, time limit from `ctx`. */
int my_conn_prepare(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                    struct quarry_error *err);
/*
 * Readies `conn` for one call: connects if needed, sets the session
 * (my_conn_prepare) and, with `readonly_tx`, opens START TRANSACTION READ ONLY.
 * A link found dead on first use is replaced once.
 */
int my_conn_start(struct quarry_conn *conn, const struct quarry_ctx *ctx, int readonly_tx,
                  struct quarry_error *err);
/* Runs a statement that returns no rows. */
int my_conn_command(struct quarry_conn *conn, const char *sql, struct quarry_error *err);

/* Contexts in which a server error is classified. */
enum my_context { MY_CTX_CONNECT, MY_CTX_QUERY, MY_CTX_SAMPLE };
/*
 * Turns the handle's current error into a quarry status, fills `err`, and drops
 * the link when it is lost. Deadline and cancellation take precedence.
 */
int my_conn_error(struct quarry_conn *conn, const struct quarry_ctx *ctx, int context,
                  struct quarry_error *err);
/* The status a stopped call returns: TIMEOUT when the deadline passed, else CANCELLED. */
int my_ctx_stopped(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                   struct quarry_error *err);

/* Classifies a client/server error number outside a connection (open, cancel). */
int my_status_of(unsigned errnum, int context);

/* ------------------------------------------------------------------------ */
/* Results (my_values.c)                                                    */
/* ------------------------------------------------------------------------ */

/* The columns of one result and the reusable value array for its rows. */
struct my_shape {
    size_t ncolumns;
    struct quarry_column *columns;
    unsigned char *kinds;
    struct quarry_value *values;
    char *scratch; /* MY_SCRATCH bytes per column, for rewritten text */
};

int my_shape_init(struct my_shape *shape, MYSQL_RES *res, struct quarry_error *err);
/* Fills shape->values from one row; pointers borrow from `row` and the scratch. */
void my_shape_fill(struct my_shape *shape, MYSQL_ROW row, const unsigned long *lengths);
void my_shape_free(struct my_shape *shape);

/* ------------------------------------------------------------------------ */
/* Work (my_exec.c, my_catalog.c)                                           */
/* ------------------------------------------------------------------------ */

int my_exec_execute(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *statement,
                    const struct quarry_row_sink *sink, struct quarry_error *err);
int my_exec_sample(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                   const char *table, uint32_t n, const struct quarry_row_sink *sink,
                   struct quarry_error *err);
/*
 * Lets go of a result whose rows were not all read, leaving the connection
 * usable: reads what is left if it is small, else closes the link.
 */
void my_result_abandon(struct quarry_conn *conn, MYSQL_RES *res);

int my_catalog_introspect(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                          const struct quarry_introspect_opts *opts,
                          const struct quarry_catalog_sink *sink, struct quarry_error *err);

/* ------------------------------------------------------------------------ */
/* SQL text (my_sql.c)                                                      */
/* ------------------------------------------------------------------------ */

struct my_sql {
    char *text;
    size_t len, cap;
    int failed; /* an allocation failed; the text is incomplete */
};

void my_sql_add(struct my_sql *b, const char *s);
void my_sql_addf(struct my_sql *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A string literal, escaped for the connection's character set. */
void my_sql_literal(struct my_sql *b, MYSQL *mysql, const char *s);
/* A backquoted identifier. */
void my_sql_ident(struct my_sql *b, const char *s);
void my_sql_free(struct my_sql *b);

#endif
