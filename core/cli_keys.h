/*
 * `quarryd keys create|list|revoke`: API key management from the command
 * line, on the registry named by the usual options (--registry,
 * QUARRY_REGISTRY, the config file).
 */
#ifndef QUARRY_CLI_KEYS_H
#define QUARRY_CLI_KEYS_H

/*
 * Runs one keys command; `argv` starts at the word after "keys". Returns the
 * process exit status: 0 done, 1 registry or key error, 2 bad usage.
 *
 *   keys create --scope read|write|admin [--agent UUID] [--name NAME]
 *               [--expires-days N]   prints QUARRY_API_KEY=... and
 *                                    QUARRY_API_SECRET=... (the secret only now)
 *   keys list                        prints the keys as a JSON array (no secrets)
 *   keys revoke ID
 */
int cli_keys_main(int argc, char **argv);

#endif
