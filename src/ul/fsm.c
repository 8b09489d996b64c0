/*
 * DICOM Upper Layer state machine (PS3.8 9.2): Table 9-10 transcribed cell by cell, the
 * next state of each action from Tables 9-6 to 9-9, and the small struct that walks it.
 * Pure: no I/O, no logging, no allocation. The glue performs the returned action.
 */
#include "ul/fsm.h"

#include "ul/pdu.h"

#include <stddef.h>

#define BLK UL_ACT_NONE /* blank cell of Table 9-10 */
#define AE1 UL_AE1
#define AE2 UL_AE2
#define AE3 UL_AE3
#define AE4 UL_AE4
#define AE5 UL_AE5
#define AE6 UL_AE6
#define AE7 UL_AE7
#define AE8 UL_AE8
#define DT1 UL_DT1
#define DT2 UL_DT2
#define AR1 UL_AR1
#define AR2 UL_AR2
#define AR3 UL_AR3
#define AR4 UL_AR4
#define AR5 UL_AR5
#define AR6 UL_AR6
#define AR7 UL_AR7
#define AR8 UL_AR8
#define AR9 UL_AR9
#define AR10 UL_AR10
#define AA1 UL_AA1
#define AA2 UL_AA2
#define AA3 UL_AA3
#define AA4 UL_AA4
#define AA5 UL_AA5
#define AA6 UL_AA6
#define AA7 UL_AA7
#define AA8 UL_AA8

/* PS3.8 Table 9-10, laid out as the standard prints it: one row per event, one column per
 * state. */
static const unsigned char table[UL_NEVENTS][UL_NSTATES] = {
	/*           Sta1  Sta2  Sta3  Sta4  Sta5  Sta6  Sta7  Sta8  Sta9  Sta10 Sta11 Sta12 Sta13 */
	/* Evt1  */ {AE1,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK},
	/* Evt2  */ {BLK,  BLK,  BLK,  AE2,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK},
	/* Evt3  */ {BLK,  AA1,  AA8,  BLK,  AE3,  AA8,  AA8,  AA8,  AA8,  AA8,  AA8,  AA8,  AA6},
	/* Evt4  */ {BLK,  AA1,  AA8,  BLK,  AE4,  AA8,  AA8,  AA8,  AA8,  AA8,  AA8,  AA8,  AA6},
	/* Evt5  */ {AE5,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK},
	/* Evt6  */ {BLK,  AE6,  AA8,  BLK,  AA8,  AA8,  AA8,  AA8,  AA8,  AA8,  AA8,  AA8,  AA7},
	/* Evt7  */ {BLK,  BLK,  AE7,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK},
	/* Evt8  */ {BLK,  BLK,  AE8,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK},
	/* Evt9  */ {BLK,  BLK,  BLK,  BLK,  BLK,  DT1,  BLK,  AR7,  BLK,  BLK,  BLK,  BLK,  BLK},
	/* Evt10 */ {BLK,  AA1,  AA8,  BLK,  AA8,  DT2,  AR6,  AA8,  AA8,  AA8,  AA8,  AA8,  AA6},
	/* Evt11 */ {BLK,  BLK,  BLK,  BLK,  BLK,  AR1,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK},
	/* Evt12 */ {BLK,  AA1,  AA8,  BLK,  AA8,  AR2,  AR8,  AA8,  AA8,  AA8,  AA8,  AA8,  AA6},
	/* Evt13 */ {BLK,  AA1,  AA8,  BLK,  AA8,  AA8,  AR3,  AA8,  AA8,  AR10, AR3,  AA8,  AA6},
	/* Evt14 */ {BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  AR4,  AR9,  BLK,  BLK,  AR4,  BLK},
	/* Evt15 */ {BLK,  BLK,  AA1,  AA2,  AA1,  AA1,  AA1,  AA1,  AA1,  AA1,  AA1,  AA1,  BLK},
	/* Evt16 */ {BLK,  AA2,  AA3,  BLK,  AA3,  AA3,  AA3,  AA3,  AA3,  AA3,  AA3,  AA3,  AA2},
	/* Evt17 */ {BLK,  AA5,  AA4,  AA4,  AA4,  AA4,  AA4,  AA4,  AA4,  AA4,  AA4,  AA4,  AR5},
	/* Evt18 */ {BLK,  AA2,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  BLK,  AA2},
	/* Evt19 */ {BLK,  AA1,  AA8,  BLK,  AA8,  AA8,  AA8,  AA8,  AA8,  AA8,  AA8,  AA8,  AA7},
};

/* Next state and side effects per action, PS3.8 Tables 9-6 (AE), 9-7 (DT), 9-8 (AR),
 * 9-9 (AA). AR-8's Sta9 is the requestor's; ul_action_next() handles the acceptor. */
static const struct {
	const char *name;
	unsigned char next;
	unsigned char fx;
} actions[UL_NACTIONS + 1] = {
	[UL_ACT_NONE] = {"none", 0, 0},
	[UL_AE1] = {"AE-1", UL_STA4, UL_FX_CONNECT},
	[UL_AE2] = {"AE-2", UL_STA5, UL_FX_SEND},
	[UL_AE3] = {"AE-3", UL_STA6, UL_FX_INDICATE},
	[UL_AE4] = {"AE-4", UL_STA1, UL_FX_INDICATE | UL_FX_CLOSE},
	[UL_AE5] = {"AE-5", UL_STA2, UL_FX_ARTIM_START},
	[UL_AE6] = {"AE-6", UL_STA3, UL_FX_ARTIM_STOP | UL_FX_INDICATE},
	[UL_AE7] = {"AE-7", UL_STA6, UL_FX_SEND},
	[UL_AE8] = {"AE-8", UL_STA13, UL_FX_SEND | UL_FX_ARTIM_START},
	[UL_DT1] = {"DT-1", UL_STA6, UL_FX_SEND},
	[UL_DT2] = {"DT-2", UL_STA6, UL_FX_INDICATE},
	[UL_AR1] = {"AR-1", UL_STA7, UL_FX_SEND},
	[UL_AR2] = {"AR-2", UL_STA8, UL_FX_INDICATE},
	[UL_AR3] = {"AR-3", UL_STA1, UL_FX_INDICATE | UL_FX_CLOSE},
	[UL_AR4] = {"AR-4", UL_STA13, UL_FX_SEND | UL_FX_ARTIM_START},
	[UL_AR5] = {"AR-5", UL_STA1, UL_FX_ARTIM_STOP},
	[UL_AR6] = {"AR-6", UL_STA7, UL_FX_INDICATE},
	[UL_AR7] = {"AR-7", UL_STA8, UL_FX_SEND},
	[UL_AR8] = {"AR-8", UL_STA9, UL_FX_INDICATE},
	[UL_AR9] = {"AR-9", UL_STA11, UL_FX_SEND},
	[UL_AR10] = {"AR-10", UL_STA12, UL_FX_INDICATE},
	[UL_AA1] = {"AA-1", UL_STA13, UL_FX_SEND | UL_FX_ARTIM_START},
	[UL_AA2] = {"AA-2", UL_STA1, UL_FX_ARTIM_STOP | UL_FX_CLOSE},
	[UL_AA3] = {"AA-3", UL_STA1, UL_FX_INDICATE | UL_FX_CLOSE},
	[UL_AA4] = {"AA-4", UL_STA1, UL_FX_INDICATE},
	[UL_AA5] = {"AA-5", UL_STA1, UL_FX_ARTIM_STOP},
	[UL_AA6] = {"AA-6", UL_STA13, 0},
	[UL_AA7] = {"AA-7", UL_STA13, UL_FX_SEND},
	[UL_AA8] = {"AA-8", UL_STA13, UL_FX_SEND | UL_FX_INDICATE | UL_FX_ARTIM_START},
};

static const char *const state_names[UL_NSTATES + 1] = {
	"?", "Sta1", "Sta2", "Sta3", "Sta4", "Sta5", "Sta6", "Sta7",
	"Sta8", "Sta9", "Sta10", "Sta11", "Sta12", "Sta13",
};

static const char *const event_names[UL_NEVENTS + 1] = {
	"?", "Evt1", "Evt2", "Evt3", "Evt4", "Evt5", "Evt6", "Evt7", "Evt8", "Evt9", "Evt10",
	"Evt11", "Evt12", "Evt13", "Evt14", "Evt15", "Evt16", "Evt17", "Evt18", "Evt19",
};

static bool state_ok(int s) { return s >= UL_STA1 && s <= UL_STA13; }
static bool event_ok(int e) { return e >= UL_EVT1 && e <= UL_EVT19; }
static bool action_ok(int a) { return a > UL_ACT_NONE && a <= UL_AA8; }

const char *ul_state_name(enum ul_state s) { return state_ok((int)s) ? state_names[s] : "?"; }

const char *ul_event_name(enum ul_event e) { return event_ok((int)e) ? event_names[e] : "?"; }

const char *ul_action_name(enum ul_action a)
{
	return action_ok((int)a) ? actions[a].name : "?";
}

int ul_fsm_lookup(enum ul_state s, enum ul_event e, enum ul_action *act, enum ul_state *next)
{
	*act = UL_ACT_NONE;
	*next = s;
	if (!state_ok((int)s) || !event_ok((int)e))
		return UL_E_FSM_BLANK;
	enum ul_action a = (enum ul_action)table[e - 1][s - 1];
	if (a == UL_ACT_NONE)
		return UL_E_FSM_BLANK;
	*act = a;
	*next = (enum ul_state)actions[a].next;
	return 0;
}

enum ul_state ul_action_next(enum ul_action a, bool is_requestor)
{
	if (!action_ok((int)a))
		return 0;
	if (a == UL_AR8) /* PS3.8 Table 9-8: requestor Sta9, otherwise Sta10 */
		return is_requestor ? UL_STA9 : UL_STA10;
	return (enum ul_state)actions[a].next;
}

unsigned ul_action_effects(enum ul_action a) { return action_ok((int)a) ? actions[a].fx : 0; }

enum ul_event ul_event_for_pdu(uint8_t pdu_type)
{
	switch (pdu_type) {
	case UL_PDU_ASSOC_RQ:
		return UL_EVT6;
	case UL_PDU_ASSOC_AC:
		return UL_EVT3;
	case UL_PDU_ASSOC_RJ:
		return UL_EVT4;
	case UL_PDU_PDATA_TF:
		return UL_EVT10;
	case UL_PDU_RELEASE_RQ:
		return UL_EVT12;
	case UL_PDU_RELEASE_RP:
		return UL_EVT13;
	case UL_PDU_ABORT:
		return UL_EVT16;
	default:
		return UL_EVT19;
	}
}

void ul_sm_init(struct ul_assoc_sm *sm, bool is_requestor)
{
	sm->state = UL_STA1;
	sm->is_requestor = is_requestor;
}

int ul_sm_event(struct ul_assoc_sm *sm, enum ul_event e, enum ul_action *act)
{
	enum ul_state next;
	int rc = ul_fsm_lookup(sm->state, e, act, &next);
	if (rc < 0)
		return rc;
	sm->state = ul_action_next(*act, sm->is_requestor);
	return 0;
}
