/*
 * OpenAI-compatible chat completions over libcurl, the SQL extractor, and
 * the text-to-SQL prompt (see llm.h).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "llm.h"

#define LLM_MAX_URL 2048
#define LLM_MAX_DETAIL 200 /* bytes of the endpoint's own error message quoted */

/* ------------------------------------------------------------------------ */
/* Text                                                                     */
/* ------------------------------------------------------------------------ */

/* The length of the valid UTF-8 sequence at s (at most `avail` bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    size_t n;
    unsigned int cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates, beyond U+10FFFF. */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/*
 * A copy of at most `max` bytes of `s` (`len` bytes) that jansson accepts and
 * a log line can hold: invalid UTF-8 becomes '?', control bytes other than
 * newline and tab become spaces, and a cut never splits a character.
 */
static char *clean_text(const char *s, size_t len, size_t max)
{
    char *out = malloc((len < max ? len : max) + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        const unsigned char *p = (const unsigned char *)s + i;
        size_t n = utf8_seq_len(p, len - i);
        if (o + (n ? n : 1) > max)
            break;
        if (n == 0) {
            out[o++] = '?';
            i++;
        } else if (n == 1 && ((p[0] < 0x20 && p[0] != '\n' && p[0] != '\t') || p[0] == 0x7f)) {
            out[o++] = ' ';
            i++;
        } else {
            memcpy(out + o, p, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}

/* Replaces every occurrence of `secret` (when non-empty) in `text` with "***", in place. */
static void scrub(char *text, const char *secret)
{
    size_t slen = secret ? strlen(secret) : 0;
    char *hit;
    if (slen == 0)
        return;
    while ((hit = strstr(text, secret)) != NULL) {
        size_t keep = slen < 3 ? slen : 3;
        memcpy(hit, "***", keep);
        memmove(hit + keep, hit + slen, strlen(hit + slen) + 1);
    }
}

__attribute__((format(printf, 5, 6))) static void fail(int *status, int code, char *err,
                                                       size_t errlen, const char *fmt, ...)
{
    if (status)
        *status = code;
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* The request                                                              */
/* ------------------------------------------------------------------------ */

struct body_buf {
    char *data;
    size_t len;
    int too_large;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body_buf *b = userdata;
    size_t n = size * nmemb;
    if (n > LLM_MAX_RESPONSE - b->len) {
        b->too_large = 1;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    char *grown = realloc(b->data, b->len + n + 1);
    if (!grown)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static int valid_config(const struct llm_config *config, const json_t *messages, int *status,
                        char *err, size_t errlen)
{
    if (!config || !config->url || !config->model || !config->model[0]) {
        fail(status, LLM_ERR_INVALID, err, errlen, "the LLM endpoint URL and model are required");
        return -1;
    }
    if (strncasecmp(config->url, "http://", 7) != 0 &&
        strncasecmp(config->url, "https://", 8) != 0) {
        fail(status, LLM_ERR_INVALID, err, errlen, "the LLM endpoint URL must be http or https");
        return -1;
    }
    if (strlen(config->url) > LLM_MAX_URL) {
        fail(status, LLM_ERR_INVALID, err, errlen, "the LLM endpoint URL is too long");
        return -1;
    }
    if (!json_is_array(messages) || json_array_size(messages) == 0 ||
        !isfinite(config->temperature)) {
        fail(status, LLM_ERR_INVALID, err, errlen, "no messages, or an invalid temperature");
        return -1;
    }
    return 0;
}

/* <url>/chat/completions, with the base URL's trailing slashes dropped. Caller frees. */
static char *endpoint_url(const char *base)
{
    size_t len = strlen(base);
    char *url = NULL;
    while (len > 0 && base[len - 1] == '/')
        len--;
    return asprintf(&url, "%.*s/chat/completions", (int)len, base) < 0 ? NULL : url;
}

static char *request_body(const struct llm_config *config, const json_t *messages)
{
    json_t *body = json_pack("{s:s, s:O, s:f, s:b}", "model", config->model, "messages", messages,
                             "temperature", config->temperature, "stream", 0);
    if (!body)
        return NULL;
    if (config->max_tokens > 0 &&
        json_object_set_new(body, "max_tokens", json_integer(config->max_tokens)) != 0) {
        json_decref(body);
        return NULL;
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

/* Every option that bounds or restricts the transfer. */
static int setup_handle(CURL *curl, const struct llm_config *config, const char *url,
                        const char *body, struct curl_slist *headers, struct body_buf *buf,
                        char *curl_err)
{
    long timeout = config->timeout_ms > 0 ? config->timeout_ms : LLM_DEFAULT_TIMEOUT_MS;
    long connect = timeout < LLM_MAX_CONNECT_TIMEOUT_MS ? timeout : LLM_MAX_CONNECT_TIMEOUT_MS;
    int rc = 0;
    rc |= curl_easy_setopt(curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    rc |= curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    rc |= curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    rc |= curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    rc |= curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* worker threads: no SIGALRM */
    rc |= curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout);
    rc |= curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect);
    rc |= curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)LLM_MAX_RESPONSE);
    rc |= curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    rc |= curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    rc |= curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    rc |= curl_easy_setopt(curl, CURLOPT_USERAGENT, "quarry/" QUARRY_VERSION);
    rc |= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    rc |= curl_easy_setopt(curl, CURLOPT_WRITEDATA, buf);
    rc |= curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    if (config->api_key && config->api_key[0]) {
        /* libcurl writes "Authorization: Bearer <key>" itself; it never reaches our logs. */
        rc |= curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        rc |= curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, config->api_key);
    }
    return rc == CURLE_OK ? 0 : -1;
}

static void transfer_failed(CURLcode code, const struct body_buf *buf, const char *curl_err,
                            const struct llm_config *config, int *status, char *err, size_t errlen)
{
    char *detail =
        clean_text(curl_err[0] ? curl_err : curl_easy_strerror(code),
                   strlen(curl_err[0] ? curl_err : curl_easy_strerror(code)), LLM_MAX_DETAIL);
    if (detail)
        scrub(detail, config->api_key);
    const char *why = detail ? detail : "?";
    if (buf->too_large || code == CURLE_FILESIZE_EXCEEDED)
        fail(status, LLM_ERR_RESPONSE, err, errlen,
             "the LLM endpoint's answer is larger than %d bytes", LLM_MAX_RESPONSE);
    else if (code == CURLE_OPERATION_TIMEDOUT)
        fail(status, LLM_ERR_TIMEOUT, err, errlen, "the LLM endpoint did not answer in time: %s",
             why);
    else if (code == CURLE_OUT_OF_MEMORY || code == CURLE_WRITE_ERROR)
        fail(status, LLM_ERR_NOMEM, err, errlen, "out of memory reading the LLM's answer");
    else if (code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT)
        fail(status, LLM_ERR_INVALID, err, errlen, "the LLM endpoint URL is not usable: %s", why);
    else
        fail(status, LLM_ERR_CONNECT, err, errlen, "cannot reach the LLM endpoint: %s", why);
    free(detail);
}

/* The endpoint's own error message: {"error": {"message"}}, {"error": "..."}, {"message"}. */
static char *error_detail(const struct body_buf *buf, const char *api_key)
{
    json_t *root = buf->data ? json_loadb(buf->data, buf->len, 0, NULL) : NULL;
    const char *msg = NULL;
    json_t *e = json_object_get(root, "error");
    if (json_is_string(e))
        msg = json_string_value(e);
    else if (json_is_string(json_object_get(e, "message")))
        msg = json_string_value(json_object_get(e, "message"));
    else if (json_is_string(json_object_get(root, "message")))
        msg = json_string_value(json_object_get(root, "message"));
    else if (!root && buf->data)
        msg = buf->data;
    char *detail = clean_text(msg ? msg : "", msg ? strlen(msg) : 0, LLM_MAX_DETAIL);
    json_decref(root);
    if (detail)
        scrub(detail, api_key);
    return detail;
}

/* choices[0].message.content of a 200 answer. */
static char *completion_content(const struct body_buf *buf, int *status, char *err, size_t errlen)
{
    json_t *root = buf->data ? json_loadb(buf->data, buf->len, 0, NULL) : NULL;
    const char *content = NULL;
    size_t len = 0;
    char *out = NULL;
    if (!root) {
        fail(status, LLM_ERR_RESPONSE, err, errlen, "the LLM endpoint's answer is not JSON");
        return NULL;
    }
    if (json_unpack(root, "{s:[{s:{s:s%}}]}", "choices", "message", "content", &content, &len) !=
        0) {
        fail(status, LLM_ERR_RESPONSE, err, errlen,
             "the LLM endpoint's answer holds no choices[0].message.content text");
    } else if (!(out = strndup(content, len))) {
        fail(status, LLM_ERR_NOMEM, err, errlen, "out of memory");
    } else if (status) {
        *status = LLM_OK;
    }
    json_decref(root);
    return out;
}

static char *perform(CURL *curl, const struct llm_config *config, struct body_buf *buf,
                     const char *curl_err, int *status, char *err, size_t errlen)
{
    CURLcode code = curl_easy_perform(curl);
    long http_status = 0;
    if (code != CURLE_OK) {
        transfer_failed(code, buf, curl_err, config, status, err, errlen);
        return NULL;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_status);
    if (http_status != 200) {
        char *detail = error_detail(buf, config->api_key);
        fail(status, LLM_ERR_HTTP, err, errlen, "the LLM endpoint answered HTTP %ld%s%s",
             http_status, detail && detail[0] ? ": " : "", detail ? detail : "");
        free(detail);
        return NULL;
    }
    return completion_content(buf, status, err, errlen);
}

char *llm_chat_json(const struct llm_config *config, const json_t *messages, int *status, char *err,
                    size_t errlen)
{
    char curl_err[CURL_ERROR_SIZE] = "";
    struct body_buf buf = {0};
    struct curl_slist *headers = NULL, *h;
    char *url = NULL, *body = NULL, *out = NULL;
    CURL *curl = NULL;

    if (err && errlen)
        err[0] = '\0';
    if (valid_config(config, messages, status, err, errlen) != 0)
        return NULL;
    url = endpoint_url(config->url);
    body = request_body(config, messages);
    curl = curl_easy_init();
    /* "Expect:" stops libcurl from waiting for a 100-continue some servers never send. */
    static const char *const header_lines[] = {"Content-Type: application/json",
                                               "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof(header_lines) / sizeof(header_lines[0]); i++) {
        if (!(h = curl_slist_append(headers, header_lines[i])))
            break;
        headers = h;
    }
    if (!url || !body || !curl || !headers) {
        fail(status, LLM_ERR_NOMEM, err, errlen, "out of memory preparing the LLM request");
        goto out;
    }
    if (setup_handle(curl, config, url, body, headers, &buf, curl_err) != 0) {
        fail(status, LLM_ERR_INVALID, err, errlen, "libcurl refused an option of the request");
        goto out;
    }
    out = perform(curl, config, &buf, curl_err, status, err, errlen);
out:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(buf.data);
    free(body);
    free(url);
    return out;
}

char *llm_chat(const struct llm_config *config, const struct llm_message *messages, size_t n,
               char *err, size_t errlen)
{
    json_t *array = json_array();
    char *out = NULL;
    int ok = array != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *m = json_pack("{s:s, s:s}", "role", messages[i].role ? messages[i].role : "",
                              "content", messages[i].content ? messages[i].content : "");
        ok = m && json_array_append_new(array, m) == 0;
    }
    if (ok)
        out = llm_chat_json(config, array, NULL, err, errlen);
    else if (err && errlen)
        snprintf(err, errlen, "a message is not valid UTF-8 (or out of memory)");
    json_decref(array);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Extracting the SQL                                                       */
/* ------------------------------------------------------------------------ */

static int is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A copy without <think>...</think> reasoning (an unclosed one runs to the end). */
static char *strip_think(const char *text)
{
    size_t len = strlen(text), o = 0;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    const char *p = text;
    for (;;) {
        const char *open = strstr(p, "<think>");
        const char *stop = open ? open : p + strlen(p);
        memcpy(out + o, p, (size_t)(stop - p));
        o += (size_t)(stop - p);
        if (!open)
            break;
        const char *close = strstr(open, "</think>");
        if (!close)
            break;
        p = close + strlen("</think>");
    }
    out[o] = '\0';
    return out;
}

/* Trims whitespace, trailing semicolons and stray backticks; NULL (freed) when nothing is left. */
static char *trim_sql(char *sql)
{
    if (!sql)
        return NULL;
    size_t start = 0, end = strlen(sql);
    while (start < end && (is_blank((unsigned char)sql[start]) || sql[start] == '`'))
        start++;
    while (end > start &&
           (is_blank((unsigned char)sql[end - 1]) || sql[end - 1] == ';' || sql[end - 1] == '`'))
        end--;
    if (end == start) {
        free(sql);
        return NULL;
    }
    memmove(sql, sql + start, end - start);
    sql[end - start] = '\0';
    return sql;
}

static int sql_info_string(const char *info, size_t len)
{
    static const char *const langs[] = {"sql",   "postgresql", "postgres", "pgsql",
                                        "mysql", "mariadb",    "sqlite",   NULL};
    while (len > 0 && is_blank((unsigned char)info[len - 1]))
        len--;
    for (const char *const *l = langs; *l; l++)
        if (strlen(*l) == len && strncasecmp(info, *l, len) == 0)
            return 1;
    return 0;
}

/* The first fenced block (only ```sql-like ones when `sql_only`); its content, or NULL. */
static char *fenced_block(const char *text, int sql_only)
{
    const char *p = text;
    const char *open;
    while ((open = strstr(p, "```")) != NULL) {
        const char *info = open + 3;
        const char *eol = strchr(info, '\n');
        const char *close;
        if (!eol) /* an inline ```...``` block or an unclosed fence on the last line */
            return sql_only ? NULL : strndup(info, strcspn(info, "`"));
        close = strstr(eol + 1, "```");
        if (!sql_only || sql_info_string(info, (size_t)(eol - info)))
            return close ? strndup(eol + 1, (size_t)(close - eol - 1)) : strdup(eol + 1);
        if (!close)
            return NULL;
        p = close + 3;
    }
    return NULL;
}

static int word_at(const char *text, const char *p, const char *word, int any_case)
{
    size_t n = strlen(word);
    if (p > text && is_word_char((unsigned char)p[-1]))
        return 0;
    if ((any_case ? strncasecmp(p, word, n) : strncmp(p, word, n)) != 0)
        return 0;
    return !is_word_char((unsigned char)p[n]);
}

static const char *skip_blanks(const char *p)
{
    while (is_blank((unsigned char)*p))
        p++;
    return p;
}

/* "WITH [RECURSIVE] name [(cols)] AS (" at p: a CTE, not the English word. */
static int cte_at(const char *text, const char *p, int any_case)
{
    if (!word_at(text, p, "WITH", any_case))
        return 0;
    const char *q = skip_blanks(p + 4);
    if (word_at(text, q, "RECURSIVE", 1))
        q = skip_blanks(q + 9);
    if (*q == '"' || *q == '`') {
        const char *end = strchr(q + 1, *q);
        if (!end)
            return 0;
        q = end + 1;
    } else {
        const char *start = q;
        while (is_word_char((unsigned char)*q))
            q++;
        if (q == start)
            return 0;
    }
    q = skip_blanks(q);
    if (*q == '(') {
        q = strchr(q, ')');
        if (!q)
            return 0;
        q++;
    }
    q = skip_blanks(q);
    if (!word_at(text, q, "AS", 1))
        return 0;
    q = skip_blanks(q + 2);
    return *q == '(' || word_at(text, q, "NOT", 1) || word_at(text, q, "MATERIALIZED", 1);
}

static const char *find_query_start(const char *text, int any_case)
{
    for (const char *p = text; *p; p++)
        if ((word_at(text, p, "SELECT", any_case) &&
             (is_blank((unsigned char)p[6]) || p[6] == '(' || p[6] == '*')) ||
            cte_at(text, p, any_case))
            return p;
    return NULL;
}

/* A line of nothing but spaces after the newline at p: the SQL ended, prose follows. */
static int blank_line_follows(const char *p)
{
    for (p++; *p == ' ' || *p == '\t' || *p == '\r'; p++)
        ;
    return *p == '\n';
}

/* From a SELECT or WITH to the first ';' outside quotes, a blank line, or a fence. */
static char *bare_sql(const char *text)
{
    const char *start = find_query_start(text, 0); /* SQL keywords are usually upper case */
    if (!start)
        start = find_query_start(text, 1);
    if (!start)
        return NULL;
    char quote = 0;
    const char *p = start;
    for (; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == ';' || strncmp(p, "```", 3) == 0) {
            break;
        } else if (*p == '\n' && blank_line_follows(p)) {
            break;
        }
    }
    return strndup(start, (size_t)(p - start));
}

char *llm_extract_sql(const char *completion)
{
    if (!completion)
        return NULL;
    char *text = strip_think(completion);
    if (!text)
        return NULL;
    char *sql = trim_sql(fenced_block(text, 1));
    if (!sql)
        sql = trim_sql(fenced_block(text, 0));
    if (!sql)
        sql = trim_sql(bare_sql(text));
    free(text);
    return sql;
}

/* ------------------------------------------------------------------------ */
/* The text-to-SQL prompt                                                   */
/* ------------------------------------------------------------------------ */

struct dialect_prompt {
    const char *name;
    const char *display;
    const char *quote;
    const char *notes;
};

static const struct dialect_prompt dialect_prompts[] = {
    {"postgresql", "PostgreSQL", "\"",
     "- Use ILIKE for case-insensitive matching, and interval arithmetic for dates "
     "(now() - interval '30 days').\n"},
    {"mysql", "MySQL/MariaDB", "`", "- Use DATE_SUB/DATE_ADD and CURDATE() for date arithmetic.\n"},
    {"sqlite", "SQLite", "\"",
     "- Dates are stored as text: use date(), datetime() and strftime() to compare them.\n"},
};

static const struct dialect_prompt *dialect_prompt_find(const char *dialect)
{
    for (size_t i = 0; i < sizeof(dialect_prompts) / sizeof(dialect_prompts[0]); i++)
        if (dialect && strcasecmp(dialect, dialect_prompts[i].name) == 0)
            return &dialect_prompts[i];
    return NULL;
}

/* Appends {"role", "content"} with `content` cleaned to at most `max` bytes. */
static int add_message(json_t *array, const char *role, const char *content, size_t max)
{
    char *clean = clean_text(content, strlen(content), max);
    json_t *m = clean ? json_pack("{s:s, s:s}", "role", role, "content", clean) : NULL;
    free(clean);
    return m ? json_array_append_new(array, m) : -1;
}

/* The system message: dialect, rules, extra instructions, schema. Caller frees. */
static char *system_text(const struct llm_prompt *p)
{
    const struct dialect_prompt *d = dialect_prompt_find(p->dialect);
    char *text = NULL, *schema = NULL, *instructions = NULL;
    char limit_rule[128] = "";
    const char *sch = p->schema_text ? p->schema_text : "";
    const char *ins = p->instructions ? p->instructions : "";
    schema = clean_text(sch, strlen(sch), LLM_MAX_PROMPT_TEXT);
    instructions = clean_text(ins, strlen(ins), LLM_MAX_PROMPT_TEXT);
    if (p->row_limit > 0)
        snprintf(limit_rule, sizeof(limit_rule),
                 "- Unless the question asks for one value or an aggregate, add LIMIT %ld.\n",
                 p->row_limit);
    int rc =
        schema && instructions
            ? asprintf(&text,
                       "You translate questions into SQL for a %s database.\n"
                       "Rules:\n"
                       "- Answer with exactly one read-only query: a single SELECT "
                       "(WITH ... SELECT is fine). Never write or change data or schema: no "
                       "INSERT, UPDATE, DELETE, MERGE, CREATE, DROP, ALTER, COPY, "
                       "SELECT ... INTO, FOR UPDATE.\n"
                       "- Do not call functions that read files, sleep or take locks.\n"
                       "- Use only the tables and columns of the schema below; qualify "
                       "columns with their table when the query joins tables.\n"
                       "- Quote identifiers with %s when they are mixed case, reserved "
                       "words or contain spaces.\n"
                       "- In string literals, escape a quote by doubling it ('').\n"
                       "%s%s"
                       "- Put the query in one ```sql fenced block, with no explanation.\n"
                       "%s%s"
                       "\nSchema:\n%s\n",
                       d ? d->display : (p->dialect ? p->dialect : "SQL"), d ? d->quote : "\"",
                       limit_rule, d ? d->notes : "",
                       instructions[0] ? "\nAdditional instructions:\n" : "", instructions, schema)
            : -1;
    free(schema);
    free(instructions);
    return rc < 0 ? NULL : text;
}

static int add_sql_answer(json_t *array, const char *sql)
{
    char *fenced = NULL;
    char *clean = clean_text(sql, strlen(sql), LLM_MAX_PROMPT_TEXT);
    int rc = clean && asprintf(&fenced, "```sql\n%s\n```", clean) >= 0
                 ? add_message(array, "assistant", fenced, LLM_MAX_PROMPT_TEXT + 16)
                 : -1;
    free(fenced);
    free(clean);
    return rc;
}

static int add_question(json_t *array, const char *question)
{
    char *text = NULL;
    char *clean = clean_text(question, strlen(question), LLM_MAX_PROMPT_TEXT);
    int rc = clean && asprintf(&text, "Question: %s", clean) >= 0
                 ? add_message(array, "user", text, LLM_MAX_PROMPT_TEXT + 16)
                 : -1;
    free(text);
    free(clean);
    return rc;
}

static int add_examples(json_t *array, const json_t *examples)
{
    size_t i, used = 0;
    const json_t *ex;
    if (!json_is_array(examples))
        return 0;
    json_array_foreach(examples, i, ex)
    {
        const char *q = NULL, *sql = NULL;
        if (used == LLM_MAX_EXAMPLES)
            break;
        if (json_unpack((json_t *)ex, "{s:s, s:s}", "question", &q, "sql", &sql) != 0 || !q[0] ||
            !sql[0])
            continue;
        if (add_question(array, q) != 0 || add_sql_answer(array, sql) != 0)
            return -1;
        used++;
    }
    return 0;
}

static int add_retry(json_t *array, const char *failed_sql, const char *db_error)
{
    char *text = NULL;
    char *error = db_error ? clean_text(db_error, strlen(db_error), LLM_MAX_ERROR_TEXT) : NULL;
    int rc = add_sql_answer(array, failed_sql);
    if (rc == 0)
        rc = asprintf(&text,
                      "The database rejected that query%s%s\nWrite a corrected query for the same "
                      "question.",
                      error ? " with this error:\n" : ".", error ? error : "") < 0
                 ? -1
                 : add_message(array, "user", text, LLM_MAX_PROMPT_TEXT);
    free(text);
    free(error);
    return rc;
}

json_t *llm_prompt_text2sql(const struct llm_prompt *p)
{
    if (!p || !p->question || !p->question[0])
        return NULL;
    json_t *array = json_array();
    char *system = system_text(p);
    int rc = array && system ? add_message(array, "system", system, 3 * LLM_MAX_PROMPT_TEXT) : -1;
    if (rc == 0)
        rc = add_examples(array, p->examples);
    if (rc == 0)
        rc = add_question(array, p->question);
    if (rc == 0 && p->failed_sql && p->failed_sql[0])
        rc = add_retry(array, p->failed_sql, p->db_error);
    free(system);
    if (rc != 0) {
        json_decref(array);
        return NULL;
    }
    return array;
}
