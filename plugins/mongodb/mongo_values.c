/*
 * BSON values as Quarry values, and BSON type names.
 *
 * int32/int64 -> INT, double -> DOUBLE, decimal128 -> DECIMAL text, bool ->
 * BOOL, string -> TEXT, date -> TIMESTAMP (RFC 3339, UTC, milliseconds when
 * not zero), ObjectId -> TEXT (24 hex digits), binary -> BLOB, null and
 * undefined -> NULL, documents and arrays -> JSON (relaxed Extended JSON).
 * Rarer types (timestamp, regex, minKey ...) become their Extended JSON too.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mongo_internal.h"

/* In the order mixed types are listed ("string|int|null"): null last. */
static const struct {
    bson_type_t type;
    const char *name;
} type_names[] = {
    {BSON_TYPE_UTF8, "string"},
    {BSON_TYPE_INT32, "int"},
    {BSON_TYPE_INT64, "long"},
    {BSON_TYPE_DOUBLE, "double"},
    {BSON_TYPE_DECIMAL128, "decimal"},
    {BSON_TYPE_BOOL, "bool"},
    {BSON_TYPE_DATE_TIME, "date"},
    {BSON_TYPE_OID, "objectId"},
    {BSON_TYPE_DOCUMENT, "object"},
    {BSON_TYPE_ARRAY, "array"},
    {BSON_TYPE_BINARY, "binData"},
    {BSON_TYPE_TIMESTAMP, "timestamp"},
    {BSON_TYPE_REGEX, "regex"},
    {BSON_TYPE_CODE, "javascript"},
    {BSON_TYPE_CODEWSCOPE, "javascriptWithScope"},
    {BSON_TYPE_SYMBOL, "symbol"},
    {BSON_TYPE_DBPOINTER, "dbPointer"},
    {BSON_TYPE_MINKEY, "minKey"},
    {BSON_TYPE_MAXKEY, "maxKey"},
    {BSON_TYPE_UNDEFINED, "undefined"},
    {BSON_TYPE_NULL, "null"},
};

#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

static size_t type_index(bson_type_t type)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (type_names[i].type == type)
            return i;
    return NTYPES;
}

const char *mongo_type_name(bson_type_t type)
{
    size_t i = type_index(type);
    return i < NTYPES ? type_names[i].name : "unknown";
}

uint32_t mongo_type_bit(bson_type_t type)
{
    size_t i = type_index(type);
    return i < NTYPES ? (uint32_t)1 << i : 0;
}

void mongo_type_set_format(uint32_t set, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    /* "undefined" is a deprecated spelling of null: report it as null. */
    if (set & mongo_type_bit(BSON_TYPE_UNDEFINED))
        set = (set & ~mongo_type_bit(BSON_TYPE_UNDEFINED)) | mongo_type_bit(BSON_TYPE_NULL);
    for (size_t i = 0; i < NTYPES; i++) {
        if (!(set & ((uint32_t)1 << i)))
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? "|" : "", type_names[i].name);
        if (n < 0 || (size_t)n >= size - used)
            return; /* truncated at a name boundary is still readable */
        used += (size_t)n;
    }
}

int mongo_value_type(bson_type_t type)
{
    switch (type) {
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
        return QUARRY_VALUE_INT;
    case BSON_TYPE_DOUBLE:
        return QUARRY_VALUE_DOUBLE;
    case BSON_TYPE_DECIMAL128:
        return QUARRY_VALUE_DECIMAL;
    case BSON_TYPE_BOOL:
        return QUARRY_VALUE_BOOL;
    case BSON_TYPE_UTF8:
    case BSON_TYPE_OID:
    case BSON_TYPE_SYMBOL:
    case BSON_TYPE_CODE:
        return QUARRY_VALUE_TEXT;
    case BSON_TYPE_DATE_TIME:
        return QUARRY_VALUE_TIMESTAMP;
    case BSON_TYPE_BINARY:
        return QUARRY_VALUE_BLOB;
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
        return QUARRY_VALUE_NULL;
    default:
        return QUARRY_VALUE_JSON;
    }
}

void mongo_value_buf_release(struct mongo_value_buf *buf)
{
    bson_free(buf->owned);
    buf->owned = NULL;
}

static void set_text(struct quarry_value *out, int type, const char *str, size_t len)
{
    out->type = type;
    out->str = str;
    out->len = len;
}

/*
 * Relaxed Extended JSON of any single value: libbson only renders whole
 * documents, so render {"v": value} and keep what stands after `{ "v" : `.
 */
static void json_of_value(const bson_iter_t *it, struct quarry_value *out,
                          struct mongo_value_buf *buf)
{
    static const char prefix[] = "{ \"v\" : ";
    static const char suffix[] = " }";
    bson_t wrap = BSON_INITIALIZER;
    size_t len = 0;
    out->type = QUARRY_VALUE_NULL;
    if (!bson_append_iter(&wrap, "v", 1, it))
        goto out;
    buf->owned = bson_as_relaxed_extended_json(&wrap, &len);
    if (!buf->owned || len < sizeof(prefix) - 1 + sizeof(suffix) - 1 ||
        strncmp(buf->owned, prefix, sizeof(prefix) - 1) != 0)
        goto out;
    set_text(out, QUARRY_VALUE_JSON, buf->owned + sizeof(prefix) - 1,
             len - (sizeof(prefix) - 1) - (sizeof(suffix) - 1));
out:
    bson_destroy(&wrap);
}

void mongo_value_from_doc(const bson_t *doc, struct quarry_value *out, struct mongo_value_buf *buf)
{
    size_t len = 0;
    buf->owned = bson_as_relaxed_extended_json(doc, &len);
    if (buf->owned)
        set_text(out, QUARRY_VALUE_JSON, buf->owned, len);
    else
        out->type = QUARRY_VALUE_NULL;
}

/* RFC 3339 in UTC; 0 when the instant is outside years 0000-9999. */
static int format_date(int64_t ms, char *text, size_t size)
{
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return 0;
    int n = snprintf(text, size, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n < 0 || (size_t)n >= size)
        return 0;
    if (frac)
        snprintf(text + n, size - (size_t)n, ".%03dZ", (int)frac);
    else
        snprintf(text + n, size - (size_t)n, "Z");
    return 1;
}

static void from_decimal(const bson_iter_t *it, struct quarry_value *out,
                         struct mongo_value_buf *buf)
{
    bson_decimal128_t dec;
    bson_iter_decimal128(it, &dec);
    bson_decimal128_to_string(&dec, buf->text);
    /* NaN and the infinities are no decimal numbers: hand them over as text. */
    int finite = strpbrk(buf->text, "NI") == NULL;
    set_text(out, finite ? QUARRY_VALUE_DECIMAL : QUARRY_VALUE_TEXT, buf->text, strlen(buf->text));
}

void mongo_value_from_iter(const bson_iter_t *it, struct quarry_value *out,
                           struct mongo_value_buf *buf)
{
    uint32_t len = 0;
    memset(out, 0, sizeof(*out));
    buf->owned = NULL;
    switch (bson_iter_type(it)) {
    case BSON_TYPE_INT32:
        out->type = QUARRY_VALUE_INT;
        out->i = bson_iter_int32(it);
        break;
    case BSON_TYPE_INT64:
        out->type = QUARRY_VALUE_INT;
        out->i = bson_iter_int64(it);
        break;
    case BSON_TYPE_DOUBLE:
        out->type = QUARRY_VALUE_DOUBLE;
        out->d = bson_iter_double(it);
        break;
    case BSON_TYPE_BOOL:
        out->type = QUARRY_VALUE_BOOL;
        out->i = bson_iter_bool(it) ? 1 : 0;
        break;
    case BSON_TYPE_DECIMAL128:
        from_decimal(it, out, buf);
        break;
    case BSON_TYPE_UTF8: {
        const char *s = bson_iter_utf8(it, &len);
        set_text(out, QUARRY_VALUE_TEXT, s, len);
        break;
    }
    case BSON_TYPE_SYMBOL: {
        const char *s = bson_iter_symbol(it, &len);
        set_text(out, QUARRY_VALUE_TEXT, s, len);
        break;
    }
    case BSON_TYPE_CODE: {
        const char *s = bson_iter_code(it, &len);
        set_text(out, QUARRY_VALUE_TEXT, s, len);
        break;
    }
    case BSON_TYPE_OID:
        bson_oid_to_string(bson_iter_oid(it), buf->text);
        set_text(out, QUARRY_VALUE_TEXT, buf->text, 24);
        break;
    case BSON_TYPE_DATE_TIME:
        if (format_date(bson_iter_date_time(it), buf->text, sizeof(buf->text)))
            set_text(out, QUARRY_VALUE_TIMESTAMP, buf->text, strlen(buf->text));
        else
            json_of_value(it, out, buf);
        break;
    case BSON_TYPE_BINARY: {
        bson_subtype_t subtype;
        const uint8_t *data = NULL;
        bson_iter_binary(it, &subtype, &len, &data);
        set_text(out, QUARRY_VALUE_BLOB, (const char *)data, len);
        break;
    }
    case BSON_TYPE_NULL:
    case BSON_TYPE_UNDEFINED:
        out->type = QUARRY_VALUE_NULL;
        break;
    case BSON_TYPE_DOCUMENT: {
        const uint8_t *data = NULL;
        bson_t sub;
        bson_iter_document(it, &len, &data);
        if (bson_init_static(&sub, data, len))
            mongo_value_from_doc(&sub, out, buf);
        break;
    }
    default: /* arrays, and the rare types, as Extended JSON */
        json_of_value(it, out, buf);
        break;
    }
}
