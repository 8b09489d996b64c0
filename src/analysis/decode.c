/*
 * Heat-map peaks to boxes (see decode.h): the CenterNet decoding (Zhou et al., "Objects as
 * Points", 2019): local maxima of the centre map by max-pool NMS, then the size and offset
 * read at the peak's cell, and the type from the type logits (softmax) or the heat channel.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "analysis/decode.h"

static float sigmoidf(float x)
{
	return 1.0f / (1.0f + expf(-x));
}

/* Score of cell i: the maximum over heat channels; *ch receives that channel. */
static float cell_score(const struct dec_maps *m, const struct dec_params *p, size_t i, int *ch)
{
	size_t plane = (size_t)m->h * (size_t)m->w;
	float best = -INFINITY;
	int bc = 0;

	for (int c = 0; c < m->heat_ch; c++) {
		float v = m->heat[(size_t)c * plane + i];
		if (v > best) {
			best = v;
			bc = c;
		}
	}
	if (ch)
		*ch = bc;
	return p->heat_logits ? sigmoidf(best) : best;
}

float dec_max_score(const struct dec_maps *m, const struct dec_params *p)
{
	size_t plane = (size_t)m->h * (size_t)m->w;
	float best = 0.0f;

	for (size_t i = 0; i < plane; i++) {
		float v = cell_score(m, p, i, NULL);
		if (v > best)
			best = v;
	}
	return best;
}

void dec_mirror_mean(float *a, const float *b, int h, int w, float sign, float add)
{
	for (int y = 0; y < h; y++) {
		float *ar = a + (size_t)y * (size_t)w;
		const float *br = b + (size_t)y * (size_t)w;
		for (int x = 0; x < w; x++)
			ar[x] = (ar[x] + add + sign * br[w - 1 - x]) * 0.5f;
	}
}

/* Insert b into out[0..*n) sorted by descending score, keeping at most cap. */
static void insert_sorted(struct dec_box *out, int *n, int cap, const struct dec_box *b)
{
	int i = *n;

	if (i == cap) {
		if (cap == 0 || out[cap - 1].score >= b->score)
			return;
		i = cap - 1;
	} else {
		(*n)++;
	}
	while (i > 0 && out[i - 1].score < b->score) {
		out[i] = out[i - 1];
		i--;
	}
	out[i] = *b;
}

int dec_decode(const struct dec_maps *m, const struct dec_params *p, struct dec_box *out,
	       int max)
{
	int n = 0, cap, r;
	size_t plane;

	if (m == NULL || p == NULL || out == NULL || m->h <= 0 || m->w <= 0 || m->heat_ch < 1 ||
	    m->heat == NULL || m->size == NULL || p->stride < 1 || p->nms_kernel < 1 ||
	    (p->nms_kernel & 1) == 0 || m->ntypes > DEC_MAX_TYPES || m->ntypes < 0 ||
	    (m->ntypes > 0 && m->types == NULL) || m->heat_ch > DEC_MAX_TYPES)
		return -1;
	cap = max < p->max_boxes ? max : p->max_boxes;
	plane = (size_t)m->h * (size_t)m->w;
	r = p->nms_kernel / 2;
	for (int y = 0; y < m->h; y++) {
		for (int x = 0; x < m->w; x++) {
			size_t i = (size_t)y * (size_t)m->w + (size_t)x;
			int ch;
			float s = cell_score(m, p, i, &ch);
			bool peak = s >= p->threshold;

			for (int yy = y - r; peak && yy <= y + r; yy++) {
				if (yy < 0 || yy >= m->h)
					continue;
				for (int xx = x - r; xx <= x + r; xx++) {
					float t;
					size_t j;
					if (xx < 0 || xx >= m->w || (xx == x && yy == y))
						continue;
					j = (size_t)yy * (size_t)m->w + (size_t)xx;
					t = cell_score(m, p, j, NULL);
					/* ties: the earlier cell in raster order keeps the peak */
					if (t > s || (t == s && j < i)) {
						peak = false;
						break;
					}
				}
			}
			if (!peak)
				continue;

			struct dec_box b;
			float dx = 0, dy = 0, bw, bh, cx, cy;
			memset(&b, 0, sizeof b);
			if (m->offset) {
				dx = m->offset[i];
				dy = m->offset[plane + i];
			}
			bw = m->size[i];
			bh = m->size[plane + i];
			if (p->size_log) {
				bw = expf(bw);
				bh = expf(bh);
			}
			bw *= p->size_unit;
			bh *= p->size_unit;
			if (!(bw > 0)) /* negative or NaN: a point */
				bw = 0;
			if (!(bh > 0))
				bh = 0;
			cx = ((float)x + dx) * (float)p->stride + p->centre_shift;
			cy = ((float)y + dy) * (float)p->stride + p->centre_shift;
			b.x0 = cx - bw / 2;
			b.x1 = cx + bw / 2;
			b.y0 = cy - bh / 2;
			b.y1 = cy + bh / 2;
			b.score = s;
			b.type = -1;
			if (m->ntypes > 0) {
				float mx = -INFINITY, sum = 0;
				for (int k = 0; k < m->ntypes; k++)
					if (m->types[(size_t)k * plane + i] > mx)
						mx = m->types[(size_t)k * plane + i];
				for (int k = 0; k < m->ntypes; k++) {
					b.type_prob[k] = expf(m->types[(size_t)k * plane + i] - mx);
					sum += b.type_prob[k];
				}
				for (int k = 0; k < m->ntypes; k++) {
					b.type_prob[k] /= sum;
					if (b.type < 0 || b.type_prob[k] > b.type_prob[b.type])
						b.type = k;
				}
			} else if (m->heat_ch > 1) {
				b.type = ch;
				b.type_prob[ch] = 1.0f;
			}
			insert_sorted(out, &n, cap, &b);
		}
	}
	return n;
}
