/*
 * An OpenAI-compatible chat-completions client (hosted APIs, or local
 * servers such as Ollama, llama.cpp, vLLM), and the text-to-SQL prompt.
 *
 * llm_chat* block on libcurl: call them on worker threads only, never on the
 * event loop. The process must have called curl_global_init() before any
 * worker starts (libcurl requires it before threads).
 *
 * The client POSTs <url>/chat/completions with the API key (when given) as
 * "Authorization: Bearer", over http or https only, never following
 * redirects, within `timeout_ms`, and reads at most LLM_MAX_RESPONSE bytes.
 * No error message ever holds the API key or the URL's credentials.
 */
#ifndef QUARRY_LLM_H
#define QUARRY_LLM_H

#include <stddef.h>

#include <jansson.h>

#define LLM_MAX_RESPONSE (1024 * 1024) /* bytes of response body read, at most */
#define LLM_DEFAULT_TIMEOUT_MS 60000
#define LLM_MAX_CONNECT_TIMEOUT_MS 10000
#define LLM_MAX_EXAMPLES 10       /* verified sample queries put in a prompt */
#define LLM_MAX_ERROR_TEXT 2000   /* bytes of a database error fed back */
#define LLM_MAX_PROMPT_TEXT 65536 /* bytes of one prompt input (schema, question, SQL) */

struct llm_config {
    const char *url;     /* base URL, e.g. "http://127.0.0.1:11434/v1" */
    const char *model;   /* required */
    const char *api_key; /* NULL or "": no Authorization header */
    int timeout_ms;      /* whole request; <= 0: LLM_DEFAULT_TIMEOUT_MS */
    int max_tokens;      /* <= 0: not sent (the server's default) */
    double temperature;  /* sent as is; 0 for the most repeatable answers */
};

struct llm_message {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
};

/* Why a call failed, for the caller to pick an HTTP status. */
enum llm_status {
    LLM_OK = 0,
    LLM_ERR_INVALID = 1,  /* bad configuration or arguments: ours */
    LLM_ERR_CONNECT = 2,  /* endpoint unreachable, refused, TLS failure */
    LLM_ERR_TIMEOUT = 3,  /* no complete answer within timeout_ms */
    LLM_ERR_HTTP = 4,     /* the endpoint answered a status other than 200 */
    LLM_ERR_RESPONSE = 5, /* 200, but not a completion we can read (or too large) */
    LLM_ERR_NOMEM = 6
};

/*
 * Sends `n` messages; returns the assistant's content (caller frees), or
 * NULL with the reason in `err` (which may be NULL).
 */
char *llm_chat(const struct llm_config *config, const struct llm_message *messages, size_t n,
               char *err, size_t errlen);

/*
 * The same with `messages` as a JSON array of {"role", "content"} objects
 * (borrowed), such as llm_prompt_text2sql returns. `status` (may be NULL)
 * gets an enum llm_status.
 */
char *llm_chat_json(const struct llm_config *config, const json_t *messages, int *status, char *err,
                    size_t errlen);

/*
 * The SQL in a completion: the first ```sql fenced block, else the first
 * fenced block, else the text from the first SELECT or WITH ... AS ( to the
 * first ';' outside quotes or blank line. Reasoning in <think>...</think> is
 * skipped. Trailing semicolons and whitespace are trimmed. Caller frees;
 * NULL when there is none.
 */
char *llm_extract_sql(const char *completion);

/* What a text-to-SQL prompt is built from; every pointer borrowed, any may be NULL but question. */
struct llm_prompt {
    const char *dialect;      /* "postgresql", "mysql", "sqlite", ... */
    const char *schema_text;  /* the pruned schema, as text */
    const json_t *examples;   /* array of {"question", "sql"}: verified sample queries */
    const char *question;     /* the user's question (required) */
    const char *instructions; /* extra rules from the user or the connection */
    long row_limit;           /* asks for LIMIT n on row-returning queries; 0: none */
    const char *failed_sql;   /* retry: the previous answer ... */
    const char *db_error;     /* ... and the database's error for it */
};

/*
 * The chat messages for a text-to-SQL question, alternating roles as strict
 * chat templates require: a system message (dialect, rules, the schema),
 * one user/assistant pair per example (at most LLM_MAX_EXAMPLES; malformed
 * entries skipped), the question, and for a retry the failed SQL as the
 * assistant's answer followed by the database's error. Text is bounded
 * (LLM_MAX_PROMPT_TEXT, LLM_MAX_ERROR_TEXT) and made valid UTF-8. Returns a
 * new JSON array, or NULL when `prompt` or its question is missing.
 */
json_t *llm_prompt_text2sql(const struct llm_prompt *prompt);

#endif
