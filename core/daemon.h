/* `quarryd serve`: brings the service up, runs it, and shuts it down gracefully. */
#ifndef QUARRY_DAEMON_H
#define QUARRY_DAEMON_H

struct config;

/* Runs until SIGTERM/SIGINT. Returns the process exit status. */
int daemon_run(const struct config *config);

#endif
