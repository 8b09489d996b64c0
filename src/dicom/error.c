/*
 * Names of the codec's error codes (see error.h). Negated errno values are passed to
 * strerror(), which is thread-safe enough for glibc's static English table.
 */
#include <string.h>

#include "dicom/error.h"

const char *dcm_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case DCM_ETRUNC: return "data set truncated";
	case DCM_EBADLEN: return "bad element or item length";
	case DCM_EDEPTH: return "sequences nested too deep";
	case DCM_EDELIM: return "item or delimiter in the wrong place";
	case DCM_EBADVR: return "invalid value representation";
	case DCM_EDEFLATE: return "corrupt deflated data set";
	case DCM_ETOOBIG: return "data set exceeds the size limit";
	case DCM_EMETA: return "bad Part 10 file meta information";
	case DCM_ESTATE: return "call not allowed in this parser state";
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}
