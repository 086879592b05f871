/*
 * Semantic typing of columns, table roles, descriptions, and the snapshot.
 *
 * The evidence for a column is gathered once into a `struct evidence` (name
 * words, declared type class, value-pattern fractions over the profile's
 * distinct values, keys), then one ordered list of rules decides: the first
 * rule that holds wins, so the order encodes which evidence outranks which.
 */
#include "semantic.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "ids.h"
#include "profile.h"

const char SEM_IDENTIFIER[] = "identifier", SEM_FOREIGN_KEY[] = "foreign_key",
           SEM_EMAIL[] = "email", SEM_URL[] = "url", SEM_PHONE[] = "phone",
           SEM_PERSON_NAME[] = "person_name", SEM_CURRENCY[] = "currency",
           SEM_PERCENTAGE[] = "percentage", SEM_DATETIME[] = "datetime", SEM_BOOLEAN[] = "boolean",
           SEM_CATEGORY[] = "category", SEM_FREE_TEXT[] = "free_text", SEM_GEO[] = "geo",
           SEM_JSON[] = "json", SEM_BINARY[] = "binary", SEM_NUMBER[] = "number",
           SEM_TEXT[] = "text";
const char ROLE_FACT[] = "fact", ROLE_DIMENSION[] = "dimension", ROLE_JUNCTION[] = "junction",
           ROLE_LOOKUP[] = "lookup";

#define MAJORITY 0.8  /* share of distinct values a pattern needs on its own */
#define SUPPORTED 0.5 /* ... when the name points the same way */
#define CATEGORY_MAX 50
#define CATEGORY_RATIO 0.5 /* distinct / non-null rows */
#define CATEGORY_AVG_LEN 40
#define FREE_TEXT_AVG_LEN 60
#define DESC_MAX 600

/* ------------------------------------------------------------------------ */
/* Names as words                                                           */
/* ------------------------------------------------------------------------ */

#define NAME_WORDS 16
#define WORD_MAX 32

struct words {
    int n;
    char w[NAME_WORDS][WORD_MAX];
};

/* Words that run-together names are split into ("emailaddress" -> email address). */
static const char *const VOCABULARY[] = {
    "email",    "mail",      "address",   "phone",   "number",   "home",        "page",
    "web",      "site",      "first",     "last",    "full",     "middle",      "given",
    "family",   "name",      "contact",   "birth",   "date",     "time",        "day",
    "zip",      "code",      "postal",    "post",    "unit",     "price",       "created",
    "updated",  "modified",  "deleted",   "at",      "on",       "is",          "has",
    "id",       "fax",       "mobile",    "cell",    "street",   "city",        "country",
    "state",    "region",    "total",     "amount",  "cost",     "sales",       "tax",
    "order",    "ship",      "hire",      "rate",    "discount", "percent",     "type",
    "status",   "url",       "link",      "user",    "customer", "product",     "invoice",
    "line",     "key",       "flag",      "active",  "enabled",  "stamp",       "billing",
    "shipping", "latitude",  "longitude", "lat",     "lon",      "lng",         "geo",
    "location", "telephone", "person",    "company", "title",    "description", "notes",
    "comment",  "comments",  "payload",   "json",    "data",     "meta",        "social",
    "security", "passport",  "license",   "driver",  "national", "employee",    "category",
    "value",    "count",     "quantity",  "item",    "items",    "detail",      "details",
    "lines",    "parent",    NULL};

static int in_vocabulary(const char *w, size_t len)
{
    for (size_t i = 0; VOCABULARY[i]; i++)
        if (strlen(VOCABULARY[i]) == len && strncmp(VOCABULARY[i], w, len) == 0)
            return 1;
    return 0;
}

static void words_push(struct words *ws, const char *w, size_t len)
{
    if (ws->n >= NAME_WORDS || len == 0)
        return;
    if (len >= WORD_MAX)
        len = WORD_MAX - 1;
    memcpy(ws->w[ws->n], w, len);
    ws->w[ws->n][len] = '\0';
    ws->n++;
}

/* Splits w[0..len) into two or three vocabulary words, or keeps it whole. */
static void words_push_segmented(struct words *ws, const char *w, size_t len)
{
    if (len >= 5 && !in_vocabulary(w, len)) {
        for (size_t a = 2; a + 2 <= len; a++) {
            if (!in_vocabulary(w, a))
                continue;
            if (in_vocabulary(w + a, len - a)) {
                words_push(ws, w, a);
                words_push(ws, w + a, len - a);
                return;
            }
            for (size_t b = a + 2; b + 2 <= len; b++)
                if (in_vocabulary(w + a, b - a) && in_vocabulary(w + b, len - b)) {
                    words_push(ws, w, a);
                    words_push(ws, w + a, b - a);
                    words_push(ws, w + b, len - b);
                    return;
                }
        }
    }
    words_push(ws, w, len);
}

/*
 * Lower-case words of an identifier: separators are anything but letters and
 * digits; a word also ends before an upper-case letter that follows a lower
 * case one (customerId), before the last capital of an acronym that a lower
 * case letter follows (URLPath -> url path), and between letters and digits.
 * Bytes of UTF-8 sequences count as lower-case letters.
 */
static void words_split(const char *name, struct words *ws)
{
    char word[WORD_MAX * 4];
    size_t len = 0;
    ws->n = 0;
    for (size_t i = 0; name && name[i]; i++) {
        unsigned char c = (unsigned char)name[i], prev = i ? (unsigned char)name[i - 1] : 0,
                      next = (unsigned char)name[i + 1];
        int letter = isalpha(c) || c >= 0x80, digit = isdigit(c);
        if (!letter && !digit) {
            words_push_segmented(ws, word, len);
            len = 0;
            continue;
        }
        int boundary = len > 0 && ((isupper(c) && (islower(prev) || isdigit(prev))) ||
                                   (isupper(c) && isupper(prev) && islower(next)) ||
                                   (digit != !!isdigit(prev)));
        if (boundary || len >= sizeof(word)) {
            words_push_segmented(ws, word, len);
            len = 0;
        }
        word[len++] = (char)tolower(c);
    }
    words_push_segmented(ws, word, len);
}

/* The last segment of a document field's dotted path: "address.city" is a city. */
static const char *leaf_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot[1] ? dot + 1 : name;
}

static int has_word(const struct words *ws, const char *w)
{
    for (int i = 0; i < ws->n; i++)
        if (strcmp(ws->w[i], w) == 0)
            return 1;
    return 0;
}

static int has_any(const struct words *ws, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (has_word(ws, list[i]))
            return 1;
    return 0;
}

/* Two adjacent words, e.g. "e" "mail". */
static int has_pair(const struct words *ws, const char *a, const char *b)
{
    for (int i = 0; i + 1 < ws->n; i++)
        if (strcmp(ws->w[i], a) == 0 && strcmp(ws->w[i + 1], b) == 0)
            return 1;
    return 0;
}

static int word_in(const char *w, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(w, list[i]) == 0)
            return 1;
    return 0;
}

static int first_word_in(const struct words *ws, const char *const *list)
{
    for (size_t i = 0; ws->n && list[i]; i++)
        if (strcmp(ws->w[0], list[i]) == 0)
            return 1;
    return 0;
}

static const char *last_word(const struct words *ws)
{
    return ws->n ? ws->w[ws->n - 1] : "";
}

/* Name evidence, one bit per kind. */
enum {
    N_EMAIL = 1 << 0,
    N_URL = 1 << 1,
    N_PHONE = 1 << 2,
    N_PERSON = 1 << 3,
    N_MONEY = 1 << 4,
    N_COUNT = 1 << 5,
    N_PERCENT = 1 << 6, /* pct, percent: a fraction of 1 or of 100 */
    N_RATIO = 1 << 7,   /* rate, ratio, discount ...: a fraction of 1 */
    N_LATLON = 1 << 8,
    N_GEO = 1 << 9,       /* city, country, address, postal code ... */
    N_GEO_WEAK = 1 << 10, /* region, state: geographic next to other geo columns */
    N_ADDRESS = 1 << 11,  /* the personal part of geo: street, postal code */
    N_DATE = 1 << 12,
    N_BIRTH = 1 << 13,
    N_LIFE_DATE = 1 << 14,  /* birth, hire: dates of an entity, not of an event */
    N_AUDIT_DATE = 1 << 15, /* created, updated ... */
    N_BOOL = 1 << 16,
    N_JSON = 1 << 17,
    N_ID = 1 << 18,
    N_CATEGORY = 1 << 19,      /* type, status, kind ...: numbers too */
    N_CATEGORY_TEXT = 1 << 20, /* level, tier, grade ...: text only */
    N_FREE = 1 << 21,
    N_PII_ID = 1 << 22,
    N_LAT = 1 << 23,
    N_DISCOUNT = 1 << 24, /* a fraction, or else an amount */
    N_NETWORK = 1 << 25   /* an IP or MAC address: personal, not a place */
};

static const char *const W_EMAIL[] = {"email", "mail", "emails", NULL};
static const char *const W_URL[] = {"url",  "uri", "website", "homepage", "href",
                                    "link", "web", "urls",    NULL};
static const char *const W_PHONE[] = {"phone", "telephone", "tel",    "fax",    "mobile",
                                      "cell",  "cellphone", "msisdn", "phones", NULL};
static const char *const W_PERSON_QUAL[] = {"first",  "last",   "middle",  "full",
                                            "given",  "family", "contact", "person",
                                            "maiden", "nick",   NULL};
static const char *const W_PERSON[] = {"surname", "forename", "firstname", "lastname",
                                       "fname",   "lname",    NULL};
static const char *const W_MONEY[] = {
    "price",  "amount", "total",   "cost",    "freight",  "salary", "revenue",
    "fee",    "fees",   "payment", "balance", "subtotal", "charge", "wage",
    "income", "budget", "sales",   "profit",  "spend",    "spent",  "paid",
    "tax",    "tip",    "fare",    "rent",    "earnings", "amt",    "prices",
    "costs",  "msrp",   "wages",   "pay",     NULL};
static const char *const W_COUNT[] = {"count", "qty", "quantity", "number", "num",
                                      "units", "no",  "id",       NULL};
static const char *const W_PERCENT[] = {"pct", "percent", "percentage", "percents", NULL};
static const char *const W_RATIO[] = {"rate",  "ratio",    "proportion", "fraction",
                                      "share", "discount", NULL};
static const char *const W_LAT[] = {"lat", "latitude", NULL};
static const char *const W_LON[] = {"lon", "lng", "longitude", "long", NULL};
static const char *const W_GEO[] = {"city",        "country",  "countries", "postal", "zip",
                                    "zipcode",     "postcode", "address",   "addr",   "street",
                                    "province",    "county",   "location",  "geo",    "coordinates",
                                    "coords",      "suburb",   "district",  "town",   "continent",
                                    "geolocation", NULL};
static const char *const W_GEO_WEAK[] = {"region", "state", "territory", NULL};
static const char *const W_ADDRESS[] = {"address", "addr",    "street",   "postal",
                                        "zip",     "zipcode", "postcode", NULL};
static const char *const W_DATE[] = {"date",     "time",    "timestamp",  "datetime", "dt", "dob",
                                     "birthday", "created", "updated",    "modified", "ts", "dates",
                                     "expires",  "expiry",  "expiration", NULL};
static const char *const W_BIRTH[] = {"birth", "birthday", "dob", "born", NULL};
static const char *const W_LIFE[] = {"birth", "birthday", "dob", "born", "hire", "hired", NULL};
static const char *const W_AUDIT[] = {"created", "updated",  "modified",
                                      "deleted", "inserted", NULL};
static const char *const W_BOOL_FIRST[] = {"is",    "has",    "can",   "should", "was",
                                           "allow", "allows", "needs", "must",   NULL};
static const char *const W_BOOL[] = {
    "flag",      "active",       "enabled", "disabled",  "verified", "deleted",
    "archived",  "discontinued", "visible", "hidden",    "approved", "valid",
    "confirmed", "locked",       "blocked", "published", NULL};
static const char *const W_JSON[] = {"json", "payload", "metadata", NULL};
static const char *const W_ID[] = {"id",  "uuid", "guid", "oid", "pk",   "ids",
                                   "sku", "isbn", "ean",  "upc", "gtin", NULL};
/* Network addresses: not places. */
static const char *const W_NETWORK[] = {"ip", "ipv4", "ipv6", "mac", "ipaddr", "ipaddress", NULL};
static const char *const W_CATEGORY[] = {"type",     "status", "kind", "category",
                                         "class",    "gender", "sex",  "genre",
                                         "priority", "stage",  NULL};
static const char *const W_CATEGORY_TEXT[] = {"level",   "tier",    "grade", "currency", "language",
                                              "lang",    "segment", "group", "mode",     "method",
                                              "channel", "role",    "state", NULL};
static const char *const W_FREE[] = {
    "notes",  "note",     "description",  "desc",     "comment",   "comments", "remarks", "remark",
    "body",   "text",     "summary",      "bio",      "biography", "message",  "content", "details",
    "review", "feedback", "instructions", "abstract", "memo",      "story",    NULL};
static const char *const W_PII_ID[] = {"ssn", "passport", "taxid", "tin", "nin", "licence", NULL};

static unsigned name_evidence(const struct words *ws)
{
    unsigned e = 0;
    if (has_any(ws, W_EMAIL) || has_pair(ws, "e", "mail"))
        e |= N_EMAIL;
    if (has_any(ws, W_URL) || has_pair(ws, "web", "site") || has_pair(ws, "home", "page") ||
        has_pair(ws, "web", "page"))
        e |= N_URL;
    if (has_any(ws, W_PHONE))
        e |= N_PHONE;
    if (has_any(ws, W_PERSON) ||
        ((has_word(ws, "name") || has_word(ws, "names")) && has_any(ws, W_PERSON_QUAL)))
        e |= N_PERSON;
    if (has_any(ws, W_MONEY))
        e |= N_MONEY;
    if (has_any(ws, W_COUNT))
        e |= N_COUNT;
    if (has_any(ws, W_PERCENT))
        e |= N_PERCENT;
    if (has_any(ws, W_RATIO))
        e |= N_RATIO;
    if (has_word(ws, "discount"))
        e |= N_DISCOUNT;
    if (has_any(ws, W_LAT))
        e |= N_LATLON | N_LAT;
    if (has_any(ws, W_LON) && (ws->n == 1 || !has_word(ws, "long") || has_any(ws, W_GEO)))
        e |= N_LATLON;
    if (has_any(ws, W_GEO))
        e |= N_GEO;
    if (has_any(ws, W_GEO_WEAK))
        e |= N_GEO_WEAK;
    if (has_any(ws, W_ADDRESS))
        e |= N_ADDRESS;
    if (has_any(ws, W_DATE) || has_any(ws, W_LIFE) ||
        (ws->n >= 2 && (strcmp(last_word(ws), "at") == 0 || strcmp(last_word(ws), "on") == 0)))
        e |= N_DATE;
    if (has_any(ws, W_BIRTH))
        e |= N_BIRTH;
    if (has_any(ws, W_LIFE))
        e |= N_LIFE_DATE;
    if (has_any(ws, W_AUDIT))
        e |= N_AUDIT_DATE;
    if (has_any(ws, W_BOOL) || (ws->n >= 2 && first_word_in(ws, W_BOOL_FIRST)))
        e |= N_BOOL;
    if (has_any(ws, W_JSON))
        e |= N_JSON;
    if (ws->n && word_in(last_word(ws), W_ID))
        e |= N_ID;
    if (has_any(ws, W_CATEGORY))
        e |= N_CATEGORY;
    if (has_any(ws, W_CATEGORY_TEXT))
        e |= N_CATEGORY_TEXT;
    if (has_any(ws, W_FREE))
        e |= N_FREE;
    if (has_any(ws, W_PII_ID) || has_pair(ws, "social", "security") || has_pair(ws, "tax", "id") ||
        has_pair(ws, "national", "id") || has_pair(ws, "driver", "license"))
        e |= N_PII_ID;
    if (has_any(ws, W_NETWORK)) {
        e &= ~(unsigned)(N_GEO | N_ADDRESS | N_PHONE | N_PII_ID);
        e |= N_NETWORK;
    }
    /* Dates win over flags: deleted_at is a time, deleted a flag. */
    if (e & N_DATE)
        e &= ~(unsigned)N_BOOL;
    return e;
}

/* ------------------------------------------------------------------------ */
/* Values: regex-free scanners                                              */
/* ------------------------------------------------------------------------ */

static int is_host_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c >= 0x80;
}

/* local@domain.tld: one '@', a dotted domain, a top-level label of letters. */
static int is_email(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || at - s > 64 || strchr(at + 1, '@'))
        return 0;
    for (const char *p = s; p < at; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._%+-'", *p) && (unsigned char)*p < 0x80)
            return 0;
    int labels = 0, label_len = 0, tld_alpha = 1;
    for (const char *p = at + 1;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label_len == 0)
                return 0;
            labels++;
            if (*p == '\0')
                break;
            label_len = 0;
            tld_alpha = 1;
            continue;
        }
        if (!is_host_char((unsigned char)*p))
            return 0;
        tld_alpha &= isalpha((unsigned char)*p) || (unsigned char)*p >= 0x80;
        label_len++;
    }
    return labels >= 2 && label_len >= 2 && tld_alpha;
}

/* A scheme URL (http, https, ftp) or a bare www. host, without spaces. */
static int is_url(const char *s)
{
    static const char *const prefixes[] = {"http://", "https://", "ftp://", "www.", NULL};
    size_t skip = 0;
    for (size_t i = 0; prefixes[i] && !skip; i++)
        if (strncasecmp(s, prefixes[i], strlen(prefixes[i])) == 0)
            skip = strlen(prefixes[i]);
    if (!skip || !is_host_char((unsigned char)s[skip]))
        return 0;
    return strpbrk(s, " \t\n") == NULL;
}

static int digits_at(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int two_digits(const char *s, int lo, int hi)
{
    if (!digits_at(s, 2))
        return 0;
    int v = (s[0] - '0') * 10 + (s[1] - '0');
    return v >= lo && v <= hi;
}

/* HH:MM[:SS[.fff]][Z|+HH[:MM]] at `s`; the length read, or 0. */
static size_t scan_time(const char *s)
{
    if (!two_digits(s, 0, 23) || s[2] != ':' || !two_digits(s + 3, 0, 59))
        return 0;
    size_t n = 5;
    if (s[n] == ':' && two_digits(s + n + 1, 0, 60)) {
        n += 3;
        if (s[n] == '.' || s[n] == ',')
            for (n++; isdigit((unsigned char)s[n]); n++)
                ;
    }
    if (s[n] == 'Z' || s[n] == 'z')
        n++;
    else if ((s[n] == '+' || s[n] == '-') && two_digits(s + n + 1, 0, 23)) {
        n += 3;
        if (s[n] == ':')
            n++;
        if (two_digits(s + n, 0, 59))
            n += 2;
    }
    return n;
}

/* YYYY-MM-DD (or with '/'), optionally a time; MM/DD/YYYY and DD.MM.YYYY too; or a time. */
static int is_datetime(const char *s)
{
    size_t n = 0;
    if (digits_at(s, 4) && (s[4] == '-' || s[4] == '/') && two_digits(s + 5, 1, 12) &&
        s[7] == s[4] && two_digits(s + 8, 1, 31)) {
        n = 10;
    } else if (two_digits(s, 1, 31) && (s[2] == '/' || s[2] == '.') && two_digits(s + 3, 1, 31) &&
               s[5] == s[2] && digits_at(s + 6, 4) &&
               (two_digits(s, 1, 12) || two_digits(s + 3, 1, 12))) {
        n = 10;
    } else {
        size_t t = scan_time(s);
        return t > 0 && s[t] == '\0';
    }
    if (s[n] == 'T' || (s[n] == ' ' && isdigit((unsigned char)s[n + 1]))) {
        size_t t = scan_time(s + n + 1);
        if (!t)
            return 0;
        n += 1 + t;
    }
    return s[n] == '\0';
}

/* Four dot-separated numbers up to 255: an IPv4 address. */
static int is_ipv4(const char *s)
{
    for (int part = 0; part < 4; part++) {
        int digits = 0, value = 0;
        for (; isdigit((unsigned char)*s) && digits < 4; s++, digits++)
            value = value * 10 + (*s - '0');
        if (digits == 0 || digits > 3 || value > 255 || *s != (part < 3 ? '.' : '\0'))
            return 0;
        s += part < 3;
    }
    return 1;
}

/* 7 to 15 digits with phone punctuation; 2 with a '+' or separators, 1 for bare digits. */
static int phone_strength(const char *s)
{
    int digits = 0, separators = 0, plus = 0;
    size_t len = strlen(s);
    if (len < 7 || len > 40 || is_datetime(s) || is_ipv4(s))
        return 0;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            digits++;
        } else if (*p == '+' && digits == 0 && !plus) {
            plus = 1;
        } else if (strchr(" -.()/", *p)) {
            separators++;
        } else if (strncasecmp(p, "ext", 3) == 0 || *p == 'x' || *p == 'X') {
            /* An extension ends the number: "555-1234 x12". */
            break;
        } else {
            return 0;
        }
    }
    if (digits < 7 || digits > 15)
        return 0;
    return plus || separators ? 2 : 1;
}

static int is_number_text(const char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return 0;
    double x = strtod(s, &end);
    while (isspace((unsigned char)*end))
        end++;
    return *end == '\0' && isfinite(x);
}

static int is_bool_word(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "y",   "n", "t",
                                        "f",    "0",     "1",   "on", "off", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strcasecmp(s, words[i]) == 0)
            return 1;
    return 0;
}

/* "12.5%" */
static int is_percent_text(const char *s)
{
    size_t len = strlen(s);
    if (len < 2 || s[len - 1] != '%')
        return 0;
    char buf[64];
    if (len - 1 >= sizeof(buf))
        return 0;
    memcpy(buf, s, len - 1);
    buf[len - 1] = '\0';
    return is_number_text(buf);
}

/* "$12.50", "12,00 €", "-£3": a currency sign before or after a number. */
static int is_currency_text(const char *s)
{
    static const char *const signs[] = {"$", "\xe2\x82\xac", "\xc2\xa3", "\xc2\xa5", NULL};
    const char *p = s;
    int sign = 0;
    if (*p == '-')
        p++;
    for (size_t i = 0; signs[i] && !sign; i++)
        if (strncmp(p, signs[i], strlen(signs[i])) == 0) {
            p += strlen(signs[i]);
            sign = 1;
        }
    char buf[64];
    size_t n = 0;
    for (; *p && n + 1 < sizeof(buf); p++) {
        if (isdigit((unsigned char)*p) || *p == '.')
            buf[n++] = *p;
        else if (*p == ',' || (*p == ' ' && n > 0))
            continue; /* thousands separators, or the space before a trailing sign */
        else
            break;
    }
    buf[n] = '\0';
    for (size_t i = 0; signs[i] && !sign; i++)
        if (strcmp(p, signs[i]) == 0) {
            p += strlen(signs[i]);
            sign = 1;
        }
    return sign && n > 0 && *p == '\0' && is_number_text(buf);
}

/*
 * A JSON object or array. Values the profile truncated cannot parse, so a
 * value at the truncation length only needs a JSON-looking start.
 */
static int is_json_text(const char *s)
{
    const char *p = s;
    if (*p != '{' && *p != '[')
        return 0;
    if (strlen(s) + 4 >= PROFILE_VALUE_MAX) {
        for (p++; isspace((unsigned char)*p); p++)
            ;
        return s[0] == '{' ? (*p == '"' || *p == '}') : (*p && strchr("{[\"-0123456789tfn]", *p));
    }
    json_t *doc = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    int ok = doc != NULL;
    json_decref(doc);
    return ok;
}

static int has_spaces(const char *s, int want)
{
    int n = 0;
    for (; *s && n < want; s++)
        n += *s == ' ';
    return n >= want;
}

/* Shares of the profile's distinct values that match each pattern. */
struct value_evidence {
    size_t n;
    double email, url, phone_strong, phone_any, datetime, json, number, boolean, percent_text,
        currency_text, uuid, prose;
};

static void value_evidence(const struct column_profile *p, struct value_evidence *v)
{
    memset(v, 0, sizeof(*v));
    if (!p || !p->values || p->distinct <= 0)
        return;
    v->n = (size_t)p->distinct;
    for (size_t i = 0; i < v->n; i++) {
        const char *s = p->values[i];
        int phone = phone_strength(s);
        v->email += is_email(s);
        v->url += is_url(s);
        v->phone_strong += phone == 2;
        v->phone_any += phone > 0;
        v->datetime += is_datetime(s);
        v->json += is_json_text(s);
        v->number += is_number_text(s);
        v->boolean += is_bool_word(s);
        v->percent_text += is_percent_text(s);
        v->currency_text += is_currency_text(s);
        v->uuid += id_is_uuid(s);
        v->prose += has_spaces(s, 3);
    }
    double n = (double)v->n;
    double *shares[] = {&v->email,        &v->url,           &v->phone_strong, &v->phone_any,
                        &v->datetime,     &v->json,          &v->number,       &v->boolean,
                        &v->percent_text, &v->currency_text, &v->uuid,         &v->prose};
    for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++)
        *shares[i] /= n;
}

/* ------------------------------------------------------------------------ */
/* Declared types                                                           */
/* ------------------------------------------------------------------------ */

enum {
    T_BOOL = 1 << 0,
    T_DATE = 1 << 1,
    T_JSON = 1 << 2,
    T_MONEY = 1 << 3,
    T_NUMERIC = 1 << 4,
    T_TEXT = 1 << 5,
    T_BLOB = 1 << 6,
    T_UUID = 1 << 7,
    T_GEO = 1 << 8
};

/* Type names as SQL databases and MongoDB ("string|null") spell them. */
static unsigned declared_evidence(const char *type)
{
    char t[128];
    unsigned e = 0;
    if (!type)
        return 0;
    size_t n = 0;
    for (; type[n] && n + 1 < sizeof(t); n++)
        t[n] = (char)tolower((unsigned char)type[n]);
    t[n] = '\0';
    if (strstr(t, "bool") || strcmp(t, "bit") == 0 || strcmp(t, "bit(1)") == 0 ||
        strcmp(t, "tinyint(1)") == 0)
        e |= T_BOOL;
    if ((strstr(t, "date") || strstr(t, "time")) && !strstr(t, "interval"))
        e |= T_DATE;
    if (strstr(t, "json"))
        e |= T_JSON;
    for (char *word = t; *word;) {
        size_t len = strcspn(word, "|");
        if ((len == 6 && strncmp(word, "object", 6) == 0) ||
            (len == 5 && strncmp(word, "array", 5) == 0))
            e |= T_JSON;
        word += len + (word[len] == '|');
    }
    if (strstr(t, "money"))
        e |= T_MONEY;
    if ((strstr(t, "int") && !strstr(t, "interval") && !strstr(t, "point")) ||
        strstr(t, "numeric") || strstr(t, "decimal") || strstr(t, "real") || strstr(t, "double") ||
        strstr(t, "float") || strstr(t, "number") || strstr(t, "serial") || strcmp(t, "long") == 0)
        e |= T_NUMERIC;
    if (strstr(t, "char") || strstr(t, "text") || strstr(t, "clob") || strstr(t, "string"))
        e |= T_TEXT;
    if (strstr(t, "blob") || strstr(t, "binary") || strstr(t, "bytea") || strstr(t, "image") ||
        strstr(t, "bindata"))
        e |= T_BLOB;
    if (strstr(t, "uuid") || strstr(t, "uniqueidentifier") || strstr(t, "objectid"))
        e |= T_UUID;
    if (strstr(t, "geometry") || strstr(t, "geography") || strcmp(t, "point") == 0 ||
        strstr(t, "polygon"))
        e |= T_GEO;
    return e;
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */
/* ------------------------------------------------------------------------ */

/* The declared foreign key `col` belongs to, and its position in it. */
static const struct catalog_fk *fk_of(const struct catalog_table *t, const char *col, size_t *pos)
{
    for (size_t i = 0; i < t->nfks; i++)
        for (size_t j = 0; j < t->fks[i].ncolumns; j++)
            if (t->fks[i].columns[j] && strcmp(t->fks[i].columns[j], col) == 0) {
                if (pos)
                    *pos = j;
                return &t->fks[i];
            }
    return NULL;
}

/*
 * The catalog with its tables indexed by name, built once per analysis or
 * snapshot so that resolving references stays linear in the catalog's size.
 * Without the maps (out of memory) lookups scan.
 */
struct schema {
    const struct catalog *c;
    json_t *by_label;    /* "<schema>\x1f<name>" -> table index */
    json_t *by_name;     /* name -> index of the first table of that name */
    json_t *by_squashed; /* squashed name -> index of the first table */
};

static void squash(const char *s, char *out, size_t size);

static char *schema_key(const char *schema, const char *name)
{
    char *key = NULL;
    return asprintf(&key, "%s\x1f%s", schema ? schema : "", name) < 0 ? NULL : key;
}

/* Sets `key` unless it is there: the first table of a name wins. */
static void index_first(json_t *map, const char *key, size_t idx)
{
    if (map && key && !json_object_get(map, key))
        json_object_set_new_nocheck(map, key, json_integer((json_int_t)idx));
}

static void schema_init(struct schema *s, const struct catalog *c)
{
    s->c = c;
    s->by_label = json_object();
    s->by_name = json_object();
    s->by_squashed = json_object();
    if (!s->by_label || !s->by_name || !s->by_squashed) {
        json_decref(s->by_label);
        json_decref(s->by_name);
        json_decref(s->by_squashed);
        s->by_label = s->by_name = s->by_squashed = NULL;
        return;
    }
    for (size_t i = 0; i < c->ntables; i++) {
        char squashed[WORD_MAX * 4];
        char *label = schema_key(c->tables[i].schema, c->tables[i].name);
        index_first(s->by_label, label, i);
        free(label);
        index_first(s->by_name, c->tables[i].name, i);
        squash(c->tables[i].name, squashed, sizeof(squashed));
        index_first(s->by_squashed, squashed, i);
    }
}

static void schema_free(struct schema *s)
{
    json_decref(s->by_label);
    json_decref(s->by_name);
    json_decref(s->by_squashed);
}

static struct catalog_table *table_at(const struct schema *s, json_t *map, const char *key)
{
    json_t *idx = map && key ? json_object_get(map, key) : NULL;
    return idx ? &s->c->tables[json_integer_value(idx)] : NULL;
}

static struct catalog_table *fk_target(const struct schema *s, const struct catalog_fk *fk)
{
    if (!s->by_label) {
        struct catalog_table *t = catalog_find_table(s->c, fk->ref_schema, fk->ref_table);
        return t ? t : catalog_find_table(s->c, NULL, fk->ref_table);
    }
    char *label = schema_key(fk->ref_schema, fk->ref_table);
    struct catalog_table *t = table_at(s, s->by_label, label);
    free(label);
    return t ? t : table_at(s, s->by_name, fk->ref_table);
}

/* Lower-case letters and digits only: "Order Details" -> "orderdetails". */
static void squash(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; s && *s && n + 1 < size; s++)
        if (isalnum((unsigned char)*s) || (unsigned char)*s >= 0x80)
            out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
}

/* "customer" names table "Customers", "Customer", "category" names "Categories". */
static int names_table(const char *stem, const char *table)
{
    char t[WORD_MAX * 4];
    squash(table, t, sizeof(t));
    size_t ls = strlen(stem), lt = strlen(t);
    if (ls == 0)
        return 0;
    if (strcmp(stem, t) == 0)
        return 1;
    if (lt == ls + 1 && t[ls] == 's' && strncmp(stem, t, ls) == 0)
        return 1;
    if (lt == ls + 2 && strcmp(t + ls, "es") == 0 && strncmp(stem, t, ls) == 0)
        return 1;
    return ls >= 2 && stem[ls - 1] == 'y' && lt == ls + 2 && strncmp(stem, t, ls - 1) == 0 &&
           strcmp(t + ls - 1, "ies") == 0;
}

/*
 * The table a column such as "customer_id" or "CustomerID" refers to when no
 * foreign key is declared: the words before a trailing "id" name another
 * table of the catalog ("parent_id": its own). NULL when they name none, or
 * name the column's own table (then it is that table's key).
 */
static const struct catalog_table *inferred_target(const struct schema *s,
                                                   const struct catalog_table *own,
                                                   const struct catalog_column *col)
{
    struct words ws;
    words_split(leaf_name(col->name), &ws);
    if (ws.n < 2 || strcmp(last_word(&ws), "id") != 0 || fk_of(own, col->name, NULL) ||
        col->pk_position)
        return NULL;
    char stem[WORD_MAX * 4] = "";
    for (int i = 0; i + 1 < ws.n; i++)
        strncat(stem, ws.w[i], sizeof(stem) - strlen(stem) - 1);
    if (names_table(stem, own->name))
        return NULL;
    if (strcmp(stem, "parent") == 0)
        return own; /* a tree: parent_id points into its own table */
    if (!s->by_squashed) {
        for (size_t i = 0; i < s->c->ntables; i++)
            if (&s->c->tables[i] != own && names_table(stem, s->c->tables[i].name))
                return &s->c->tables[i];
        return NULL;
    }
    /* The stem as it is, and in the plural forms names_table accepts; the first table wins. */
    char forms[4][WORD_MAX * 4 + 8];
    size_t len = strlen(stem), nforms = 3;
    snprintf(forms[0], sizeof(forms[0]), "%s", stem);
    snprintf(forms[1], sizeof(forms[1]), "%ss", stem);
    snprintf(forms[2], sizeof(forms[2]), "%ses", stem);
    if (len >= 2 && stem[len - 1] == 'y')
        snprintf(forms[nforms++], sizeof(forms[3]), "%.*sies", (int)(len - 1), stem);
    const struct catalog_table *found = NULL;
    for (size_t i = 0; i < nforms; i++) {
        const struct catalog_table *t = table_at(s, s->by_squashed, forms[i]);
        if (t && t != own && (!found || t < found))
            found = t;
    }
    return found;
}

/* The column an inferred reference points at: same name, else "_id"/"id", else the key. */
static const char *inferred_column(const struct catalog_table *target,
                                   const struct catalog_table *own, const char *name)
{
    static const char *const candidates[] = {"_id", "id", "ID", "Id", NULL};
    if (target != own && catalog_find_column(target, name))
        return name;
    for (size_t i = 0; candidates[i]; i++)
        if (catalog_find_column(target, candidates[i]))
            return candidates[i];
    for (size_t i = 0; i < target->ncolumns; i++)
        if (target->columns[i].pk_position == 1)
            return target->columns[i].name;
    return NULL;
}

static int pk_width(const struct catalog_table *t)
{
    int n = 0;
    for (size_t i = 0; i < t->ncolumns; i++)
        n += t->columns[i].pk_position > 0;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Column evidence and the rules                                            */
/* ------------------------------------------------------------------------ */

struct evidence {
    const struct catalog_table *table;
    const struct catalog_column *col;
    const struct column_profile *p; /* NULL when not profiled */
    struct words words;
    unsigned name, decl;
    struct value_evidence v;
    int has_values; /* the profile saw non-null values with text */
    int numeric;    /* from the values, else from the declared type */
    long nonnull;
    const struct catalog_fk *fk;          /* declared */
    const struct catalog_table *inferred; /* named like <table>_id */
    int table_has_geo;                    /* a sibling column is plainly geographic */
};

static int table_has_geo(const struct catalog_table *t)
{
    for (size_t i = 0; i < t->ncolumns; i++) {
        struct words ws;
        words_split(leaf_name(t->columns[i].name), &ws);
        if (name_evidence(&ws) & N_GEO)
            return 1;
    }
    return 0;
}

static int is_address_table(const struct catalog_table *t)
{
    struct words ws;
    words_split(t->name, &ws);
    return has_word(&ws, "address") || has_word(&ws, "addresses");
}

static void gather(const struct schema *s, const struct catalog_table *t,
                   const struct catalog_column *col, int has_geo, struct evidence *e)
{
    memset(e, 0, sizeof(*e));
    e->table = t;
    e->col = col;
    e->p = col->profile;
    words_split(leaf_name(col->name), &e->words);
    e->name = name_evidence(&e->words);
    if (e->words.n && strcmp(e->words.w[0], "line") == 0 && is_address_table(t))
        e->name |= N_GEO | N_ADDRESS; /* line1, line2 of an addresses table */
    e->decl = declared_evidence(col->type);
    value_evidence(e->p, &e->v);
    e->nonnull = e->p ? e->p->sampled - e->p->nulls : 0;
    e->has_values = e->v.n > 0;
    e->numeric = e->nonnull > 0 ? e->p->numeric : (e->decl & T_NUMERIC) != 0;
    e->fk = fk_of(t, col->name, NULL);
    e->inferred = e->fk ? NULL : inferred_target(s, t, col);
    e->table_has_geo = has_geo;
}

static int value_type(const struct evidence *e)
{
    return e->p ? e->p->value_type : QUARRY_VALUE_NULL;
}

/* Numbers between lo and hi; with no values to go by, the name's word stands. */
static int numbers_within(const struct evidence *e, double lo, double hi)
{
    if (!e->has_values)
        return 1;
    return e->p->numeric && e->p->num_min >= lo && e->p->num_max <= hi;
}

/* Few, short, repeated values. */
static int categorical(const struct evidence *e)
{
    const struct column_profile *p = e->p;
    return p && e->nonnull >= 5 && p->distinct > 0 && !p->distinct_capped &&
           p->distinct_estimate <= CATEGORY_MAX && p->distinct <= CATEGORY_RATIO * e->nonnull &&
           p->avg_length <= CATEGORY_AVG_LEN;
}

static int is_boolean(const struct evidence *e)
{
    if ((e->decl & T_BOOL) || value_type(e) == QUARRY_VALUE_BOOL)
        return 1;
    if (!e->has_values)
        return (e->name & N_BOOL) && !(e->decl & T_DATE);
    const struct column_profile *p = e->p;
    if (p->distinct > 2 || p->distinct_capped || e->v.boolean < 1.0)
        return 0;
    /* Two 0/1 values could be a count or an amount that happens to be small. */
    if (e->name & N_BOOL)
        return 1;
    return p->distinct == 2 && e->nonnull >= 4 &&
           !(e->name & (N_MONEY | N_COUNT | N_PERCENT | N_RATIO | N_ID));
}

/* Epoch seconds or milliseconds, or yyyymmdd. */
static int numbers_look_like_time(const struct evidence *e)
{
    return numbers_within(e, 1e8, 1e10) || numbers_within(e, 1e11, 1e13) ||
           numbers_within(e, 19000101, 21001231);
}

static int is_datetime_column(const struct evidence *e)
{
    int vt = value_type(e);
    if ((e->decl & T_DATE) || vt == QUARRY_VALUE_DATE || vt == QUARRY_VALUE_TIMESTAMP)
        return 1;
    if (e->has_values && !e->numeric && e->v.datetime >= MAJORITY)
        return 1;
    if (!(e->name & N_DATE))
        return 0;
    if (!e->has_values)
        return 1;
    return e->numeric ? numbers_look_like_time(e) : e->v.datetime >= SUPPORTED;
}

static int is_phone(const struct evidence *e)
{
    if (!e->has_values)
        return (e->name & N_PHONE) != 0;
    if (e->name & N_PHONE)
        return e->v.phone_any >= SUPPORTED;
    return !e->numeric && e->p->distinct >= 3 && e->v.phone_strong >= MAJORITY;
}

static int is_latlon(const struct evidence *e)
{
    if (!(e->name & N_LATLON))
        return 0;
    if (e->has_values && !e->numeric)
        return e->v.number >= MAJORITY;
    double limit = (e->name & N_LAT) ? 90 : 180;
    return numbers_within(e, -limit, limit);
}

static int is_percentage(const struct evidence *e)
{
    if (e->has_values && e->v.percent_text >= MAJORITY)
        return 1;
    if (!e->numeric)
        return 0;
    if (e->name & N_PERCENT)
        return numbers_within(e, 0, 1) || numbers_within(e, 0, 100);
    /* A rate or discount beyond 1 is more likely an amount than a percentage. */
    return (e->name & N_RATIO) && !(e->name & N_MONEY) && numbers_within(e, 0, 1);
}

static int is_currency(const struct evidence *e)
{
    if (e->decl & T_MONEY)
        return 1;
    if (e->has_values && e->v.currency_text >= MAJORITY)
        return 1;
    if (!(e->name & (N_MONEY | N_DISCOUNT)) || (e->name & N_COUNT))
        return 0;
    return e->numeric || (e->has_values && e->v.number >= MAJORITY);
}

static int is_category(const struct evidence *e)
{
    int text = !e->numeric;
    if (!e->has_values)
        return (e->name & N_CATEGORY) || ((e->name & N_CATEGORY_TEXT) && text);
    const struct column_profile *p = e->p;
    if ((e->name & N_CATEGORY) && !p->distinct_capped &&
        p->distinct_estimate <= (text ? 2 * CATEGORY_MAX : 20) && p->avg_length <= CATEGORY_AVG_LEN)
        return 1;
    if ((e->name & N_CATEGORY_TEXT) && text && !p->distinct_capped &&
        p->distinct_estimate <= 2 * CATEGORY_MAX && p->distinct <= CATEGORY_RATIO * e->nonnull)
        return 1;
    return text && categorical(e);
}

static int is_free_text(const struct evidence *e)
{
    if (e->numeric)
        return 0;
    if (!e->has_values)
        return (e->name & N_FREE) != 0;
    if ((e->name & N_FREE) && e->p->avg_length >= 20)
        return 1;
    return e->p->avg_length >= FREE_TEXT_AVG_LEN && e->v.prose >= SUPPORTED;
}

/* The rules, strongest evidence first; the first that holds decides. */
static const char *classify(const struct evidence *e)
{
    unsigned n = e->name;
    const struct value_evidence *v = &e->v;
    int text = !e->numeric;

    if (e->fk)
        return SEM_FOREIGN_KEY;
    if (e->col->pk_position)
        return SEM_IDENTIFIER;
    if ((e->decl & T_BLOB) || value_type(e) == QUARRY_VALUE_BLOB)
        return SEM_BINARY;
    if ((e->decl & T_JSON) || value_type(e) == QUARRY_VALUE_JSON ||
        (e->has_values && v->json >= MAJORITY) ||
        (!e->has_values && (n & N_JSON) && !(e->decl & (T_NUMERIC | T_DATE | T_BOOL))))
        return SEM_JSON;
    /* Values outrank names: an "email_id" full of addresses holds emails. */
    if (e->has_values && text && v->email >= MAJORITY)
        return SEM_EMAIL;
    if (e->has_values && text && v->url >= MAJORITY)
        return SEM_URL;
    if (e->inferred)
        return SEM_FOREIGN_KEY;
    if ((n & (N_ID | N_PII_ID)) || (e->decl & T_UUID) || (e->has_values && v->uuid >= MAJORITY))
        return SEM_IDENTIFIER;
    if (is_boolean(e))
        return SEM_BOOLEAN;
    if ((n & N_EMAIL) && text && (!e->has_values || v->email >= SUPPORTED))
        return SEM_EMAIL;
    if ((n & N_URL) && text)
        return SEM_URL;
    if (is_datetime_column(e))
        return SEM_DATETIME;
    if (is_phone(e))
        return SEM_PHONE;
    if (is_latlon(e) || (e->decl & T_GEO))
        return SEM_GEO;
    if ((n & N_GEO) && (text || (n & N_ADDRESS)))
        return SEM_GEO;
    if ((n & N_GEO_WEAK) && text && e->table_has_geo)
        return SEM_GEO;
    if ((n & N_PERSON) && text)
        return SEM_PERSON_NAME;
    if (is_percentage(e))
        return SEM_PERCENTAGE;
    if (is_currency(e))
        return SEM_CURRENCY;
    if (is_category(e))
        return SEM_CATEGORY;
    if (is_free_text(e))
        return SEM_FREE_TEXT;
    return e->numeric ? SEM_NUMBER : SEM_TEXT;
}

static int is_pii(const struct evidence *e, const char *sem)
{
    if (sem == SEM_EMAIL || sem == SEM_PHONE || sem == SEM_PERSON_NAME)
        return 1;
    if (e->name & (N_PII_ID | N_NETWORK))
        return 1;
    if (sem == SEM_GEO && (e->name & N_ADDRESS))
        return 1;
    return (e->name & N_BIRTH) != 0; /* a birth date, or year */
}

/* ------------------------------------------------------------------------ */
/* Descriptions                                                             */
/* ------------------------------------------------------------------------ */

struct text {
    char buf[DESC_MAX];
    size_t len;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(struct text *t, const char *fmt, ...)
{
    size_t room = sizeof(t->buf) - t->len;
    if (room <= 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n < room ? (size_t)n : room - 1;
}

/* Ends a sentence, unless a clipped value already did ("S.A."). */
static void text_add_period(struct text *t)
{
    if (t->len == 0 || t->buf[t->len - 1] != '.')
        text_add(t, ".");
}

/* Appends at most `max` bytes of `s`, cut at a character boundary, "..." when cut. */
static void text_add_clipped(struct text *t, const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max) {
        text_add(t, "%s", s);
        return;
    }
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    text_add(t, "%.*s...", (int)max, s);
}

/* The text as a new string, without a character the buffer's end may have cut. */
static char *text_take(struct text *t)
{
    size_t len = t->len, start = len;
    while (start > 0 && ((unsigned char)t->buf[start - 1] & 0xC0) == 0x80)
        start--;
    if (start > 0 && (unsigned char)t->buf[start - 1] >= 0xC0) {
        unsigned char lead = (unsigned char)t->buf[start - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (len - (start - 1) < need)
            len = start - 1;
    }
    return strndup(t->buf, len);
}

/* "A, B and C", or "A, B, C and 4 more" when `total` exceeds the `n` names given. */
static void text_add_names(struct text *t, const char *const *names, size_t n, size_t total)
{
    for (size_t i = 0; i < n; i++) {
        text_add(t, "%s", i == 0 ? "" : (i + 1 == n && total == n) ? " and " : ", ");
        text_add_clipped(t, names[i], 40);
    }
    if (total > n)
        text_add(t, " and %zu more", total - n);
}

static void text_add_examples(struct text *t, const struct column_profile *p, size_t show)
{
    if (!p || p->ntop == 0)
        return;
    text_add(t, ", e.g. ");
    for (size_t i = 0; i < p->ntop && i < show; i++) {
        text_add(t, "%s", i ? ", " : "");
        text_add_clipped(t, p->top[i].value, 40);
    }
}

static void text_add_range(struct text *t, const struct column_profile *p)
{
    if (!p || !p->min || !p->max)
        return;
    if (strcmp(p->min, p->max) == 0) {
        text_add(t, ", always ");
        text_add_clipped(t, p->min, 40);
        return;
    }
    text_add(t, ", from ");
    text_add_clipped(t, p->min, 40);
    text_add(t, " to ");
    text_add_clipped(t, p->max, 40);
}

static void describe_key(struct text *t, const struct evidence *e)
{
    const struct catalog_column *col = e->col;
    if (e->fk) {
        size_t pos = 0;
        fk_of(e->table, col->name, &pos);
        text_add(t, "References %s.%s", e->fk->ref_table,
                 e->fk->ref_columns[pos] ? e->fk->ref_columns[pos] : "?");
        if (col->pk_position)
            text_add(t, "; part of the primary key");
    } else if (e->inferred) {
        const char *target = inferred_column(e->inferred, e->table, col->name);
        text_add(t, "Probably references %s%s%s (inferred from the name)", e->inferred->name,
                 target ? "." : "", target ? target : "");
    } else if (col->pk_position) {
        text_add(t, pk_width(e->table) > 1 ? "Part of the primary key of %s" : "Primary key of %s",
                 e->table->name);
    } else {
        text_add(t, "Identifier");
    }
}

/* The word that made a name geographic: "country" of "country_code". */
static const char *geo_word(const struct words *ws)
{
    for (int i = 0; i < ws->n; i++)
        if (word_in(ws->w[i], W_GEO) || word_in(ws->w[i], W_GEO_WEAK))
            return ws->w[i];
    return "place";
}

static void describe_geo(struct text *t, const struct evidence *e)
{
    if (e->name & N_LATLON)
        text_add(t, (e->name & N_LAT) ? "Latitude" : "Longitude");
    else if (has_word(&e->words, "postal") || has_word(&e->words, "zip") ||
             has_word(&e->words, "zipcode") || has_word(&e->words, "postcode"))
        text_add(t, "Postal code");
    else if (e->name & N_ADDRESS)
        text_add(t, "Street address");
    else
        text_add(t, "Geographic value (%s)", geo_word(&e->words));
    if (!(e->name & (N_LATLON | N_ADDRESS)))
        text_add_examples(t, e->p, 3);
    else if (e->name & N_LATLON)
        text_add_range(t, e->p);
}

static char *describe_column(const struct evidence *e, const char *sem, int pii)
{
    struct text t = {.len = 0};
    const struct column_profile *p = e->p;
    if (sem == SEM_IDENTIFIER || sem == SEM_FOREIGN_KEY) {
        describe_key(&t, e);
    } else if (sem == SEM_EMAIL) {
        text_add(&t, "Email address");
    } else if (sem == SEM_URL) {
        text_add(&t, "Web address (URL)");
    } else if (sem == SEM_PHONE) {
        text_add(&t, has_word(&e->words, "fax") ? "Fax number" : "Phone number");
    } else if (sem == SEM_PERSON_NAME) {
        text_add(&t, has_word(&e->words, "first") || has_word(&e->words, "firstname")
                         ? "First name of a person"
                     : has_word(&e->words, "last") || has_word(&e->words, "lastname") ||
                             has_word(&e->words, "surname")
                         ? "Last name of a person"
                         : "A person's name");
    } else if (sem == SEM_CURRENCY) {
        text_add(&t, "Money amount");
        text_add_range(&t, p);
    } else if (sem == SEM_PERCENTAGE) {
        text_add(&t, p && p->numeric && p->num_max <= 1 ? "Percentage as a fraction of 1"
                                                        : "Percentage");
        text_add_range(&t, p);
    } else if (sem == SEM_DATETIME) {
        text_add(&t, (e->name & N_BIRTH) ? "Date of birth" : "Date and time");
        text_add_range(&t, p);
    } else if (sem == SEM_BOOLEAN) {
        text_add(&t, "Yes/no flag");
        text_add_examples(&t, p, 2);
    } else if (sem == SEM_CATEGORY) {
        if (p && p->distinct > 0)
            text_add(&t, "Category with %ld value%s", p->distinct, p->distinct == 1 ? "" : "s");
        else
            text_add(&t, "Category");
        text_add_examples(&t, p, 3);
    } else if (sem == SEM_FREE_TEXT) {
        text_add(&t, "Free text");
        if (p && p->avg_length > 0)
            text_add(&t, ", about %.0f characters on average", p->avg_length);
    } else if (sem == SEM_GEO) {
        describe_geo(&t, e);
    } else if (sem == SEM_JSON) {
        text_add(&t, "JSON document");
    } else if (sem == SEM_BINARY) {
        text_add(&t, "Binary data");
    } else if (sem == SEM_NUMBER) {
        text_add(&t, "Number");
        text_add_range(&t, p);
    } else {
        text_add(&t, "Text");
        text_add_examples(&t, p, 2);
    }
    text_add_period(&t);
    if (pii)
        text_add(&t, " Personal data.");
    if (p && p->sampled > 0 && p->nulls * 20 >= p->sampled)
        text_add(&t, " %.0f%% empty in the sample.", 100.0 * (double)p->nulls / (double)p->sampled);
    return text_take(&t);
}

/* ------------------------------------------------------------------------ */
/* Table roles                                                              */
/* ------------------------------------------------------------------------ */

#define MAX_TARGETS 64
#define LIST_SHOW 4 /* names a description lists before "and N more" */

struct table_facts {
    size_t targets[MAX_TARGETS]; /* other tables referenced, by index, distinct */
    size_t ntargets;
    int fk_cols;                 /* foreign-key columns to other tables, declared or inferred */
    int referenced_by;           /* other tables referencing this one */
    size_t referrers[LIST_SHOW]; /* the first of them, by index */
    int measures;                /* money, percentages, numbers */
    int event_dates;             /* dates other than audit stamps and birth or hire dates */
    int audit_dates;
    int other;        /* non-key columns that are not dates or flags */
    int nonkey;       /* columns outside keys and identifiers */
    int nonkey_texty; /* ... of which text, categories, binary or flags */
    int pii;
    int events; /* named for transactions or events: orders, payments, visits */
    int lines;  /* named for the lines of something: InvoiceLine, order_items */
    const char *role;
};

/* Head nouns of tables that record transactions or events. */
static const char *const W_EVENT_TABLE[] = {
    "order",        "orders",      "invoice",     "invoices",     "sale",         "sales",
    "payment",      "payments",    "transaction", "transactions", "txn",          "txns",
    "event",        "events",      "booking",     "bookings",     "reservation",  "reservations",
    "shipment",     "shipments",   "purchase",    "purchases",    "log",          "logs",
    "visit",        "visits",      "session",     "sessions",     "trip",         "trips",
    "rental",       "rentals",     "ticket",      "tickets",      "claim",        "claims",
    "transfer",     "transfers",   "deposit",     "deposits",     "withdrawal",   "withdrawals",
    "call",         "calls",       "click",       "clicks",       "pageview",     "pageviews",
    "impression",   "impressions", "activity",    "activities",   "history",      "journal",
    "ledger",       "receipt",     "receipts",    "refund",       "refunds",      "measurement",
    "measurements", "reading",     "readings",    "observation",  "observations", NULL};
static const char *const W_LINE[] = {"line",    "lines", "item",    "items", "detail",
                                     "details", "entry", "entries", NULL};

/* Classifies a table's name by its head noun, the last word. */
static void name_facts(const struct catalog_table *t, struct table_facts *f)
{
    struct words ws;
    words_split(t->name, &ws);
    f->events = ws.n > 0 && word_in(last_word(&ws), W_EVENT_TABLE);
    f->lines = ws.n > 1 && word_in(last_word(&ws), W_LINE);
}

/*
 * The header a line table belongs to, among the tables it references:
 * InvoiceLine -> Invoice, order_items -> orders, "Order Details" -> Orders.
 */
static const struct catalog_table *
line_header(const struct catalog *c, const struct catalog_table *t, const struct table_facts *f)
{
    struct words ws;
    char stem[WORD_MAX * 4] = "";
    words_split(t->name, &ws);
    for (int i = 0; i + 1 < ws.n; i++)
        strncat(stem, ws.w[i], sizeof(stem) - strlen(stem) - 1);
    for (size_t k = 0; k < f->ntargets; k++)
        if (names_table(stem, c->tables[f->targets[k]].name))
            return &c->tables[f->targets[k]];
    return NULL;
}

static void add_referrer(struct table_facts *f, size_t idx)
{
    if (f->referenced_by < LIST_SHOW)
        f->referrers[f->referenced_by] = idx;
    f->referenced_by++;
}

static int is_key_type(const char *sem)
{
    return sem == SEM_FOREIGN_KEY || sem == SEM_IDENTIFIER;
}

static void add_target(struct table_facts *f, size_t idx)
{
    for (size_t i = 0; i < f->ntargets; i++)
        if (f->targets[i] == idx)
            return;
    if (f->ntargets < MAX_TARGETS)
        f->targets[f->ntargets++] = idx;
}

/* The in-catalog table a foreign-key column points at, or NULL. */
static const struct catalog_table *column_target(const struct schema *s,
                                                 const struct catalog_table *t,
                                                 const struct catalog_column *col)
{
    const struct catalog_fk *fk = fk_of(t, col->name, NULL);
    return fk ? fk_target(s, fk) : inferred_target(s, t, col);
}

static void count_column(const struct schema *s, const struct catalog_table *t,
                         const struct catalog_column *col, struct table_facts *f)
{
    const struct catalog *c = s->c;
    const char *sem = col->semantic_type;
    f->pii += col->pii;
    if (sem == SEM_FOREIGN_KEY) {
        const struct catalog_table *target = column_target(s, t, col);
        if (target != t) {
            f->fk_cols++;
            if (target)
                add_target(f, (size_t)(target - c->tables));
        }
    }
    if (col->pk_position || is_key_type(sem))
        return;
    f->nonkey++;
    if (sem == SEM_TEXT || sem == SEM_CATEGORY || sem == SEM_FREE_TEXT || sem == SEM_BINARY ||
        sem == SEM_BOOLEAN)
        f->nonkey_texty++;
    if (sem == SEM_CURRENCY || sem == SEM_PERCENTAGE || sem == SEM_NUMBER)
        f->measures++;
    if (sem == SEM_DATETIME) {
        struct words ws;
        words_split(leaf_name(col->name), &ws);
        unsigned n = name_evidence(&ws);
        if (n & N_AUDIT_DATE)
            f->audit_dates++;
        else if (!(n & N_LIFE_DATE))
            f->event_dates++;
    } else if (sem != SEM_BOOLEAN) {
        f->other++;
    }
}

/* Views restate their tables: they neither make a table referenced nor stand as leaves. */
static int counts_as_referrer(const struct catalog_table *t)
{
    return t->kind == QUARRY_TABLE || t->kind == QUARRY_COLLECTION;
}

static int64_t table_rows(const struct catalog_table *t)
{
    return t->row_estimate;
}

static const char *first_role(const struct catalog_table *t, const struct table_facts *f)
{
    if (f->fk_cols >= 2 && f->ntargets >= 1 && f->measures == 0 && f->event_dates == 0 &&
        f->other <= 1)
        return ROLE_JUNCTION;
    /* Transactions by name, dated and referencing someone: orders, payments, visits. */
    if (f->events && f->ntargets >= 1 && f->event_dates + f->audit_dates >= 1)
        return ROLE_FACT;
    /* Events: dated, and measured or linking several things. */
    if (f->ntargets >= 1 && f->event_dates >= 1 && (f->measures >= 1 || f->ntargets >= 2))
        return ROLE_FACT;
    /* A leaf of measures that references others (sales lines, payments). */
    if (counts_as_referrer(t) && f->referenced_by == 0 && f->ntargets >= 1 && f->measures >= 1 &&
        (f->ntargets >= 2 || f->audit_dates >= 1))
        return ROLE_FACT;
    /* A large, unlinked log of dated measures (document stores declare no keys). */
    if (f->ntargets == 0 && f->referenced_by == 0 && f->event_dates + f->audit_dates >= 1 &&
        f->measures >= 1 && table_rows(t) >= 1000)
        return ROLE_FACT;
    return NULL;
}

static int is_lookup(const struct catalog_table *t, const struct table_facts *f)
{
    int64_t rows = table_rows(t);
    return rows >= 0 && rows <= LOOKUP_MAX_ROWS && f->referenced_by >= 1 && f->fk_cols == 0 &&
           f->nonkey >= 1 && f->nonkey <= 3 && f->nonkey_texty == f->nonkey && f->pii == 0;
}

/* Roles of every table into facts[i].role. */
static void assign_roles(const struct schema *s, struct table_facts *facts)
{
    const struct catalog *c = s->c;
    for (size_t i = 0; i < c->ntables; i++)
        for (size_t j = 0; j < c->tables[i].ncolumns; j++)
            count_column(s, &c->tables[i], &c->tables[i].columns[j], &facts[i]);
    for (size_t i = 0; i < c->ntables; i++)
        for (size_t k = 0; counts_as_referrer(&c->tables[i]) && k < facts[i].ntargets; k++)
            add_referrer(&facts[facts[i].targets[k]], i);
    for (size_t i = 0; i < c->ntables; i++) {
        name_facts(&c->tables[i], &facts[i]);
        facts[i].role = first_role(&c->tables[i], &facts[i]);
    }
    /*
     * Lines of a fact (InvoiceLine of Invoice) are facts too, and so is the
     * dated header of a fact's lines (orders of order_items); a few rounds
     * settle chains.
     */
    for (int round = 0, changed = 1; changed && round < 4; round++) {
        changed = 0;
        for (size_t i = 0; i < c->ntables; i++) {
            struct table_facts *f = &facts[i];
            for (size_t k = 0; !f->role && f->measures >= 1 && k < f->ntargets; k++)
                if (facts[f->targets[k]].role == ROLE_FACT) {
                    f->role = ROLE_FACT;
                    changed = 1;
                }
            const struct catalog_table *header =
                f->role == ROLE_FACT && f->lines ? line_header(c, &c->tables[i], f) : NULL;
            struct table_facts *h = header ? &facts[header - c->tables] : NULL;
            if (h && h->role != ROLE_FACT && h->event_dates + h->audit_dates >= 1) {
                h->role = ROLE_FACT;
                changed = 1;
            }
        }
    }
    for (size_t i = 0; i < c->ntables; i++)
        if (!facts[i].role)
            facts[i].role = is_lookup(&c->tables[i], &facts[i]) ? ROLE_LOOKUP : ROLE_DIMENSION;
}

/* ------------------------------------------------------------------------ */
/* Table descriptions                                                       */
/* ------------------------------------------------------------------------ */

static const char *kind_noun(int kind)
{
    switch (kind) {
    case QUARRY_VIEW:
        return "view";
    case QUARRY_MATERIALIZED_VIEW:
        return "materialized view";
    case QUARRY_COLLECTION:
        return "collection";
    default:
        return "table";
    }
}

static void text_add_rows(struct text *t, const struct catalog_table *tab)
{
    if (table_rows(tab) >= 0)
        text_add(t, " of %lld row%s", (long long)table_rows(tab), table_rows(tab) == 1 ? "" : "s");
}

/* Names of the columns whose semantic type passes `want`, up to `max`. */
static size_t pick_columns(const struct catalog_table *t,
                           int (*want)(const struct catalog_column *), const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < t->ncolumns; i++)
        if (want(&t->columns[i]) && n < max)
            out[n++] = t->columns[i].name;
    return n;
}

static size_t count_columns(const struct catalog_table *t,
                            int (*want)(const struct catalog_column *))
{
    size_t n = 0;
    for (size_t i = 0; i < t->ncolumns; i++)
        n += want(&t->columns[i]) != 0;
    return n;
}

static int want_measure(const struct catalog_column *col)
{
    const char *s = col->semantic_type;
    return !col->pk_position && (s == SEM_CURRENCY || s == SEM_PERCENTAGE || s == SEM_NUMBER);
}

static int want_date(const struct catalog_column *col)
{
    return col->semantic_type == SEM_DATETIME;
}

static int want_attribute(const struct catalog_column *col)
{
    return !col->pk_position && !is_key_type(col->semantic_type);
}

static int want_pii(const struct catalog_column *col)
{
    return col->pii;
}

static int want_label(const struct catalog_column *col)
{
    return !col->pk_position && col->semantic_type == SEM_CATEGORY;
}

/* Names of up to LIST_SHOW columns passing `want`, with the rest counted. */
static void text_add_column_list(struct text *t, const struct catalog_table *tab,
                                 int (*want)(const struct catalog_column *))
{
    const char *names[LIST_SHOW];
    size_t shown = pick_columns(tab, want, names, LIST_SHOW);
    text_add_names(t, names, shown, count_columns(tab, want));
}

static void text_add_targets(struct text *t, const struct catalog *c, const struct table_facts *f)
{
    const char *names[LIST_SHOW];
    size_t n = 0;
    for (; n < f->ntargets && n < LIST_SHOW; n++)
        names[n] = c->tables[f->targets[n]].name;
    text_add_names(t, names, n, f->ntargets);
}

/* Names of the tables (not views) that reference the table of `f`. */
static void text_add_referrers(struct text *t, const struct catalog *c, const struct table_facts *f)
{
    const char *names[LIST_SHOW];
    size_t n = 0;
    for (; n < (size_t)f->referenced_by && n < LIST_SHOW; n++)
        names[n] = c->tables[f->referrers[n]].name;
    text_add_names(t, names, n, (size_t)f->referenced_by);
}

static char *describe_table(const struct schema *s, const struct table_facts *facts, size_t idx)
{
    const struct catalog *c = s->c;
    const struct catalog_table *tab = &c->tables[idx];
    const struct table_facts *f = &facts[idx];
    struct text t = {.len = 0};
    const char *noun = kind_noun(tab->kind);
    if (f->role == ROLE_JUNCTION) {
        text_add(&t, "Junction %s linking ", noun);
        text_add_targets(&t, c, f);
        text_add(&t, ": one row per %s", f->ntargets > 2 ? "combination" : "pair");
        if (table_rows(tab) >= 0)
            text_add(&t, " (%lld rows)", (long long)table_rows(tab));
    } else if (f->role == ROLE_FACT) {
        text_add(&t, "Fact %s", noun);
        text_add_rows(&t, tab);
        if (f->ntargets) {
            text_add(&t, " referencing ");
            text_add_targets(&t, c, f);
        }
        if (count_columns(tab, want_measure)) {
            text_add(&t, "; measures: ");
            text_add_column_list(&t, tab, want_measure);
        }
        if (count_columns(tab, want_date)) {
            text_add(&t, "; dated by ");
            text_add_column_list(&t, tab, want_date);
        }
    } else if (f->role == ROLE_LOOKUP) {
        const char *label = NULL;
        pick_columns(tab, want_label, &label, 1);
        text_add(&t, "Lookup %s", noun);
        text_add_rows(&t, tab);
        text_add(&t, " referenced by ");
        text_add_referrers(&t, c, f);
        if (label) {
            const struct catalog_column *col = catalog_find_column(tab, label);
            text_add(&t, "; values of %s", label);
            text_add_examples(&t, col->profile, 3);
        }
    } else {
        text_add(&t, "Dimension %s", noun);
        text_add_rows(&t, tab);
        if (f->referenced_by) {
            text_add(&t, " referenced by ");
            text_add_referrers(&t, c, f);
        }
        if (count_columns(tab, want_attribute)) {
            text_add(&t, "; attributes: ");
            text_add_column_list(&t, tab, want_attribute);
        }
    }
    text_add_period(&t);
    if (f->pii) {
        text_add(&t, " Personal data in ");
        text_add_column_list(&t, tab, want_pii);
        text_add(&t, ".");
    }
    return text_take(&t);
}

/* ------------------------------------------------------------------------ */
/* Analysis                                                                 */
/* ------------------------------------------------------------------------ */

static void set_column(struct catalog_column *col, const struct evidence *e, const char *sem)
{
    col->semantic_type = sem;
    col->pii = is_pii(e, sem);
    free(col->description);
    col->description = describe_column(e, sem, col->pii);
}

static void analyze_columns(const struct schema *s, struct catalog_table *t)
{
    struct evidence *e = malloc(sizeof(*e));
    if (!e)
        return;
    int has_geo = table_has_geo(t);
    for (size_t i = 0; i < t->ncolumns; i++) {
        gather(s, t, &t->columns[i], has_geo, e);
        set_column(&t->columns[i], e, classify(e));
    }
    free(e);
}

/* The short text columns of a lookup table name its categories (Genre.Name). */
static void promote_labels(const struct schema *s, struct catalog_table *t)
{
    struct evidence *e = malloc(sizeof(*e));
    if (!e)
        return;
    for (size_t i = 0; i < t->ncolumns; i++)
        if (t->columns[i].semantic_type == SEM_TEXT) {
            gather(s, t, &t->columns[i], 0, e);
            set_column(&t->columns[i], e, SEM_CATEGORY);
        }
    free(e);
}

void semantic_analyze(struct catalog *c)
{
    struct schema s;
    schema_init(&s, c);
    for (size_t i = 0; i < c->ntables; i++)
        analyze_columns(&s, &c->tables[i]);
    struct table_facts *facts = calloc(c->ntables ? c->ntables : 1, sizeof(*facts));
    if (!facts) {
        schema_free(&s);
        return;
    }
    assign_roles(&s, facts);
    for (size_t i = 0; i < c->ntables; i++) {
        struct catalog_table *t = &c->tables[i];
        t->role = facts[i].role;
        if (t->role == ROLE_LOOKUP)
            promote_labels(&s, t);
        free(t->description);
        t->description = describe_table(&s, facts, i);
    }
    free(facts);
    schema_free(&s);
}

/* ------------------------------------------------------------------------ */
/* Snapshot                                                                 */
/* ------------------------------------------------------------------------ */

/* A JSON string of database text, which need not be valid UTF-8: bad bytes become '?'. */
static json_t *json_text(const char *s)
{
    if (!s)
        return json_null();
    json_t *str = json_string(s);
    if (str)
        return str;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    str = json_string(copy);
    free(copy);
    return str;
}

/* A bound as a number for numeric columns (integral ones as integers), else as text. */
static json_t *json_bound(const struct column_profile *p, double x, const char *text)
{
    if (!p || !text)
        return json_null();
    if (!p->numeric)
        return json_text(text);
    if (x == floor(x) && fabs(x) < 9007199254740992.0)
        return json_integer((json_int_t)x);
    return json_real(x);
}

static int shows_top_values(const struct catalog_column *col)
{
    const struct column_profile *p = col->profile;
    if (!p || p->ntop == 0)
        return 0;
    const char *s = col->semantic_type;
    if (s == SEM_CATEGORY || s == SEM_BOOLEAN)
        return 1;
    long nonnull = p->sampled - p->nulls;
    return s == SEM_GEO && !p->distinct_capped && p->distinct <= CATEGORY_MAX &&
           p->distinct <= CATEGORY_RATIO * nonnull;
}

/*
 * The whole set of values of a short, low-cardinality text column that holds
 * no personal data: what a question can name ("the Rock genre"), kept in the
 * snapshot so text-to-SQL can link it without reconnecting.
 */
static int shows_values(const struct catalog_column *col)
{
    const struct column_profile *p = col->profile;
    const char *s = col->semantic_type;
    return p && p->values && !p->numeric && !p->distinct_capped && p->distinct > 0 &&
           p->distinct <= CATEGORY_MAX && p->avg_length <= 40 && !col->pii && s != SEM_IDENTIFIER &&
           s != SEM_FOREIGN_KEY && s != SEM_JSON && s != SEM_BINARY;
}

static json_t *json_values(const struct column_profile *p)
{
    json_t *list = json_array();
    for (long i = 0; list && i < p->distinct; i++)
        json_array_append_new(list, json_text(p->values[i]));
    return list;
}

static json_t *json_top_values(const struct column_profile *p)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < p->ntop; i++)
        if (json_array_append_new(list, json_pack("{s:o,s:I}", "value", json_text(p->top[i].value),
                                                  "count", (json_int_t)p->top[i].count)) != 0) {
            json_decref(list);
            return NULL;
        }
    return list;
}

static json_t *json_foreign_key(const struct schema *s, const struct catalog_table *t,
                                const struct catalog_column *col)
{
    size_t pos = 0;
    const struct catalog_fk *fk = fk_of(t, col->name, &pos);
    if (fk)
        return json_pack("{s:o,s:o}", "table", json_text(fk->ref_table), "column",
                         json_text(fk->ref_columns[pos]));
    const struct catalog_table *target =
        col->semantic_type == SEM_FOREIGN_KEY ? inferred_target(s, t, col) : NULL;
    if (!target)
        return json_null();
    return json_pack("{s:o,s:o,s:b}", "table", json_text(target->name), "column",
                     json_text(inferred_column(target, t, col->name)), "inferred", 1);
}

static json_t *json_column(const struct schema *s, const struct catalog_table *t,
                           const struct catalog_column *col)
{
    const struct column_profile *p = col->profile;
    json_t *nullable = col->nullable < 0 ? json_null() : json_boolean(col->nullable);
    json_t *nulls =
        p && p->sampled > 0 ? json_real((double)p->nulls / (double)p->sampled) : json_null();
    json_t *distinct = p ? json_integer((json_int_t)llround(p->distinct_estimate)) : json_null();
    json_t *obj = json_pack(
        "{s:o,s:o,s:o,s:b,s:s?,s:b,s:o,s:o,s:o,s:o,s:o,s:o}", "name", json_text(col->name), "type",
        json_text(col->type), "nullable", nullable, "primary_key", col->pk_position > 0,
        "semantic_type", col->semantic_type, "pii", col->pii, "description",
        json_text(col->description), "null_fraction", nulls, "distinct_estimate", distinct, "min",
        json_bound(p, p ? p->num_min : 0, p ? p->min : NULL), "max",
        json_bound(p, p ? p->num_max : 0, p ? p->max : NULL), "foreign_key",
        json_foreign_key(s, t, col));
    if (obj && shows_top_values(col) &&
        json_object_set_new(obj, "top_values", json_top_values(p)) != 0) {
        json_decref(obj);
        return NULL;
    }
    if (obj && shows_values(col) && json_object_set_new(obj, "values", json_values(p)) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static json_t *json_table(const struct schema *s, const struct catalog_table *t)
{
    json_t *columns = json_array();
    for (size_t i = 0; columns && i < t->ncolumns; i++)
        if (json_array_append_new(columns, json_column(s, t, &t->columns[i])) != 0) {
            json_decref(columns);
            return NULL;
        }
    json_t *rows = t->row_estimate >= 0 ? json_integer((json_int_t)t->row_estimate) : json_null();
    return json_pack("{s:o,s:o,s:s,s:o,s:s?,s:o,s:o}", "schema", json_text(t->schema), "name",
                     json_text(t->name), "kind", catalog_kind_name(t->kind), "row_count", rows,
                     "role", t->role, "description", json_text(t->description), "columns", columns);
}

/* ------------------------------------------------------------------------ */
/* Drift                                                                    */
/* ------------------------------------------------------------------------ */

/* "schema.name" or "name": the key tables are matched by across versions. */
static char *label_of(const char *schema, const char *name)
{
    char *label = NULL;
    if (schema && *schema)
        return asprintf(&label, "%s.%s", schema, name) < 0 ? NULL : label;
    return strdup(name);
}

static char *label_of_json(json_t *table)
{
    const char *schema = json_string_value(json_object_get(table, "schema"));
    const char *name = json_string_value(json_object_get(table, "name"));
    return name ? label_of(schema, name) : NULL;
}

/* label -> table object, for the previous snapshot's tables (borrowed entries). */
static json_t *index_tables(json_t *tables)
{
    json_t *index = json_object();
    size_t i;
    json_t *table;
    json_array_foreach(tables, i, table)
    {
        char *label = label_of_json(table);
        if (label && index)
            json_object_set_nocheck(index, label, table);
        free(label);
    }
    return index;
}

static int append_string(json_t *list, const char *s)
{
    return json_array_append_new(list, json_text(s));
}

static int append_column_ref(json_t *list, const char *table, const char *column)
{
    char *ref = NULL;
    if (asprintf(&ref, "%s.%s", table, column) < 0)
        return -1;
    int rc = append_string(list, ref);
    free(ref);
    return rc;
}

static int same_type(json_t *a, json_t *b)
{
    const char *x = json_string_value(a), *y = json_string_value(b);
    return (!x && !y) || (x && y && strcmp(x, y) == 0);
}

/* Columns added, removed and retyped between a table and its previous version. */
static int diff_columns(const struct catalog_table *t, const char *label, json_t *before,
                        json_t *drift)
{
    json_t *added = json_object_get(drift, "columns_added");
    json_t *removed = json_object_get(drift, "columns_removed");
    json_t *changed = json_object_get(drift, "columns_changed");
    json_t *old_columns = json_object_get(before, "columns");
    json_t *old = json_object();
    size_t i;
    json_t *col;
    int rc = old ? 0 : -1;
    json_array_foreach(old_columns, i, col)
    {
        const char *name = json_string_value(json_object_get(col, "name"));
        if (name && old)
            json_object_set_nocheck(old, name, col);
    }
    for (size_t k = 0; rc == 0 && k < t->ncolumns; k++) {
        const struct catalog_column *now = &t->columns[k];
        json_t *prev = json_object_get(old, now->name);
        json_t *type = json_text(now->type);
        if (!prev)
            rc = append_column_ref(added, label, now->name);
        else if (type && !same_type(json_object_get(prev, "type"), type))
            rc = json_array_append_new(changed,
                                       json_pack("{s:o,s:o,s:O,s:O}", "table", json_text(label),
                                                 "column", json_text(now->name), "from",
                                                 json_object_get(prev, "type"), "to", type));
        json_decref(type);
    }
    json_array_foreach(old_columns, i, col)
    {
        const char *name = json_string_value(json_object_get(col, "name"));
        if (rc == 0 && name && !catalog_find_column(t, name))
            rc = append_column_ref(removed, label, name);
    }
    json_decref(old);
    return rc;
}

static json_t *drift_new(const json_t *previous)
{
    json_t *version = previous ? json_object_get(previous, "version") : NULL;
    return json_pack("{s:O,s:[],s:[],s:[],s:[],s:[]}", "previous_version",
                     json_is_integer(version) ? version : json_null(), "tables_added",
                     "tables_removed", "columns_added", "columns_removed", "columns_changed");
}

static json_t *drift_of(const struct catalog *c, const json_t *previous)
{
    json_t *drift = drift_new(previous);
    json_t *old_tables = previous ? json_object_get(previous, "tables") : NULL;
    if (!drift || !json_is_array(old_tables))
        return drift;
    json_t *old = index_tables(old_tables), *now = json_object();
    int rc = old && now ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < c->ntables; i++) {
        const struct catalog_table *t = &c->tables[i];
        char *label = label_of(t->schema, t->name);
        if (!label) {
            rc = -1;
            break;
        }
        json_object_set_nocheck(now, label, json_true());
        json_t *before = json_object_get(old, label);
        rc = before ? diff_columns(t, label, before, drift)
                    : append_string(json_object_get(drift, "tables_added"), label);
        free(label);
    }
    size_t i;
    json_t *table;
    json_array_foreach(old_tables, i, table)
    {
        char *label = label_of_json(table);
        if (rc == 0 && label && !json_object_get(now, label))
            rc = append_string(json_object_get(drift, "tables_removed"), label);
        free(label);
    }
    json_decref(old);
    json_decref(now);
    if (rc != 0) {
        json_decref(drift);
        return NULL;
    }
    return drift;
}

json_t *semantic_snapshot(const struct catalog *c, int version, const json_t *previous)
{
    char hash[65], now[ID_TIME_LEN + 1];
    semantic_schema_hash(c, hash);
    id_time_now(now);
    struct schema s;
    schema_init(&s, c);
    json_t *tables = json_array();
    for (size_t i = 0; tables && i < c->ntables; i++)
        if (json_array_append_new(tables, json_table(&s, &c->tables[i])) != 0) {
            json_decref(tables);
            tables = NULL;
        }
    schema_free(&s);
    if (!tables)
        return NULL;
    json_t *drift = drift_of(c, previous);
    if (!drift) {
        json_decref(tables);
        return NULL;
    }
    return json_pack("{s:i,s:s,s:s,s:s,s:o,s:o}", "version", version, "schema_hash", hash,
                     "generated_at", now, "dialect", c->dialect, "tables", tables, "drift", drift);
}

/* ------------------------------------------------------------------------ */
/* Schema hash                                                              */
/* ------------------------------------------------------------------------ */

/* One field, length-prefixed so that no name can imitate a separator. */
static void hash_field(crypto_hash_sha256_state *st, const char *s)
{
    char prefix[32];
    if (!s) {
        crypto_hash_sha256_update(st, (const unsigned char *)"-;", 2);
        return;
    }
    int n = snprintf(prefix, sizeof(prefix), "%zu:", strlen(s));
    crypto_hash_sha256_update(st, (const unsigned char *)prefix, (unsigned long long)n);
    crypto_hash_sha256_update(st, (const unsigned char *)s, strlen(s));
}

static void hash_int(crypto_hash_sha256_state *st, long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    hash_field(st, buf);
}

static int by_table(const void *x, const void *y)
{
    const struct catalog_table *a = *(const struct catalog_table *const *)x;
    const struct catalog_table *b = *(const struct catalog_table *const *)y;
    int c = strcmp(a->schema ? a->schema : "", b->schema ? b->schema : "");
    return c ? c : strcmp(a->name, b->name);
}

static int by_ordinal(const void *x, const void *y)
{
    const struct catalog_column *a = *(const struct catalog_column *const *)x;
    const struct catalog_column *b = *(const struct catalog_column *const *)y;
    if (a->ordinal != b->ordinal)
        return a->ordinal < b->ordinal ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int by_string(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A key's canonical text: "<columns>|<ref schema>.<ref table>|<ref columns>". */
static char *key_text(size_t n, char *const *columns, const char *ref_schema, const char *ref_table,
                      char *const *ref_columns)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%zu:%s,", columns[i] ? strlen(columns[i]) : 0, columns[i] ? columns[i] : "");
    if (ref_table) {
        fprintf(f, "|%s.%s|", ref_schema ? ref_schema : "", ref_table);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%zu:%s,", ref_columns[i] ? strlen(ref_columns[i]) : 0,
                    ref_columns[i] ? ref_columns[i] : "");
    }
    return fclose(f) == 0 ? buf : (free(buf), NULL);
}

/* Foreign keys and unique indexes, each as canonical text, sorted: names do not matter. */
static int hash_keys(crypto_hash_sha256_state *st, const struct catalog_table *t)
{
    size_t n = t->nfks + t->nindexes, k = 0, want = 0;
    char **keys = calloc(n ? n : 1, sizeof(char *));
    if (!keys)
        return -1;
    for (size_t i = 0; i < t->nfks; i++) {
        const struct catalog_fk *fk = &t->fks[i];
        char *text =
            key_text(fk->ncolumns, fk->columns, fk->ref_schema, fk->ref_table, fk->ref_columns);
        want++;
        if (text && asprintf(&keys[k], "F%s", text) >= 0)
            k++;
        free(text);
    }
    for (size_t i = 0; i < t->nindexes; i++) {
        const struct catalog_index *ix = &t->indexes[i];
        if (!ix->unique || ix->primary)
            continue;
        char *text = key_text(ix->ncolumns, ix->columns, NULL, NULL, NULL);
        want++;
        if (text && asprintf(&keys[k], "U%s", text) >= 0)
            k++;
        free(text);
    }
    qsort(keys, k, sizeof(char *), by_string);
    for (size_t i = 0; i < k; i++) {
        hash_field(st, keys[i]);
        free(keys[i]);
    }
    free(keys);
    return k == want ? 0 : -1;
}

static int hash_table(crypto_hash_sha256_state *st, const struct catalog_table *t)
{
    hash_field(st, "T");
    hash_field(st, t->schema);
    hash_field(st, t->name);
    hash_int(st, t->kind);
    const struct catalog_column **cols = calloc(t->ncolumns ? t->ncolumns : 1, sizeof(*cols));
    if (!cols)
        return -1;
    for (size_t i = 0; i < t->ncolumns; i++)
        cols[i] = &t->columns[i];
    qsort(cols, t->ncolumns, sizeof(*cols), by_ordinal);
    for (size_t i = 0; i < t->ncolumns; i++) {
        hash_field(st, "C");
        hash_field(st, cols[i]->name);
        hash_field(st, cols[i]->type);
        hash_int(st, cols[i]->nullable);
        hash_int(st, cols[i]->pk_position);
        hash_int(st, cols[i]->is_array);
    }
    free(cols);
    return hash_keys(st, t);
}

void semantic_schema_hash(const struct catalog *c, char out[65])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    const struct catalog_table **tables = NULL;
    int rc = sodium_init() < 0 ? -1 : 0;
    out[0] = '\0'; /* what a failure leaves: never a hash of part of the schema */
    if (rc == 0)
        tables = calloc(c->ntables ? c->ntables : 1, sizeof(*tables));
    if (!tables)
        return;
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < c->ntables; i++)
        tables[i] = &c->tables[i];
    qsort(tables, c->ntables, sizeof(*tables), by_table);
    for (size_t i = 0; rc == 0 && i < c->ntables; i++)
        rc = hash_table(&st, tables[i]);
    free(tables);
    crypto_hash_sha256_final(&st, digest);
    if (rc == 0)
        sodium_bin2hex(out, 65, digest, sizeof(digest));
}
