/*
 * Table of Storage SOP Classes. Lookups are a linear scan over ~170 short strings, done
 * once per presentation context at association time, never per instance.
 */
#include "services/sop_classes.h"

#include <string.h>

struct sop_class_row {
	const char *uid;
	const char *name;
};

static const struct sop_class_row storage_classes[] = {
#include "services/sop_classes_table.h"
};

#define N_STORAGE (sizeof storage_classes / sizeof storage_classes[0])

const char *sop_class_storage_name(const char *uid)
{
	for (size_t i = 0; i < N_STORAGE; i++)
		if (strcmp(storage_classes[i].uid, uid) == 0)
			return storage_classes[i].name;
	return NULL;
}

bool sop_class_is_storage(const char *uid) { return sop_class_storage_name(uid) != NULL; }

size_t sop_class_storage_count(void) { return N_STORAGE; }

const char *sop_class_storage_uid(size_t i) { return i < N_STORAGE ? storage_classes[i].uid : NULL; }
