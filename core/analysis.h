/*
 * Analysis: connect, introspect, profile bounded samples, classify, build the
 * knowledge graph, verify sample queries, and store it all as the next
 * snapshot version with the captured tables. Runs as a job on a worker.
 */
#ifndef QUARRY_ANALYSIS_H
#define QUARRY_ANALYSIS_H

#include "jobrunner.h"

/* Job kind "analyze": the connection in ctx->connection_id. */
void analysis_job(struct job_context *ctx);

/* Job kind "analyze_batch": payload {"connection_ids": [...]}; one result per connection. */
void analysis_batch_job(struct job_context *ctx);

#endif
