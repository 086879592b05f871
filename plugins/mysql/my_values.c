/*
 * Result columns and values. Rows arrive in the text protocol, so each value
 * is the server's own text; the column's type decides what it becomes:
 *
 *   TINYINT..BIGINT, YEAR       INT (TINYINT(1) stays INT: it is only a convention)
 *   BIGINT UNSIGNED > INT64_MAX DECIMAL text
 *   BIT(1)                      BOOL; wider BIT: INT (DECIMAL text past INT64_MAX)
 *   FLOAT, DOUBLE               DOUBLE
 *   DECIMAL                     DECIMAL text, exactly as the server wrote it
 *   DATE                        DATE; a zero date ("0000-00-00") stays TEXT
 *   DATETIME, TIMESTAMP         TIMESTAMP, RFC 3339 in UTC ("...T...Z"); TIMESTAMP
 *                               is UTC because the session's time_zone is '+00:00',
 *                               a DATETIME has no zone and is reported as if UTC
 *   JSON                        JSON (MySQL's JSON type; MariaDB's format=json metadata)
 *   binary strings and BLOBs    BLOB (character set 63, "binary")
 *   NULL                        NULL
 *   anything else               TEXT (TIME, ENUM, SET, character strings ...)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "my_internal.h"

#define BINARY_CHARSET 63
#define MY_SCRATCH 32 /* "YYYY-MM-DDTHH:MM:SS.ffffffZ" and 20-digit numbers fit */

enum my_kind {
    KIND_TEXT,
    KIND_NULL,
    KIND_INT,
    KIND_UINT64,
    KIND_DOUBLE,
    KIND_DECIMAL,
    KIND_DATE,
    KIND_TIMESTAMP,
    KIND_BOOL_BIT,
    KIND_BITS,
    KIND_BLOB,
    KIND_JSON
};

static int is_binary(const MYSQL_FIELD *f)
{
    return f->charsetnr == BINARY_CHARSET;
}

/* MariaDB tags JSON columns with format "json" in its extended metadata. */
static int is_mariadb_json(const MYSQL_FIELD *f)
{
    MARIADB_CONST_STRING attr;
    if (mariadb_field_attr(&attr, f, MARIADB_FIELD_ATTR_FORMAT_NAME) != 0 || !attr.str)
        return 0;
    return attr.length == 4 && memcmp(attr.str, "json", 4) == 0;
}

static enum my_kind field_kind(const MYSQL_FIELD *f)
{
    switch (f->type) {
    case MYSQL_TYPE_NULL:
        return KIND_NULL;
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_YEAR:
        return KIND_INT;
    case MYSQL_TYPE_LONGLONG:
        return (f->flags & UNSIGNED_FLAG) ? KIND_UINT64 : KIND_INT;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
        return KIND_DOUBLE;
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
        return KIND_DECIMAL;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
        return KIND_DATE;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_DATETIME2:
    case MYSQL_TYPE_TIMESTAMP2:
        return KIND_TIMESTAMP;
    case MYSQL_TYPE_BIT:
        return f->length == 1 ? KIND_BOOL_BIT : KIND_BITS;
    case MYSQL_TYPE_JSON:
        return KIND_JSON;
    case MYSQL_TYPE_GEOMETRY:
        return KIND_BLOB;
    case MYSQL_TYPE_ENUM:
    case MYSQL_TYPE_SET:
        return KIND_TEXT;
    default:
        if (is_mariadb_json(f))
            return KIND_JSON;
        if ((f->flags & (ENUM_FLAG | SET_FLAG)) == 0 && is_binary(f))
            return KIND_BLOB;
        return KIND_TEXT;
    }
}

static int kind_value_type(enum my_kind k)
{
    switch (k) {
    case KIND_NULL:
        return QUARRY_VALUE_NULL;
    case KIND_INT:
    case KIND_UINT64:
    case KIND_BITS:
        return QUARRY_VALUE_INT;
    case KIND_DOUBLE:
        return QUARRY_VALUE_DOUBLE;
    case KIND_DECIMAL:
        return QUARRY_VALUE_DECIMAL;
    case KIND_DATE:
        return QUARRY_VALUE_DATE;
    case KIND_TIMESTAMP:
        return QUARRY_VALUE_TIMESTAMP;
    case KIND_BOOL_BIT:
        return QUARRY_VALUE_BOOL;
    case KIND_BLOB:
        return QUARRY_VALUE_BLOB;
    case KIND_JSON:
        return QUARRY_VALUE_JSON;
    default:
        return QUARRY_VALUE_TEXT;
    }
}

/* The declared type as MySQL spells it (static strings). */
static const char *decl_type(const MYSQL_FIELD *f, enum my_kind kind)
{
    int u = (f->flags & UNSIGNED_FLAG) != 0, bin = is_binary(f);
    if (kind == KIND_JSON)
        return "json";
    switch (f->type) {
    case MYSQL_TYPE_TINY:
        return u ? "tinyint unsigned" : "tinyint";
    case MYSQL_TYPE_SHORT:
        return u ? "smallint unsigned" : "smallint";
    case MYSQL_TYPE_INT24:
        return u ? "mediumint unsigned" : "mediumint";
    case MYSQL_TYPE_LONG:
        return u ? "int unsigned" : "int";
    case MYSQL_TYPE_LONGLONG:
        return u ? "bigint unsigned" : "bigint";
    case MYSQL_TYPE_YEAR:
        return "year";
    case MYSQL_TYPE_FLOAT:
        return "float";
    case MYSQL_TYPE_DOUBLE:
        return "double";
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
        return "decimal";
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
        return "date";
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_DATETIME2:
        return "datetime";
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_TIMESTAMP2:
        return "timestamp";
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_TIME2:
        return "time";
    case MYSQL_TYPE_BIT:
        return "bit";
    case MYSQL_TYPE_GEOMETRY:
        return "geometry";
    case MYSQL_TYPE_NULL:
        return "null";
    case MYSQL_TYPE_ENUM:
        return "enum";
    case MYSQL_TYPE_SET:
        return "set";
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
        return bin ? "blob" : "text";
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_VAR_STRING:
        return bin ? "varbinary" : "varchar";
    case MYSQL_TYPE_STRING:
        if (f->flags & ENUM_FLAG)
            return "enum";
        if (f->flags & SET_FLAG)
            return "set";
        return bin ? "binary" : "char";
    default:
        return NULL;
    }
}

int my_shape_init(struct my_shape *shape, MYSQL_RES *res, struct quarry_error *err)
{
    memset(shape, 0, sizeof(*shape));
    size_t n = mysql_num_fields(res);
    MYSQL_FIELD *fields = mysql_fetch_fields(res);
    shape->ncolumns = n;
    if (n == 0)
        return QUARRY_OK;
    shape->columns = my_calloc(n, sizeof(*shape->columns));
    shape->kinds = my_calloc(n, 1);
    shape->values = my_calloc(n, sizeof(*shape->values));
    shape->scratch = my_calloc(n, MY_SCRATCH);
    if (!shape->columns || !shape->kinds || !shape->values || !shape->scratch) {
        my_shape_free(shape);
        return my_fail(err, QUARRY_ERR_NOMEM, NULL, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        enum my_kind kind = field_kind(&fields[i]);
        shape->kinds[i] = (unsigned char)kind;
        QUARRY_STRUCT_INIT(&shape->columns[i]);
        shape->columns[i].name = fields[i].name; /* lives as long as `res` */
        shape->columns[i].type = kind_value_type(kind);
        shape->columns[i].decl_type = decl_type(&fields[i], kind);
    }
    return QUARRY_OK;
}

void my_shape_free(struct my_shape *shape)
{
    my_free(shape->columns);
    my_free(shape->kinds);
    my_free(shape->values);
    my_free(shape->scratch);
    memset(shape, 0, sizeof(*shape));
}

static void set_text(struct quarry_value *v, int type, const char *s, size_t len)
{
    v->type = type;
    v->str = s;
    v->len = len;
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* "YYYY-MM-DD" with a real month and day (MySQL also stores zero dates). */
static int is_date(const char *s, size_t len)
{
    return len >= 10 && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) && s[7] == '-' &&
           all_digits(s + 8, 2) && memcmp(s + 5, "00", 2) != 0 && memcmp(s + 8, "00", 2) != 0;
}

static void fill_timestamp(struct quarry_value *v, const char *s, size_t len, char *scratch)
{
    /* "YYYY-MM-DD HH:MM:SS[.ffffff]" -> "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" */
    if (len < 19 || len + 2 > MY_SCRATCH || !is_date(s, len) || s[10] != ' ') {
        set_text(v, QUARRY_VALUE_TEXT, s, len);
        return;
    }
    memcpy(scratch, s, len);
    scratch[10] = 'T';
    scratch[len] = 'Z';
    set_text(v, QUARRY_VALUE_TIMESTAMP, scratch, len + 1);
}

static void fill_int(struct quarry_value *v, const char *s, size_t len, int is_unsigned)
{
    char *end;
    errno = 0;
    if (is_unsigned) {
        unsigned long long u = strtoull(s, &end, 10);
        if (errno == 0 && end == s + len && u <= INT64_MAX) {
            v->type = QUARRY_VALUE_INT;
            v->i = (int64_t)u;
            return;
        }
        /* Past INT64_MAX the exact digits travel as a decimal. */
        set_text(v, QUARRY_VALUE_DECIMAL, s, len);
        return;
    }
    long long i = strtoll(s, &end, 10);
    if (errno == 0 && end == s + len) {
        v->type = QUARRY_VALUE_INT;
        v->i = i;
        return;
    }
    set_text(v, QUARRY_VALUE_TEXT, s, len);
}

static void fill_bits(struct quarry_value *v, const unsigned char *s, size_t len, int as_bool,
                      char *scratch)
{
    uint64_t u = 0;
    for (size_t i = 0; i < len && i < 8; i++)
        u = (u << 8) | s[i];
    if (as_bool) {
        v->type = QUARRY_VALUE_BOOL;
        v->i = u != 0;
    } else if (u <= INT64_MAX) {
        v->type = QUARRY_VALUE_INT;
        v->i = (int64_t)u;
    } else {
        int n = snprintf(scratch, MY_SCRATCH, "%llu", (unsigned long long)u);
        set_text(v, QUARRY_VALUE_DECIMAL, scratch, (size_t)n);
    }
}

static void fill_double(struct quarry_value *v, const char *s, size_t len)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s + len && errno != EINVAL) {
        v->type = QUARRY_VALUE_DOUBLE;
        v->d = d;
        return;
    }
    set_text(v, QUARRY_VALUE_TEXT, s, len);
}

void my_shape_fill(struct my_shape *shape, MYSQL_ROW row, const unsigned long *lengths)
{
    for (size_t i = 0; i < shape->ncolumns; i++) {
        struct quarry_value *v = &shape->values[i];
        const char *s = row[i];
        size_t len = lengths[i];
        char *scratch = shape->scratch + i * MY_SCRATCH;
        memset(v, 0, sizeof(*v));
        if (!s) {
            v->type = QUARRY_VALUE_NULL;
            continue;
        }
        switch ((enum my_kind)shape->kinds[i]) {
        case KIND_INT:
            fill_int(v, s, len, 0);
            break;
        case KIND_UINT64:
            fill_int(v, s, len, 1);
            break;
        case KIND_DOUBLE:
            fill_double(v, s, len);
            break;
        case KIND_DECIMAL:
            set_text(v, QUARRY_VALUE_DECIMAL, s, len);
            break;
        case KIND_DATE:
            set_text(v, len == 10 && is_date(s, len) ? QUARRY_VALUE_DATE : QUARRY_VALUE_TEXT, s,
                     len);
            break;
        case KIND_TIMESTAMP:
            fill_timestamp(v, s, len, scratch);
            break;
        case KIND_BOOL_BIT:
        case KIND_BITS:
            fill_bits(v, (const unsigned char *)s, len, shape->kinds[i] == KIND_BOOL_BIT, scratch);
            break;
        case KIND_BLOB:
            set_text(v, QUARRY_VALUE_BLOB, s, len);
            break;
        case KIND_JSON:
            set_text(v, QUARRY_VALUE_JSON, s, len);
            break;
        default:
            set_text(v, QUARRY_VALUE_TEXT, s, len);
            break;
        }
    }
}
