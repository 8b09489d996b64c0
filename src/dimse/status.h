/*
 * DIMSE status codes (Status (0000,0900)): the values dicomaid sends or must recognise.
 * Sources: PS3.7 Annex C (general statuses), PS3.4 B.2.3 (C-STORE), C.4.1.1.4 (C-FIND),
 * C.4.2.1.5 (C-MOVE), C.4.3.1.4 (C-GET). Only constants and pure classification helpers
 * live here; no state.
 */
#ifndef DICOMAID_DIMSE_STATUS_H
#define DICOMAID_DIMSE_STATUS_H

#include <stdbool.h>
#include <stdint.h>

enum {
	/* Success (PS3.7 C.1) */
	DIMSE_SUCCESS = 0x0000,
	/* Pending (PS3.7 C.3): C-FIND match follows; C-MOVE/C-GET sub-operations continue */
	DIMSE_PENDING = 0xFF00,
	DIMSE_PENDING_OPTIONAL_KEYS = 0xFF01, /* C-FIND match, optional keys not supported */
	/* Cancel (PS3.7 C.2): after C-CANCEL-RQ */
	DIMSE_CANCEL = 0xFE00,
	/* Warnings (PS3.4 B.2.3, C.4.1.1.4, C.4.2.1.5) */
	DIMSE_WARNING_COERCION = 0xB000,       /* C-STORE coercion; C-MOVE/GET sub-op failures */
	DIMSE_WARNING_SUBOPS_FAILED = 0xB000,  /* same code, C-MOVE/C-GET meaning */
	DIMSE_WARNING_ELEMENTS_DISCARDED = 0xB006,
	DIMSE_WARNING_DATASET_MISMATCH = 0xB007,
	DIMSE_WARNING_RESPONSE_LIMIT = 0xB001, /* C-FIND: response limit reached */
	/* Failures (PS3.4) */
	DIMSE_OUT_OF_RESOURCES = 0xA700,
	DIMSE_OUT_OF_RESOURCES_MATCHES = 0xA701, /* C-MOVE/GET: unable to calculate matches */
	DIMSE_OUT_OF_RESOURCES_SUBOPS = 0xA702,  /* C-MOVE/GET: unable to perform sub-ops */
	DIMSE_MOVE_DEST_UNKNOWN = 0xA801,
	DIMSE_DATASET_MISMATCH = 0xA900,
	DIMSE_CANNOT_UNDERSTAND = 0xC000, /* C000-CFFF are implementation specific */
	/* General failures (PS3.7 C.5) */
	DIMSE_PROCESSING_FAILURE = 0x0110,
	DIMSE_DUPLICATE_INSTANCE = 0x0111,
	DIMSE_INVALID_OBJECT = 0x0117,
	DIMSE_SOP_CLASS_NOT_SUPPORTED = 0x0122,
	DIMSE_NOT_AUTHORIZED = 0x0124,
	DIMSE_DUPLICATE_INVOCATION = 0x0210,
	DIMSE_UNRECOGNIZED_OPERATION = 0x0211,
	DIMSE_MISTYPED_ARGUMENT = 0x0212,
};

enum dimse_status_kind {
	DIMSE_STATUS_SUCCESS,
	DIMSE_STATUS_PENDING,
	DIMSE_STATUS_CANCEL,
	DIMSE_STATUS_WARNING,
	DIMSE_STATUS_FAILURE,
};

/*
 * Classify a status value (PS3.7 Annex C): 0000 success; FF00/FF01 pending; FE00 cancel;
 * 0001, 0107, 0116 and Bxxx warning; everything else failure.
 */
static inline enum dimse_status_kind dimse_status_kind(uint16_t st)
{
	if (st == DIMSE_SUCCESS)
		return DIMSE_STATUS_SUCCESS;
	if (st == 0xFF00 || st == 0xFF01)
		return DIMSE_STATUS_PENDING;
	if (st == DIMSE_CANCEL)
		return DIMSE_STATUS_CANCEL;
	if ((st & 0xF000) == 0xB000 || st == 0x0001 || st == 0x0107 || st == 0x0116)
		return DIMSE_STATUS_WARNING;
	return DIMSE_STATUS_FAILURE;
}

static inline bool dimse_status_is_pending(uint16_t st)
{
	return dimse_status_kind(st) == DIMSE_STATUS_PENDING;
}

#endif
