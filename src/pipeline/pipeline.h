/*
 * Automatic analysis in the daemon: the scheduler that turns complete series into jobs, the
 * worker threads that run the model on them and write the results (SR, GSPS), and the
 * delivery of results to the [destination]s (DESIGN.md, Analysis).
 *
 * Threads: pipeline_start/stop and the scheduler and delivery timers run on the loop thread
 * (their SQLite work goes to libuv's threadpool); each worker is a thread of its own with
 * its own engine context. Results are stored through the storage committer like any
 * received instance, so they are durable and indexed before they are reported done.
 */
#ifndef DICOMAID_PIPELINE_PIPELINE_H
#define DICOMAID_PIPELINE_PIPELINE_H

#include <uv.h>

struct server;
struct store_req;

/* Loads the model and starts the workers and timers (no-op when [analysis] enabled = no;
 * the delivery queue runs either way). Returns 0, or <0 when the model cannot be loaded
 * (the daemon then runs without analysis, logged). */
int pipeline_start(struct server *srv);

/* Stops the timers and aborts deliveries in flight (loop thread, at shutdown). */
void pipeline_stop_loop(struct server *srv);

/* Joins the workers (after the loop has ended; a job in progress finishes first). */
void pipeline_join(void);

/* The path of the bundled model's manifest (installed, else the source tree). */
const char *pipeline_default_model(void);

#endif
