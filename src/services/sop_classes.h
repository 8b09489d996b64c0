/*
 * The SOP Classes dicomaid accepts as an SCP: Verification (PS3.4 Annex A) and every
 * standard Storage SOP Class (PS3.4 Annex B.5).
 */
#ifndef DICOMAID_SERVICES_SOP_CLASSES_H
#define DICOMAID_SERVICES_SOP_CLASSES_H

#include <stdbool.h>
#include <stddef.h>

#define UID_VERIFICATION "1.2.840.10008.1.1"
#define UID_APPLICATION_CONTEXT "1.2.840.10008.3.1.1.1"

/* The name of a Storage SOP Class, or NULL when uid is none. */
const char *sop_class_storage_name(const char *uid);
bool sop_class_is_storage(const char *uid);
/* Number of Storage SOP Classes in the table, and the i-th UID (for SCU proposals). */
size_t sop_class_storage_count(void);
const char *sop_class_storage_uid(size_t i);

#endif
