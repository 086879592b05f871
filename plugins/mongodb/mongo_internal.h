/*
 * Private to the mongodb driver: the connection struct and the helpers its
 * source files share. Nothing here crosses the plugin boundary (the build
 * hides every symbol but quarry_driver_entry).
 */
#ifndef QUARRY_MONGO_INTERNAL_H
#define QUARRY_MONGO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <mongoc/mongoc.h>

#include "quarry/driver.h"

/* Bounds on what a database or a client hands us. */
#define MONGO_MAX_STATEMENT (1024 * 1024) /* bytes of JSON command text */
#define MONGO_MAX_NAME 255                /* database and collection names */
#define MONGO_MAX_COLLECTIONS 10000       /* per introspection */
#define MONGO_MAX_FIELDS 500              /* inferred fields per collection */
#define MONGO_MAX_DEPTH 6                 /* levels of nesting that inference follows */
#define MONGO_MAX_PATH 512                /* bytes of a dotted field path */
#define MONGO_MAX_INDEX_KEYS 64           /* fields of one index */
#define MONGO_DEFAULT_SAMPLE 100          /* documents sampled for inference */
#define MONGO_MAX_SAMPLE 10000            /* ceiling for inference and sample() */
#define MONGO_WINDOW_DOCS 100             /* look-ahead that decides result columns */
#define MONGO_WINDOW_BYTES (4 * 1024 * 1024)
#define MONGO_MAX_COLUMNS 256 /* result columns before the rest goes to _extra */

struct quarry_conn {
    mongoc_client_t *client;
    char *dbname; /* the database every call works in */
};

/* The host's services table, kept from quarry_driver_entry. */
extern const struct quarry_host *mongo_host;

/* mongo_driver.c --------------------------------------------------------- */

/* Fills `err` from a mongoc error, prefixed with `what`; returns the status. */
int mongo_fail(struct quarry_error *err, const bson_error_t *error, const char *what);
/* QUARRY_OK, or TIMEOUT / CANCELLED (filled into `err`) once `ctx` expired. */
int mongo_ctx_check(const struct quarry_ctx *ctx, struct quarry_error *err);
/* Milliseconds left for maxTimeMS; 0 when the call has no deadline. */
int64_t mongo_max_time_ms(const struct quarry_ctx *ctx);

/* mongo_values.c --------------------------------------------------------- */

/* MongoDB's alias of a BSON type ("string", "int", "objectId" ...). */
const char *mongo_type_name(bson_type_t type);
/* One bit per BSON type, for sets of types seen. */
uint32_t mongo_type_bit(bson_type_t type);
#define MONGO_TYPE_NULL_BITS (mongo_type_bit(BSON_TYPE_NULL) | mongo_type_bit(BSON_TYPE_UNDEFINED))
/* "string", "string|null", "int|long" ... into `buf`; "" for an empty set. */
void mongo_type_set_format(uint32_t set, char *buf, size_t size);
/* The quarry_value_type values of a BSON type will carry. */
int mongo_value_type(bson_type_t type);

/* Storage behind one converted value; release after the sink call. */
struct mongo_value_buf {
    char text[64];
    char *owned; /* bson_free()d by mongo_value_buf_release */
};

/* Converts the value at `it`; `out` borrows from the document and `buf`. */
void mongo_value_from_iter(const bson_iter_t *it, struct quarry_value *out,
                           struct mongo_value_buf *buf);
/* Relaxed Extended JSON of a whole document as a JSON value. */
void mongo_value_from_doc(const bson_t *doc, struct quarry_value *out, struct mongo_value_buf *buf);
void mongo_value_buf_release(struct mongo_value_buf *buf);

/* mongo_rows.c ----------------------------------------------------------- */

/*
 * Streams `cursor` into `sink` (see mongo_rows.c for the row shape), at most
 * `max_rows` rows (0: no cap). The cursor stays the caller's.
 */
int mongo_rows_stream(mongoc_cursor_t *cursor, const struct quarry_ctx *ctx, uint64_t max_rows,
                      const struct quarry_row_sink *sink, struct quarry_error *err);

/* mongo_catalog.c -------------------------------------------------------- */

int mongo_introspect(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                     const struct quarry_introspect_opts *opts,
                     const struct quarry_catalog_sink *sink, struct quarry_error *err);
/* 1 if the database has a collection or view `name`, 0 if not, -1 on error (err set). */
int mongo_collection_exists(struct quarry_conn *conn, const char *name, struct quarry_error *err);

/* mongo_exec.c ----------------------------------------------------------- */

int mongo_execute(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *statement,
                  const struct quarry_row_sink *sink, struct quarry_error *err);
int mongo_sample(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                 const char *table, uint32_t n, const struct quarry_row_sink *sink,
                 struct quarry_error *err);

#endif
