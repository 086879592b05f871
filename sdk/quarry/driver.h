/*
 * Quarry driver SDK, ABI v1.
 *
 * This header is the whole contract between the Quarry host (quarryd) and a
 * database driver plugin. A driver is a shared object `NAME.so` that exports
 * exactly one symbol, `quarry_driver_entry` (see QUARRY_DRIVER_ENTRY below),
 * and links nothing of the host: everything it needs from the host comes
 * through the `struct quarry_host` services table handed to that function.
 *
 * Versioning
 * ----------
 * Every struct that crosses the boundary begins with two uint32_t fields,
 * `abi_version` (major << 16 | minor) and `struct_size` (sizeof the struct as
 * the writer compiled it). Rules:
 *   - A major version change breaks compatibility; the host refuses a driver
 *     whose major differs from its own.
 *   - A minor version only appends fields at the end of structs. A reader
 *     never looks past `struct_size`: the host copies a driver's struct into a
 *     zeroed one of its own size, so fields a smaller (older) driver lacks
 *     read as zero / NULL.
 *   - A NULL function pointer means "not supported".
 *   - Enumerations only gain values; a reader treats an unknown value as the
 *     most conservative choice (an unknown value type as text, for example).
 *
 * Threading
 * ---------
 *   - `global_init` runs once per process, on the main thread, before any
 *     worker thread starts; `global_cleanup` runs once at exit, after every
 *     worker stopped.
 *   - `thread_start` / `thread_stop` run on each worker thread that will call
 *     the driver, before its first and after its last call.
 *   - A connection handle is used by one thread at a time (the host pools
 *     them). `cancel` is the exception: it is called from another thread
 *     while `execute`, `sample`, `scan` or `introspect` runs on the handle.
 *
 * Memory and ownership
 * --------------------
 *   - Strings and arrays passed to a driver are borrowed for the duration of
 *     the call unless stated otherwise.
 *   - Everything a driver passes to a sink (rows, columns, catalog entries) is
 *     borrowed by the host for the duration of that sink call only; the host
 *     copies what it keeps. A driver never allocates a whole result set.
 *   - A `struct quarry_conn` is allocated by `open` and freed by `close`.
 *   - Static data (names, schemes) in `struct quarry_driver` must live as
 *     long as the process: the host never unloads a driver.
 *
 * Errors
 * ------
 * Every fallible call returns a `enum quarry_status` and fills the
 * caller-owned, fixed-size `struct quarry_error`. The first error set wins:
 * `quarry_host.error_set` does nothing if the error already holds one.
 */
#ifndef QUARRY_DRIVER_H
#define QUARRY_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QUARRY_ABI_MAJOR 1
#define QUARRY_ABI_MINOR 1
#define QUARRY_ABI_MAKE(major, minor) ((uint32_t)(((uint32_t)(major) << 16) | (uint32_t)(minor)))
#define QUARRY_ABI_VERSION QUARRY_ABI_MAKE(QUARRY_ABI_MAJOR, QUARRY_ABI_MINOR)
#define QUARRY_ABI_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define QUARRY_ABI_MINOR_OF(v) ((uint32_t)(v)&0xffffu)

/* Sets the two leading fields of any boundary struct: QUARRY_STRUCT_INIT(&s). */
#define QUARRY_STRUCT_INIT(s)                                                                      \
    do {                                                                                           \
        (s)->abi_version = QUARRY_ABI_VERSION;                                                     \
        (s)->struct_size = (uint32_t)sizeof(*(s));                                                 \
    } while (0)

/* The symbol a driver exports, and its type. */
#define QUARRY_DRIVER_ENTRY_SYMBOL "quarry_driver_entry"

/* ------------------------------------------------------------------------ */
/* Status and errors                                                        */
/* ------------------------------------------------------------------------ */

enum quarry_status {
    QUARRY_OK = 0,
    QUARRY_ERR_INVALID = 1,     /* bad argument or URL: the caller's fault */
    QUARRY_ERR_CONNECT = 2,     /* server unreachable, refused, DNS failure */
    QUARRY_ERR_AUTH = 3,        /* credentials rejected */
    QUARRY_ERR_QUERY = 4,       /* the database rejected the statement */
    QUARRY_ERR_READONLY = 5,    /* the statement would write; refused */
    QUARRY_ERR_TIMEOUT = 6,     /* the call's deadline passed */
    QUARRY_ERR_CANCELLED = 7,   /* cancelled by the host */
    QUARRY_ERR_UNSUPPORTED = 8, /* the driver cannot do this */
    QUARRY_ERR_NOMEM = 9,
    QUARRY_ERR_INTERNAL = 10, /* a bug in the driver or client library */
    QUARRY_ERR_NOT_FOUND = 11 /* no such table, collection, file */
};

#define QUARRY_ERROR_MESSAGE_MAX 512

/*
 * Caller-owned, fixed size. `status` is QUARRY_OK while no error is set.
 * `sqlstate` is the five-character SQLSTATE (NUL-terminated) when the database
 * gave one, else empty. `native_code` is the client library's own code.
 * `reserved` is room for later minor versions; leave it zero.
 */
struct quarry_error {
    uint32_t abi_version;
    uint32_t struct_size;
    int32_t status;
    int32_t native_code;
    char sqlstate[8];
    char message[QUARRY_ERROR_MESSAGE_MAX];
    unsigned char reserved[64];
};

/* ------------------------------------------------------------------------ */
/* Values and rows                                                          */
/* ------------------------------------------------------------------------ */

enum quarry_value_type {
    QUARRY_VALUE_NULL = 0,
    QUARRY_VALUE_INT = 1,       /* `i` */
    QUARRY_VALUE_DOUBLE = 2,    /* `d` */
    QUARRY_VALUE_BOOL = 3,      /* `i` is 0 or 1 */
    QUARRY_VALUE_TEXT = 4,      /* UTF-8 `str`, `len` bytes */
    QUARRY_VALUE_BLOB = 5,      /* raw bytes `str`, `len`; the host base64-encodes */
    QUARRY_VALUE_DECIMAL = 6,   /* exact decimal as text, e.g. "12.50" */
    QUARRY_VALUE_TIMESTAMP = 7, /* RFC 3339 text */
    QUARRY_VALUE_DATE = 8,      /* YYYY-MM-DD text */
    QUARRY_VALUE_JSON = 9       /* a JSON document as text */
};

struct quarry_value {
    int32_t type; /* enum quarry_value_type */
    int32_t reserved0;
    int64_t i;
    double d;
    const char *str; /* borrowed; need not be NUL-terminated */
    size_t len;
};

struct quarry_column {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *name;      /* result column name */
    int32_t type;          /* the enum quarry_value_type the values will mostly carry */
    const char *decl_type; /* the database's own type name, or NULL */
};

/* What a sink callback answers. */
enum quarry_sink_answer {
    QUARRY_SINK_CONTINUE = 0,
    QUARRY_SINK_STOP = 1 /* enough rows, or the client is gone: stop without error */
};

/*
 * Receives a result set. `begin` once, then `row` per row, then `end` once
 * (also after a STOP answer; not after an error). `values[i]` matches
 * `columns[i]`. All pointers are borrowed for the duration of the callback.
 * `columns` is an array of versioned structs: element i starts
 * `i * columns[0].struct_size` bytes after the first (a newer driver's
 * elements may be larger than the host's struct), so a host steps by that
 * size and copies what it knows. `struct quarry_value` is not versioned: its
 * layout is fixed for ABI major 1.
 */
struct quarry_row_sink {
    uint32_t abi_version;
    uint32_t struct_size;
    void *userdata;
    int (*begin)(void *userdata, const struct quarry_column *columns, size_t ncolumns);
    int (*row)(void *userdata, const struct quarry_value *values, size_t nvalues);
    void (*end)(void *userdata);
};

/* ------------------------------------------------------------------------ */
/* Catalog                                                                  */
/* ------------------------------------------------------------------------ */

enum quarry_table_kind {
    QUARRY_TABLE = 0,
    QUARRY_VIEW = 1,
    QUARRY_MATERIALIZED_VIEW = 2,
    QUARRY_COLLECTION = 3 /* document stores */
};

struct quarry_table_info {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *schema; /* NULL or "" where the database has no schemas */
    const char *name;
    int32_t kind;         /* enum quarry_table_kind */
    int64_t row_estimate; /* -1 when unknown */
    const char *comment;  /* or NULL */
};

struct quarry_column_info {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *schema;
    const char *table;
    const char *name;          /* dotted path for nested document fields */
    const char *type;          /* declared type as the database spells it, or NULL */
    int32_t ordinal;           /* 1-based position */
    int32_t nullable;          /* 1 nullable, 0 NOT NULL, -1 unknown */
    const char *default_value; /* as SQL text, or NULL */
    int32_t pk_position;       /* 1-based position in the primary key, 0 when not part of it */
    int32_t is_array;          /* document stores: the field holds arrays */
    const char *comment;
};

struct quarry_foreign_key_info {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *schema;
    const char *table;
    const char *name; /* constraint name, or NULL */
    size_t ncolumns;
    const char *const *columns;
    const char *ref_schema;
    const char *ref_table;
    const char *const *ref_columns; /* ncolumns entries */
};

struct quarry_index_info {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *schema;
    const char *table;
    const char *name;
    int32_t unique;
    int32_t primary;
    size_t ncolumns;
    const char *const *columns; /* an entry may be NULL for an expression */
};

/*
 * Receives the catalog. A driver reports a table before its columns, keys and
 * indexes. Any callback may be NULL (the host does not want that kind); each
 * returns enum quarry_sink_answer.
 */
struct quarry_catalog_sink {
    uint32_t abi_version;
    uint32_t struct_size;
    void *userdata;
    int (*table)(void *userdata, const struct quarry_table_info *table);
    int (*column)(void *userdata, const struct quarry_column_info *column);
    int (*foreign_key)(void *userdata, const struct quarry_foreign_key_info *fk);
    int (*index)(void *userdata, const struct quarry_index_info *index);
};

/* ------------------------------------------------------------------------ */
/* Calls                                                                    */
/* ------------------------------------------------------------------------ */

/* A string pair, used for `connection_params` flattened to text. */
struct quarry_kv {
    const char *key;
    const char *value;
};

struct quarry_open_params {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *url; /* clear text, credentials included; never log it */
    const struct quarry_kv *params;
    size_t nparams;
    int32_t connect_timeout_ms; /* 0: the driver's default */
};

/*
 * Per-call context, owned by the host. Check it with
 * `host->ctx_expired(ctx)` in long loops; `deadline_ms` lets a driver set a
 * server-side statement timeout too.
 */
struct quarry_ctx {
    uint32_t abi_version;
    uint32_t struct_size;
    int64_t deadline_ms; /* CLOCK_MONOTONIC milliseconds; 0 = none */
    uint64_t row_limit;  /* execute/sample: stop after this many rows; 0 = none */
    void *host_private;  /* the host's; do not touch */
};

struct quarry_introspect_opts {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *const *schemas; /* only these; NULL/0 = every non-system schema */
    size_t nschemas;
    uint32_t sample_documents; /* document stores: sample size for field inference */
};

struct quarry_server_info {
    uint32_t abi_version;
    uint32_t struct_size;
    char version[128]; /* server product and version, e.g. "PostgreSQL 15.4" */
    unsigned char reserved[64];
};

/* ------------------------------------------------------------------------ */
/* Host services                                                            */
/* ------------------------------------------------------------------------ */

enum quarry_log_level {
    QUARRY_LOG_ERROR = 0,
    QUARRY_LOG_WARN = 1,
    QUARRY_LOG_INFO = 2,
    QUARRY_LOG_DEBUG = 3
};

struct quarry_host {
    uint32_t abi_version;
    uint32_t struct_size;
    /* Log one line. Never pass credentials. */
    void (*log)(int level, const char *driver, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* Memory the host may account; free with `free` of this table. */
    void *(*alloc)(size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
    /* Fills `err` unless it already holds an error; returns `status`. */
    int (*error_set)(struct quarry_error *err, int status, const char *sqlstate, int native_code,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
    /* Nonzero once the call's deadline passed or the host cancelled it. */
    int (*ctx_expired)(const struct quarry_ctx *ctx);
    /* Milliseconds left before the deadline (INT32_MAX when none, 0 when past). */
    int32_t (*ctx_remaining_ms)(const struct quarry_ctx *ctx);
};

/* ------------------------------------------------------------------------ */
/* The driver                                                               */
/* ------------------------------------------------------------------------ */

/* Capability flags. */
#define QUARRY_CAP_SQL (1u << 0)               /* statements are SQL */
#define QUARRY_CAP_DOCUMENT (1u << 1)          /* a document store; execute takes JSON commands */
#define QUARRY_CAP_READONLY_TX (1u << 2)       /* execute enforces read-only in the session */
#define QUARRY_CAP_CANCEL (1u << 3)            /* cancel works */
#define QUARRY_CAP_SAMPLE (1u << 4)            /* sample works without a full scan */
#define QUARRY_CAP_SCHEMAS (1u << 5)           /* the database has schemas */
#define QUARRY_CAP_STATEMENT_TIMEOUT (1u << 6) /* the server enforces the deadline itself */

enum quarry_limit_style {
    QUARRY_LIMIT_NONE = 0,  /* no SQL limit clause (document stores) */
    QUARRY_LIMIT_LIMIT = 1, /* ... LIMIT n */
    QUARRY_LIMIT_TOP = 2,   /* SELECT TOP n ... */
    QUARRY_LIMIT_FETCH = 3  /* ... FETCH FIRST n ROWS ONLY */
};

struct quarry_conn; /* a driver's connection; opaque to the host */

struct quarry_driver {
    uint32_t abi_version;
    uint32_t struct_size;

    /* Identity. `name` must equal the file's name without ".so". */
    const char *name;
    const char *version;
    const char *description;
    const char *const *url_schemes; /* NULL-terminated, e.g. {"postgres", "postgresql", NULL} */
    uint32_t capabilities;          /* QUARRY_CAP_* */

    /* Dialect facts for the query generator. */
    const char *dialect;   /* "postgresql", "mysql", "sqlite", "mongodb" ... */
    char identifier_quote; /* '"' or '`'; 0 for document stores */
    int32_t limit_style;   /* enum quarry_limit_style */

    /* Process and thread lifecycle; any may be NULL. */
    int (*global_init)(struct quarry_error *err);
    void (*global_cleanup)(void);
    int (*thread_start)(struct quarry_error *err);
    void (*thread_stop)(void);

    /* Connections. `open` allocates `*out`, `close` frees it (NULL is fine). */
    int (*open)(const struct quarry_open_params *params, struct quarry_conn **out,
                struct quarry_error *err);
    void (*close)(struct quarry_conn *conn);
    int (*ping)(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                struct quarry_server_info *info, struct quarry_error *err);

    /* Work. */
    int (*introspect)(struct quarry_conn *conn, const struct quarry_ctx *ctx,
                      const struct quarry_introspect_opts *opts,
                      const struct quarry_catalog_sink *sink, struct quarry_error *err);
    /* Runs one read-only statement; refuses anything that could write. */
    int (*execute)(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *statement,
                   const struct quarry_row_sink *sink, struct quarry_error *err);
    /* Up to `n` rows of a table, without a full scan where possible. */
    int (*sample)(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                  const char *table, uint32_t n, const struct quarry_row_sink *sink,
                  struct quarry_error *err);
    /* Called from another thread; best effort. */
    int (*cancel)(struct quarry_conn *conn);

    /* ABI 1.1 */

    /*
     * Every row of one table, view or collection, as execute would stream
     * `SELECT * FROM` it (the same columns, value types and values, in no
     * particular order), by the fastest bulk path the database has
     * (PostgreSQL's COPY, say). For whole-table reads such as exports; NULL:
     * the host runs that SELECT (or a find) through execute. `schema` NULL or
     * "": the table is found the way a query would find it. No such table:
     * QUARRY_ERR_NOT_FOUND. Honours the ctx (deadline, cancel, row_limit)
     * and a sink's STOP as execute does.
     */
    int (*scan)(struct quarry_conn *conn, const struct quarry_ctx *ctx, const char *schema,
                const char *table, const struct quarry_row_sink *sink, struct quarry_error *err);
};

/*
 * The one function a driver exports. `host` stays valid for the life of the
 * process (keep the pointer). Return the driver's static description, or NULL
 * after filling `err`. Called once, on the main thread.
 */
typedef const struct quarry_driver *(*quarry_driver_entry_fn)(const struct quarry_host *host,
                                                              struct quarry_error *err);

#if defined(__GNUC__)
#define QUARRY_EXPORT __attribute__((visibility("default")))
#else
#define QUARRY_EXPORT
#endif

QUARRY_EXPORT const struct quarry_driver *quarry_driver_entry(const struct quarry_host *host,
                                                              struct quarry_error *err);

/* Define the entry in a driver: QUARRY_DRIVER_ENTRY { ... return &driver; } */
#define QUARRY_DRIVER_ENTRY                                                                        \
    QUARRY_EXPORT const struct quarry_driver *quarry_driver_entry(const struct quarry_host *host,  \
                                                                  struct quarry_error *err)

#ifdef __cplusplus
}
#endif

#endif /* QUARRY_DRIVER_H */
