/*
 * Pixel to patient mapping of PS3.3 C.7.6.2.1.1 (see geometry.h).
 */
#include <math.h>

#include "analysis/geometry.h"

void geo_pixel_to_patient(const double ipp[3], const double iop[6], const double spacing[2],
			  double col, double row, double out[3])
{
	for (int k = 0; k < 3; k++)
		out[k] = ipp[k] + col * spacing[1] * iop[k] + row * spacing[0] * iop[3 + k];
}

double geo_dot(const double a[3], const double b[3])
{
	return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

bool geo_normal(const double iop[6], double n[3])
{
	const double *x = iop, *y = iop + 3;
	double len;

	if (fabs(geo_dot(x, x) - 1) > 1e-2 || fabs(geo_dot(y, y) - 1) > 1e-2 ||
	    fabs(geo_dot(x, y)) > 1e-2)
		return false;
	n[0] = x[1] * y[2] - x[2] * y[1];
	n[1] = x[2] * y[0] - x[0] * y[2];
	n[2] = x[0] * y[1] - x[1] * y[0];
	len = sqrt(geo_dot(n, n));
	if (len < 1e-6)
		return false;
	for (int k = 0; k < 3; k++)
		n[k] /= len;
	return true;
}
