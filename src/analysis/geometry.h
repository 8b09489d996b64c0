/*
 * Image plane geometry (PS3.3 C.7.6.2.1.1): from pixel indices of a slice to patient
 * coordinates (mm) with Image Position, Image Orientation and Pixel Spacing, and the slice
 * normal used to order a stack. Pure functions.
 *
 *   P(col, row) = IPP + col * colspacing * X + row * rowspacing * Y
 * where X = iop[0..2] (direction of increasing column index), Y = iop[3..5], colspacing =
 * Pixel Spacing[1] and rowspacing = Pixel Spacing[0] (PS3.3 10.7.1.3).
 */
#ifndef DICOMAID_ANALYSIS_GEOMETRY_H
#define DICOMAID_ANALYSIS_GEOMETRY_H

#include <stdbool.h>

/* Patient coordinates of (continuous) pixel index (col, row); the centre of the first pixel
 * is (0, 0). spacing = {row spacing, column spacing} as in (0028,0030). */
void geo_pixel_to_patient(const double ipp[3], const double iop[6], const double spacing[2],
			  double col, double row, double out[3]);

/* n = X x Y, normalised. Returns false when X, Y are not (nearly) unit and orthogonal. */
bool geo_normal(const double iop[6], double n[3]);

double geo_dot(const double a[3], const double b[3]);

#endif
