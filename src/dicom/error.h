/*
 * Error codes of the DICOM element codec (src/dicom/). Every function of this layer returns 0
 * (or a documented positive value) on success and a negative code on failure: either one of the
 * DCM_E* codes below or a negated errno value (-ENOMEM, -EINVAL). dcm_strerror() names both.
 * The DCM_E* codes live far below the errno range so the two never collide.
 */
#ifndef DICOMAID_DICOM_ERROR_H
#define DICOMAID_DICOM_ERROR_H

#include <errno.h>

enum {
	DCM_ETRUNC = -2001,   /* data ended inside an element, or with an item/sequence still open */
	DCM_EBADLEN = -2002,  /* length odd where PS3.5 7.1.1 forbids it, undefined where not allowed,
	                         or running past the end of the enclosing defined-length item/sequence */
	DCM_EDEPTH = -2003,   /* sequences nested deeper than DCM_MAX_DEPTH */
	DCM_EDELIM = -2004,   /* item or delimitation item in the wrong place (PS3.5 7.5) */
	DCM_EBADVR = -2005,   /* explicit VR that is not two upper-case letters (PS3.5 6.2) */
	DCM_EDEFLATE = -2006, /* corrupt deflate stream (PS3.5 A.5) */
	DCM_ETOOBIG = -2007,  /* data set larger than the limit the caller set */
	DCM_EMETA = -2008,    /* bad Part 10 preamble or File Meta Information (PS3.10 7.1) */
	DCM_ESTATE = -2009,   /* call not allowed in this state (e.g. feed after an error) */
};

/* Need more input: the caller should retry with a longer buffer. */
#define DCM_EMORE (-EAGAIN)

/* A static English description of `err` (a DCM_E* code or a negated errno). Never NULL. */
const char *dcm_strerror(int err);

#endif
