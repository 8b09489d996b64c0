/*
 * A small fork-join thread pool owned by one nn_ctx: nn_pool_run(pool, fn, arg, ntasks) runs
 * fn(arg, 0..ntasks-1) on the caller plus the pool's workers and returns when all are done.
 * fn also gets the index of the thread running it (0 = the caller, < nn_pool_threads()).
 * Tasks are claimed with an atomic counter. Idle workers spin briefly (a run is a sequence
 * of short parallel sections) and then sleep on a condition variable.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "nn/nn_impl.h"

struct nn_pool {
	int nthreads;           /* workers, not counting the caller */
	pthread_t *th;
	struct worker_arg *wa;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_int gen;         /* bumped for every job */
	atomic_int next;        /* next task to claim */
	atomic_int done;        /* tasks finished */
	atomic_int sleepers;
	int ntasks;
	void (*fn)(void *, int, int);
	void *arg;
	atomic_int quit;
};

static void work(struct nn_pool *p, int tid)
{
	for (;;) {
		int t = atomic_fetch_add(&p->next, 1);
		if (t >= p->ntasks)
			break;
		p->fn(p->arg, t, tid);
		atomic_fetch_add(&p->done, 1);
	}
}

struct worker_arg {
	struct nn_pool *p;
	int tid;
};

static void *worker(void *arg)
{
	struct nn_pool *p = ((struct worker_arg *)arg)->p;
	int tid = ((struct worker_arg *)arg)->tid;
	int seen = 0;
	for (;;) {
		int spins = 0;
		while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit)) {
			if (++spins < 20000) {
#if defined(__x86_64__)
				__builtin_ia32_pause();
#endif
				continue;
			}
			pthread_mutex_lock(&p->mu);
			atomic_fetch_add(&p->sleepers, 1);
			while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit))
				pthread_cond_wait(&p->cv, &p->mu);
			atomic_fetch_sub(&p->sleepers, 1);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load(&p->quit))
			return NULL;
		seen = atomic_load(&p->gen);
		work(p, tid);
	}
}

struct nn_pool *nn_pool_new(int nthreads)
{
	if (nthreads < 1)
		return NULL;
	struct nn_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->th = calloc((size_t)nthreads, sizeof(pthread_t));
	p->wa = calloc((size_t)nthreads, sizeof *p->wa);
	if (!p->th || !p->wa) {
		free(p->th);
		free(p->wa);
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (int i = 0; i < nthreads; i++) {
		p->wa[i] = (struct worker_arg){p, i + 1};
		if (pthread_create(&p->th[i], NULL, worker, &p->wa[i]) != 0)
			break;
		p->nthreads++;
	}
	if (p->nthreads == 0) {
		nn_pool_free(p);
		return NULL;
	}
	return p;
}

void nn_pool_free(struct nn_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->quit, 1);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->th[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->th);
	free(p->wa);
	free(p);
}

int nn_pool_threads(const struct nn_pool *p) { return p ? p->nthreads + 1 : 1; }

void nn_pool_run(struct nn_pool *p, void (*fn)(void *, int, int), void *arg, int ntasks)
{
	if (!p || ntasks <= 1) {
		for (int t = 0; t < ntasks; t++)
			fn(arg, t, 0);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	p->ntasks = ntasks;
	atomic_store(&p->done, 0);
	atomic_store(&p->next, 0);
	atomic_fetch_add(&p->gen, 1); /* publishes fn/arg/ntasks (seq_cst) */
	if (atomic_load(&p->sleepers)) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	work(p, 0);
	while (atomic_load(&p->done) < ntasks) {
#if defined(__x86_64__)
		__builtin_ia32_pause();
#endif
	}
}
