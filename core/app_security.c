#include "app.h"

#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "guard.h"
#include "log.h"
#include "secrets.h"

static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = calloc(1, 65536);
    size_t n = text ? fread(text, 1, 65535, f) : 0;
    fclose(f);
    if (text && n == 0) {
        free(text);
        return NULL;
    }
    return text;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

int app_init_security(struct app *app, const struct config *config)
{
    char err[512];
    char key_file[4096];
    const char *configured = config_str(config, CFG_SECRET_KEY_FILE);
    if (*configured)
        snprintf(key_file, sizeof(key_file), "%s", configured);
    else
        snprintf(key_file, sizeof(key_file), "%s.key", config_str(config, CFG_REGISTRY));
    app->secrets = secrets_open(config_str(config, CFG_SECRET_KEY), key_file, err, sizeof(err));
    if (!app->secrets) {
        log_error("secret key: %s", err);
        return -1;
    }
    app->guard = guard_new(config_str(config, CFG_ALLOW_HOSTS), config_str(config, CFG_DENY_HOSTS),
                           config_str(config, CFG_SQLITE_DIRS), err, sizeof(err));
    if (!app->guard) {
        log_error("target guard: %s", err);
        return -1;
    }
    if (guard_sqlite_unconfined(app->guard))
        log_warn("--sqlite-dirs is unset: sqlite connections may open any file quarryd can read");

    const char *pem_path = nonempty(config_str(config, CFG_JWT_PUBLIC_KEY));
    if (pem_path && !(app->jwt_public_key_pem = read_text_file(pem_path))) {
        log_error("cannot read the JWT public key %s", pem_path);
        return -1;
    }
    app->jwt.hs256_secret = nonempty(config_str(config, CFG_JWT_SECRET));
    app->jwt.public_key_pem = app->jwt_public_key_pem;
    app->jwt.issuer = nonempty(config_str(config, CFG_JWT_ISSUER));
    app->jwt.audience = nonempty(config_str(config, CFG_JWT_AUDIENCE));
    app->jwt.leeway_s = config_long(config, CFG_JWT_LEEWAY);
    return 0;
}

void app_free_security(struct app *app)
{
    secrets_close(app->secrets);
    guard_free(app->guard);
    free(app->jwt_public_key_pem);
    app->secrets = NULL;
    app->guard = NULL;
    app->jwt_public_key_pem = NULL;
}
