/*
 * The two writes an operator may ask for (dicomaidctl reanalyze, retry), on the index's
 * own connection (index_lock), so they are serialised with the committer and the analysis
 * queue (storage/jobs.h). They block on disk: call them from libuv's threadpool, never on
 * the loop. They follow the queue's rules in sql/003_analysis.sql: a series marked due is
 * turned into a pending job by the scheduler once it is quiet; a pending job or delivery is
 * claimed when next_attempt_at has passed.
 */
#ifndef DICOMAID_CTL_ADMIN_H
#define DICOMAID_CTL_ADMIN_H

#include <stdint.h>

#include "storage/index.h"

/*
 * Marks for analysis the series whose Series Instance UID is uid, or every series of the
 * study whose Study Instance UID is uid, documents (SR, PR, KO, SEG, DOC) excepted.
 * *n_series gets how many. Returns 0, -ENOENT when no such series is indexed, or another
 * negative code.
 */
int admin_reanalyze(struct index *ix, const char *uid, int *n_series);

/*
 * Failed analysis jobs and failed deliveries go back to pending with their attempts reset,
 * due at once. *jobs / *deliveries get how many. Returns 0 or a negative code.
 */
int admin_retry(struct index *ix, int64_t now_ms, int *jobs, int *deliveries);

#endif
