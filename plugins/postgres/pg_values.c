/*
 * PostgreSQL values, read in text format, as quarry values.
 *
 * Every call's transaction sets TimeZone 'UTC', DateStyle 'ISO, YMD',
 * extra_float_digits 3 and bytea_output 'hex' (pg_tx_begin_), so the text
 * read here has one known shape whatever the server's defaults are:
 *   - int2/int4/int8/oid -> INT; float4/float8 -> DOUBLE (exact round trip);
 *     numeric -> DECIMAL, the server's text unchanged (never through a double);
 *   - bool -> BOOL; bytea -> BLOB, decoded by PQunescapeBytea;
 *   - timestamptz -> TIMESTAMP "2024-02-29T12:45:01.25Z" (UTC, RFC 3339);
 *   - timestamp (no time zone) -> TIMESTAMP "2024-02-29T12:45:01.25", with
 *     no offset: the database does not say which zone it means, and the
 *     driver does not invent one;
 *   - date -> DATE "2024-02-29"; json/jsonb -> JSON; anything else -> TEXT.
 * A value the target type cannot carry exactly stays TEXT: NaN and infinite
 * floats or numerics, infinite or BC timestamps and dates, years past 9999.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* Built-in type OIDs (pg_type.dat); stable across server versions. */
enum {
    PG_BOOL = 16,
    PG_BYTEA = 17,
    PG_CHAR = 18,
    PG_NAME = 19,
    PG_INT8 = 20,
    PG_INT2 = 21,
    PG_INT4 = 23,
    PG_TEXT = 25,
    PG_OID = 26,
    PG_JSON = 114,
    PG_FLOAT4 = 700,
    PG_FLOAT8 = 701,
    PG_BPCHAR = 1042,
    PG_VARCHAR = 1043,
    PG_DATE = 1082,
    PG_TIME = 1083,
    PG_TIMESTAMP = 1114,
    PG_TIMESTAMPTZ = 1184,
    PG_INTERVAL = 1186,
    PG_TIMETZ = 1266,
    PG_NUMERIC = 1700,
    PG_UUID = 2950,
    PG_JSONB = 3802
};

int pg_value_type_(Oid oid)
{
    switch (oid) {
    case PG_INT2:
    case PG_INT4:
    case PG_INT8:
    case PG_OID:
        return QUARRY_VALUE_INT;
    case PG_FLOAT4:
    case PG_FLOAT8:
        return QUARRY_VALUE_DOUBLE;
    case PG_NUMERIC:
        return QUARRY_VALUE_DECIMAL;
    case PG_BOOL:
        return QUARRY_VALUE_BOOL;
    case PG_BYTEA:
        return QUARRY_VALUE_BLOB;
    case PG_TIMESTAMP:
    case PG_TIMESTAMPTZ:
        return QUARRY_VALUE_TIMESTAMP;
    case PG_DATE:
        return QUARRY_VALUE_DATE;
    case PG_JSON:
    case PG_JSONB:
        return QUARRY_VALUE_JSON;
    default:
        return QUARRY_VALUE_TEXT;
    }
}

const char *pg_type_name_(Oid oid)
{
    switch (oid) {
    case PG_BOOL:
        return "boolean";
    case PG_BYTEA:
        return "bytea";
    case PG_CHAR:
        return "\"char\"";
    case PG_NAME:
        return "name";
    case PG_INT8:
        return "bigint";
    case PG_INT2:
        return "smallint";
    case PG_INT4:
        return "integer";
    case PG_TEXT:
        return "text";
    case PG_OID:
        return "oid";
    case PG_JSON:
        return "json";
    case PG_FLOAT4:
        return "real";
    case PG_FLOAT8:
        return "double precision";
    case PG_BPCHAR:
        return "character";
    case PG_VARCHAR:
        return "character varying";
    case PG_DATE:
        return "date";
    case PG_TIME:
        return "time without time zone";
    case PG_TIMESTAMP:
        return "timestamp without time zone";
    case PG_TIMESTAMPTZ:
        return "timestamp with time zone";
    case PG_INTERVAL:
        return "interval";
    case PG_TIMETZ:
        return "time with time zone";
    case PG_NUMERIC:
        return "numeric";
    case PG_UUID:
        return "uuid";
    case PG_JSONB:
        return "jsonb";
    default:
        return NULL; /* a user type, or one the driver has no name for */
    }
}

static void set_text(struct quarry_value *out, const char *text, size_t len)
{
    out->type = QUARRY_VALUE_TEXT;
    out->str = text;
    out->len = len;
}

static int all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return len > 0;
}

/* "YYYY-MM-DD": four-digit years only (no BC, no year 10000, no infinity). */
static int is_iso_date(const char *s, size_t len)
{
    return len >= 10 && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) && s[7] == '-' &&
           all_digits(s + 8, 2);
}

/*
 * "YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM]]" as RFC 3339 in cell->text;
 * `zoned` expects the offset. Returns 0 when the text has another shape.
 */
static int rfc3339(const char *s, size_t len, int zoned, struct pg_cell *cell, size_t *outlen)
{
    if (len < 19 || len >= sizeof(cell->text) - 8 || !is_iso_date(s, len) || s[10] != ' ' ||
        !all_digits(s + 11, 2) || s[13] != ':' || !all_digits(s + 14, 2) || s[16] != ':' ||
        !all_digits(s + 17, 2))
        return 0;
    size_t i = 19;
    if (i < len && s[i] == '.') {
        size_t digits = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
        if (digits == 0)
            return 0;
    }
    memcpy(cell->text, s, i);
    cell->text[10] = 'T';
    size_t o = i;
    if (!zoned) {
        *outlen = o;
        return i == len;
    }
    /* The offset: +HH, +HH:MM; one with seconds (historic LMT) has no RFC 3339 form. */
    size_t rest = len - i;
    if ((rest != 3 && rest != 6) || (s[i] != '+' && s[i] != '-') || !all_digits(s + i + 1, 2) ||
        (rest == 6 && (s[i + 3] != ':' || !all_digits(s + i + 4, 2))))
        return 0;
    if (strncmp(s + i + 1, "00", 2) == 0 && (rest == 3 || strncmp(s + i + 4, "00", 2) == 0)) {
        cell->text[o++] = 'Z';
    } else {
        memcpy(cell->text + o, s + i, 3);
        o += 3;
        memcpy(cell->text + o, rest == 6 ? s + i + 3 : ":00", 3);
        o += 3;
    }
    *outlen = o;
    return 1;
}

static void convert_int(const char *text, size_t len, struct quarry_value *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end != text + len) {
        set_text(out, text, len);
        return;
    }
    out->type = QUARRY_VALUE_INT;
    out->i = v;
}

static void convert_double(const char *text, size_t len, struct quarry_value *out)
{
    char *end = NULL;
    /* The C locale's decimal point, whatever the host process set. */
    double v = strtod_l(text, &end, pg_c_locale_);
    /* NaN and the infinities have no JSON number: they stay the server's text. */
    if (end != text + len || !isfinite(v)) {
        set_text(out, text, len);
        return;
    }
    out->type = QUARRY_VALUE_DOUBLE;
    out->d = v;
}

static int convert_bytea(const char *text, struct pg_cell *cell, struct quarry_value *out)
{
    size_t n = 0;
    cell->bytes = PQunescapeBytea((const unsigned char *)text, &n);
    if (!cell->bytes)
        return QUARRY_ERR_NOMEM;
    out->type = QUARRY_VALUE_BLOB;
    out->str = (const char *)cell->bytes;
    out->len = n;
    return QUARRY_OK;
}

void pg_cell_clear_(struct pg_cell *cell)
{
    if (cell->bytes) {
        PQfreemem(cell->bytes);
        cell->bytes = NULL;
    }
}

int pg_value_convert_(Oid oid, const char *text, size_t len, struct pg_cell *cell,
                      struct quarry_value *out)
{
    memset(out, 0, sizeof(*out));
    pg_cell_clear_(cell);
    size_t outlen = 0;
    switch (pg_value_type_(oid)) {
    case QUARRY_VALUE_INT:
        convert_int(text, len, out);
        return QUARRY_OK;
    case QUARRY_VALUE_DOUBLE:
        convert_double(text, len, out);
        return QUARRY_OK;
    case QUARRY_VALUE_BOOL:
        out->type = QUARRY_VALUE_BOOL;
        out->i = len > 0 && text[0] == 't';
        return QUARRY_OK;
    case QUARRY_VALUE_BLOB:
        return convert_bytea(text, cell, out);
    case QUARRY_VALUE_DECIMAL:
        set_text(out, text, len);
        /* NaN and (since PostgreSQL 14) infinities are not decimals. */
        if (len > 0 && (text[len - 1] >= '0' && text[len - 1] <= '9'))
            out->type = QUARRY_VALUE_DECIMAL;
        return QUARRY_OK;
    case QUARRY_VALUE_TIMESTAMP:
        if (rfc3339(text, len, oid == PG_TIMESTAMPTZ, cell, &outlen)) {
            out->type = QUARRY_VALUE_TIMESTAMP;
            out->str = cell->text;
            out->len = outlen;
        } else {
            set_text(out, text, len);
        }
        return QUARRY_OK;
    case QUARRY_VALUE_DATE:
        set_text(out, text, len);
        if (len == 10 && is_iso_date(text, len))
            out->type = QUARRY_VALUE_DATE;
        return QUARRY_OK;
    case QUARRY_VALUE_JSON:
        out->type = QUARRY_VALUE_JSON;
        out->str = text;
        out->len = len;
        return QUARRY_OK;
    default:
        set_text(out, text, len);
        return QUARRY_OK;
    }
}
