/*
 * Load-time planning after shape inference: graph rewrites (BatchNormalization folded into the
 * preceding Conv/ConvTranspose, activations and residual Adds fused into the convolution
 * epilogue), removal of nodes whose results nobody reads, the execution order, and the memory
 * plan: every runtime tensor gets an offset in one per-context arena, tensors whose lifetimes
 * (definition step .. last use step) do not overlap share memory. Sizes are taken at the
 * maximum batch so nn_run() never allocates.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

#define ALIGN_FLOATS 16

static int is_act(enum op op)
{
	return op == OP_RELU || op == OP_LEAKY || op == OP_SIGMOID || op == OP_TANH ||
	       op == OP_CLIP || op == OP_HSWISH || op == OP_HSIGMOID;
}

/* Counts consumers of every value among live nodes (graph outputs count as a use). */
static void count_uses(struct nn_model *m)
{
	for (int v = 0; v < m->nvals; v++)
		m->vals[v].nuses = m->vals[v].is_output ? 1 : 0;
	for (int i = 0; i < m->nnodes; i++) {
		struct nn_node *n = &m->nodes[i];
		if (n->dead)
			continue;
		for (int k = 0; k < n->nin; k++)
			if (n->in[k] >= 0)
				m->vals[n->in[k]].nuses++;
	}
}

/* Gives each convolution its own copy of weights and bias. */
static int own_weights(struct nn_model *m, struct nn_node *n)
{
	const struct nn_val *w = &m->vals[n->in[1]];
	const struct nn_val *y = &m->vals[n->out[0]];
	int64_t M = y->dims[1];
	n->p.wt = malloc(sizeof(float) * (size_t)w->nelem);
	n->p.bias = calloc((size_t)M, sizeof(float));
	if (!n->p.wt || !n->p.bias)
		return NN_ENOMEM;
	memcpy(n->p.wt, w->f, sizeof(float) * (size_t)w->nelem);
	if (n->nin > 2 && n->in[2] >= 0)
		memcpy(n->p.bias, m->vals[n->in[2]].f, sizeof(float) * (size_t)M);
	return 0;
}

/* Folds the BN node b into convolution c (PS: y = s*(Wx+b) + t). */
static void fold_bn(struct nn_model *m, struct nn_node *c, struct nn_node *b)
{
	const struct nn_val *w = &m->vals[c->in[1]];
	int64_t M = m->vals[c->out[0]].dims[1];
	if (c->op == OP_CONV) {
		int64_t per = w->nelem / M;
		for (int64_t o = 0; o < M; o++)
			for (int64_t k = 0; k < per; k++)
				c->p.wt[o * per + k] *= b->p.scale[o];
	} else {
		/* ConvTranspose weights [C, M/G, kh, kw]; output channel o = g*(M/G) + j */
		int64_t C = w->dims[0], mg = w->dims[1], ks = w->nelem / (C * mg);
		int64_t cg = C / c->p.group;
		for (int64_t ci = 0; ci < C; ci++) {
			int64_t g = ci / cg;
			for (int64_t j = 0; j < mg; j++)
				for (int64_t k = 0; k < ks; k++)
					c->p.wt[(ci * mg + j) * ks + k] *= b->p.scale[g * mg + j];
		}
	}
	for (int64_t o = 0; o < M; o++)
		c->p.bias[o] = c->p.bias[o] * b->p.scale[o] + b->p.shift[o];
}

/* the live convolution producing value v alone (v read by nobody else), or NULL */
static struct nn_node *sole_conv(struct nn_model *m, int v)
{
	if (v < 0)
		return NULL;
	struct nn_val *x = &m->vals[v];
	if (x->producer < 0 || x->nuses != 1 || x->is_output)
		return NULL;
	struct nn_node *c = &m->nodes[x->producer];
	if (c->dead || (c->op != OP_CONV && c->op != OP_CONVT) || c->out[0] != v)
		return NULL;
	return c;
}

/* moves node c to just before position pn in the order (c is earlier) */
static void move_to(struct nn_model *m, int ci, int pn)
{
	int pc = -1;
	for (int j = 0; j < m->nnodes; j++)
		if (m->order[j] == ci)
			pc = j;
	for (int j = pc; j < pn; j++)
		m->order[j] = m->order[j + 1];
	m->order[pn] = ci;
}

static int fuse(struct nn_model *m)
{
	int rc;
	for (int k = 0; k < m->nnodes; k++) {
		struct nn_node *n = &m->nodes[m->order[k]];
		if (!n->dead && (n->op == OP_CONV || n->op == OP_CONVT) &&
		    (rc = own_weights(m, n)) < 0)
			return rc;
	}
	count_uses(m);
	for (int k = 0; k < m->nnodes; k++) {
		struct nn_node *n = &m->nodes[m->order[k]];
		if (n->dead || n->nin < 1 || n->in[0] < 0)
			continue;
		struct nn_node *c = sole_conv(m, n->in[0]);
		int moved = 0;
		if (n->op == OP_ADD && n->nin == 2) {
			/* y = conv(..) + r  ->  conv epilogue adds r (or an upsampled source) */
			int side = 0;
			if (!c || c->op != OP_CONV || c->p.act != ACT_NONE || c->p.sum_in) {
				c = sole_conv(m, n->in[1]);
				side = 1;
			}
			if (!c || c->op != OP_CONV || c->p.act != ACT_NONE || c->p.sum_in)
				continue;
			int rv = n->in[1 - side];
			if (rv < 0 || rv == c->out[0])
				continue;
			struct nn_val *x = &m->vals[c->out[0]], *r = &m->vals[rv];
			const struct nn_val *y = &m->vals[n->out[0]];
			if (r->is_const || y->nelem != x->nelem || r->batched != x->batched ||
			    x->ndim != 4)
				continue;
			int src = rv, fh = 0, fw = 0;
			struct nn_node *rs = r->producer >= 0 ? &m->nodes[r->producer] : NULL;
			if (rs && !rs->dead && (rs->op == OP_RESIZE || rs->op == OP_UPSAMPLE) &&
			    rs->p.rep_h && r->nuses == 1 && !r->is_output) {
				src = rs->in[0];
				fh = rs->p.rep_h;
				fw = rs->p.rep_w;
			} else if (r->nelem != x->nelem || r->ndim != x->ndim) {
				continue;
			}
			c->in[c->nin++] = src;
			c->p.sum_in = 1;
			c->p.sum_fh = fh;
			c->p.sum_fw = fw;
			if (fh) {
				rs->dead = 1;
				r->nuses = 0;
			}
			moved = 1;
		} else if (!c) {
			continue;
		} else if (n->op == OP_BN && c->p.act == ACT_NONE && !c->p.sum_in &&
			   m->vals[n->in[0]].ndim >= 2) {
			fold_bn(m, c, n);
		} else if (is_act(n->op) && c->p.act == ACT_NONE) {
			c->p.act = n->p.act;
			c->p.a0 = n->p.a0;
			c->p.a1 = n->p.a1;
		} else {
			continue;
		}
		/* c now produces n's output directly */
		m->vals[c->out[0]].nuses = 0;
		c->out[0] = n->out[0];
		m->vals[n->out[0]].producer = (int)(c - m->nodes);
		n->dead = 1;
		if (moved) {
			/* the summand is ready only at n: run c in n's place */
			move_to(m, (int)(c - m->nodes), k);
		}
	}
	return 0;
}

/* Marks nodes whose outputs reach no graph output as dead. */
static void prune(struct nn_model *m)
{
	char *need = calloc(m->nvals, 1);
	if (!need)
		return; /* keeping dead nodes alive is harmless */
	for (int i = 0; i < m->noutputs; i++)
		need[m->outputs[i]] = 1;
	for (int k = m->nnodes - 1; k >= 0; k--) {
		struct nn_node *n = &m->nodes[m->order[k]];
		if (n->dead)
			continue;
		int used = 0;
		for (int j = 0; j < n->nout; j++)
			if (n->out[j] >= 0 && need[n->out[j]])
				used = 1;
		if (!used) {
			n->dead = 1;
			continue;
		}
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] >= 0)
				need[n->in[j]] = 1;
	}
	free(need);
}

struct slot {
	int64_t off, size;
	int first, last;
};

static int cmp_size(const void *a, const void *b, void *ctx, int per_item)
{
	const struct nn_model *m = ctx;
	int x = *(const int *)a, y = *(const int *)b;
	int64_t sx = per_item ? m->vals[x].size1 : m->vals[x].size;
	int64_t sy = per_item ? m->vals[y].size1 : m->vals[y].size;
	if (sx != sy)
		return sx > sy ? -1 : 1;
	return x - y;
}

static int cmp_off(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* simple insertion sort with context (qsort_r is not C11) */
static void sort_vals(int *v, int n, struct nn_model *m, int per_item)
{
	for (int i = 1; i < n; i++) {
		int x = v[i], j = i - 1;
		while (j >= 0 && cmp_size(&v[j], &x, m, per_item) > 0) {
			v[j + 1] = v[j];
			j--;
		}
		v[j + 1] = x;
	}
}

/*
 * Greedy placement by decreasing size: each tensor goes at the lowest offset that overlaps no
 * tensor whose lifetime overlaps its own. per_item = 0: sizes at the maximum batch (off,
 * arena_floats); 1: sizes of one item (off1, arena1_floats), for item-by-item execution.
 */
static int place(struct nn_model *m, int per_item)
{
	int *list = malloc(sizeof(int) * (m->nvals ? m->nvals : 1));
	struct slot *placed = malloc(sizeof *placed * (m->nvals ? m->nvals : 1));
	struct slot *tmp = malloc(sizeof *tmp * (m->nvals ? m->nvals : 1));
	if (!list || !placed || !tmp) {
		free(list);
		free(placed);
		free(tmp);
		return NN_ENOMEM;
	}
	int nl = 0, np = 0;
	for (int v = 0; v < m->nvals; v++)
		if (m->vals[v].planned)
			list[nl++] = v;
	sort_vals(list, nl, m, per_item);
	int64_t top = 0;
	for (int i = 0; i < nl; i++) {
		struct nn_val *v = &m->vals[list[i]];
		int64_t size = per_item ? v->size1 : v->size;
		int nt = 0;
		for (int j = 0; j < np; j++)
			if (!(placed[j].last < v->first || placed[j].first > v->last))
				tmp[nt++] = placed[j];
		qsort(tmp, nt, sizeof *tmp, cmp_off);
		int64_t off = 0;
		for (int j = 0; j < nt; j++) {
			if (tmp[j].off >= off + size)
				break;
			if (tmp[j].off + tmp[j].size > off)
				off = tmp[j].off + tmp[j].size;
		}
		if (per_item)
			v->off1 = off;
		else
			v->off = off;
		placed[np++] = (struct slot){off, size, v->first, v->last};
		if (off + size > top)
			top = off + size;
	}
	if (per_item)
		m->arena1_floats = top + 64;
	else
		m->arena_floats = top;
	free(list);
	free(placed);
	free(tmp);
	return 0;
}

int nn_plan(struct nn_loadctx *lc)
{
	struct nn_model *m = lc->m;
	int rc;
	for (int i = 0; i < m->nnodes; i++)
		if (!m->nodes[i].dead)
			m->flops += m->nodes[i].p.flops;
	if ((rc = fuse(m)) < 0)
		return rc;
	prune(m);
	m->exec = malloc(sizeof(int) * (m->nnodes ? m->nnodes : 1));
	if (!m->exec)
		return NN_ENOMEM;
	m->nexec = 0;
	for (int k = 0; k < m->nnodes; k++)
		if (!m->nodes[m->order[k]].dead)
			m->exec[m->nexec++] = m->order[k];
	for (int v = 0; v < m->nvals; v++) {
		m->vals[v].first = -1;
		m->vals[v].last = -1;
		m->vals[v].off = -1;
	}
	int64_t scratch = 0;
	for (int s = 0; s < m->nexec; s++) {
		struct nn_node *n = &m->nodes[m->exec[s]];
		for (int k = 0; k < n->nin; k++)
			if (n->in[k] >= 0)
				m->vals[n->in[k]].last = s;
		for (int k = 0; k < n->nout; k++) {
			if (n->out[k] < 0)
				continue;
			struct nn_val *v = &m->vals[n->out[k]];
			v->first = s;
			if (v->last < s)
				v->last = s;
			v->size = (v->nelem * (v->batched ? m->max_batch : 1) + ALIGN_FLOATS - 1) /
				  ALIGN_FLOATS * ALIGN_FLOATS;
			v->size1 = (v->nelem + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
			v->planned = 1;
		}
		if (n->op == OP_CONV || n->op == OP_CONVT) {
			const struct nn_val *x = &m->vals[n->in[0]], *y = &m->vals[n->out[0]];
			int sp2 = x->ndim == 4;
			int64_t sc = nn_conv_scratch(&n->p, (int)x->dims[1], (int)y->dims[1],
						     sp2 ? (int)y->dims[2] : 1,
						     (int)y->dims[sp2 ? 3 : 2],
						     sp2 ? (int)x->dims[2] : 1,
						     (int)x->dims[sp2 ? 3 : 2], n->op == OP_CONVT);
			if (sc > scratch)
				scratch = sc;
		}
	}
	for (int i = 0; i < m->noutputs; i++)
		m->vals[m->outputs[i]].last = m->nexec;
	if ((rc = place(m, 0)) < 0 || (rc = place(m, 1)) < 0)
		return rc;
	m->item_ok = m->vals[m->input].batched;
	for (int i = 0; i < m->noutputs; i++)
		if (!m->vals[m->outputs[i]].batched)
			m->item_ok = 0;
	/* fast convolution path where the CPU has it */
	for (int s = 0; s < m->nexec && nn_fast_available(); s++) {
		struct nn_node *n = &m->nodes[m->exec[s]];
		if (n->op != OP_CONV)
			continue;
		const struct nn_val *x = &m->vals[n->in[0]], *y = &m->vals[n->out[0]];
		int sp2 = x->ndim == 4;
		int c = (int)x->dims[1];
		if ((rc = nn_fast_setup(&n->p, c, sp2 ? (int)x->dims[2] : 1,
					(int)x->dims[sp2 ? 3 : 2], (int)y->dims[1],
					sp2 ? (int)y->dims[2] : 1, (int)y->dims[sp2 ? 3 : 2],
					x->batched ? m->max_batch : (int)x->dims[0])) < 0)
			return rc;
		if (!n->p.fast)
			continue;
		if (n->p.direct_in && x->off < 0)
			n->p.direct_in = 0; /* never read past the caller's buffer */
		int64_t sc = nn_fast_scratch(&n->p);
		if (sc > scratch)
			scratch = sc;
	}
	m->scratch_floats = scratch;
	m->arena_floats += 64; /* slack: the fast path may read up to a tile past a tensor */
	return 0;
}
