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
#include <stdint.h>
#include <stdlib.h>

#include "nn/nn_impl.h"

/*
 * The job state is one atomic word: generation (20 bits), task count (22) and next task to
 * claim (22). A worker claims task t of a job only by a compare-and-swap on the word it read,
 * so it can never mix the tasks of one job with the function of another; fn and arg are
 * written before the word that publishes them and stay valid while any task of that job is
 * unclaimed or running (the caller waits for all of them).
 */
/* pauses a worker spins for before it sleeps (~40 us on a 3 GHz core): long enough to catch the
 * next stage of one run, short enough that on a machine with more runnable threads than cores a
 * waiting worker gives its core back to the one it waits for (20000 halved batch-1 throughput
 * at 2 threads on a loaded 2-core machine) */
#define POOL_SPINS 2000
#define POOL_TASK_BITS 22
#define POOL_TASK_MASK ((1u << POOL_TASK_BITS) - 1)

struct worker_arg {
	struct nn_pool *p;
	int tid;
};

struct nn_pool {
	int nthreads;           /* workers, not counting the caller */
	pthread_t *th;
	struct worker_arg *wa;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	_Atomic uint64_t state; /* gen << 44 | ntasks << 22 | next */
	atomic_int done;        /* tasks finished in the current job */
	atomic_int sleepers;
	void (*fn)(void *, int, int);
	void *arg;
	uint32_t gen;           /* caller only */
	atomic_int quit;
};

static uint32_t state_gen(uint64_t s) { return (uint32_t)(s >> 44); }

static void work(struct nn_pool *p, int tid)
{
	uint64_t s = atomic_load(&p->state);
	for (;;) {
		uint32_t n = (uint32_t)(s >> POOL_TASK_BITS) & POOL_TASK_MASK;
		uint32_t t = (uint32_t)s & POOL_TASK_MASK;
		if (t >= n)
			return;
		if (!atomic_compare_exchange_weak(&p->state, &s, s + 1))
			continue; /* s now holds the current word */
		p->fn(p->arg, (int)t, tid);
		atomic_fetch_add(&p->done, 1);
		s = atomic_load(&p->state);
	}
}

static void *worker(void *arg)
{
	struct nn_pool *p = ((struct worker_arg *)arg)->p;
	int tid = ((struct worker_arg *)arg)->tid;
	uint32_t seen = 0;
	for (;;) {
		int spins = 0;
		while (state_gen(atomic_load(&p->state)) == seen && !atomic_load(&p->quit)) {
			if (++spins < POOL_SPINS) {
#if defined(__x86_64__)
				__builtin_ia32_pause();
#endif
				continue;
			}
			pthread_mutex_lock(&p->mu);
			atomic_fetch_add(&p->sleepers, 1);
			while (state_gen(atomic_load(&p->state)) == seen && !atomic_load(&p->quit))
				pthread_cond_wait(&p->cv, &p->mu);
			atomic_fetch_sub(&p->sleepers, 1);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load(&p->quit))
			return NULL;
		seen = state_gen(atomic_load(&p->state));
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
	if (!p || ntasks <= 1 || ntasks > (int)POOL_TASK_MASK) {
		for (int t = 0; t < ntasks; t++)
			fn(arg, t, 0);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store(&p->done, 0);
	p->gen = (p->gen + 1) & 0xfffff;
	if (p->gen == 0)
		p->gen = 1; /* workers start having seen generation 0 */
	atomic_store(&p->state, (uint64_t)p->gen << 44 | (uint64_t)ntasks << POOL_TASK_BITS);
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
