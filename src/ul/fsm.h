/*
 * DICOM Upper Layer association state machine (PS3.8 9.2), as a pure table.
 *
 * This file owns the state transition table of PS3.8 Table 9-10 and the next state of
 * each action (Tables 9-6 to 9-9). It performs nothing: the glue feeds it an event, gets
 * back the action, and does what the action says (send a PDU, start ARTIM, close...). The
 * names are the standard's: Sta1..Sta13, Evt1..Evt19, AE-n, DT-n, AR-n, AA-n.
 *
 * Cells the table leaves blank (a local primitive at the wrong time, a PDU in a state with
 * no transport, a stale ARTIM expiry) return UL_E_FSM_BLANK and change nothing: for the
 * glue they are bugs or races to ignore, not protocol events.
 */
#ifndef DICOMAID_UL_FSM_H
#define DICOMAID_UL_FSM_H

#include "ul/pdu.h" /* UL_E_FSM_BLANK, PDU type numbers */

#include <stdbool.h>
#include <stdint.h>

/* PS3.8 Table 9-1. Numbered like the standard. */
enum ul_state {
	UL_STA1 = 1, /* Idle */
	UL_STA2,     /* Transport open; awaiting A-ASSOCIATE-RQ PDU (ARTIM running) */
	UL_STA3,     /* Awaiting local A-ASSOCIATE response primitive */
	UL_STA4,     /* Awaiting transport connection opening (requestor) */
	UL_STA5,     /* Awaiting A-ASSOCIATE-AC or -RJ PDU */
	UL_STA6,     /* Association established, ready for data transfer */
	UL_STA7,     /* Awaiting A-RELEASE-RP PDU */
	UL_STA8,     /* Awaiting local A-RELEASE response primitive */
	UL_STA9,     /* Release collision, requestor: awaiting local A-RELEASE response */
	UL_STA10,    /* Release collision, acceptor: awaiting A-RELEASE-RP PDU */
	UL_STA11,    /* Release collision, requestor: awaiting A-RELEASE-RP PDU */
	UL_STA12,    /* Release collision, acceptor: awaiting local A-RELEASE response */
	UL_STA13,    /* Awaiting transport close; association gone (ARTIM running) */
};
#define UL_NSTATES 13

/* PS3.8 Table 9-10 events, with descriptive aliases for the glue. */
enum ul_event {
	UL_EVT1 = 1, UL_EVT2, UL_EVT3, UL_EVT4, UL_EVT5, UL_EVT6, UL_EVT7, UL_EVT8, UL_EVT9,
	UL_EVT10, UL_EVT11, UL_EVT12, UL_EVT13, UL_EVT14, UL_EVT15, UL_EVT16, UL_EVT17,
	UL_EVT18, UL_EVT19,

	UL_EVT_ASSOC_REQ = UL_EVT1,      /* A-ASSOCIATE request (local user) */
	UL_EVT_CONN_CONFIRM = UL_EVT2,   /* transport connect confirmation */
	UL_EVT_AC_PDU = UL_EVT3,         /* A-ASSOCIATE-AC PDU received */
	UL_EVT_RJ_PDU = UL_EVT4,         /* A-ASSOCIATE-RJ PDU received */
	UL_EVT_CONN_INDICATION = UL_EVT5, /* transport connection indication (accepted) */
	UL_EVT_RQ_PDU = UL_EVT6,         /* A-ASSOCIATE-RQ PDU received */
	UL_EVT_ASSOC_ACCEPT = UL_EVT7,   /* A-ASSOCIATE response (accept), local user */
	UL_EVT_ASSOC_REJECT = UL_EVT8,   /* A-ASSOCIATE response (reject), local user */
	UL_EVT_PDATA_REQ = UL_EVT9,      /* P-DATA request, local user */
	UL_EVT_PDATA_PDU = UL_EVT10,     /* P-DATA-TF PDU received */
	UL_EVT_RELEASE_REQ = UL_EVT11,   /* A-RELEASE request, local user */
	UL_EVT_RELEASE_RQ_PDU = UL_EVT12, /* A-RELEASE-RQ PDU received */
	UL_EVT_RELEASE_RP_PDU = UL_EVT13, /* A-RELEASE-RP PDU received */
	UL_EVT_RELEASE_RSP = UL_EVT14,   /* A-RELEASE response, local user */
	UL_EVT_ABORT_REQ = UL_EVT15,     /* A-ABORT request, local user */
	UL_EVT_ABORT_PDU = UL_EVT16,     /* A-ABORT PDU received */
	UL_EVT_CONN_CLOSED = UL_EVT17,   /* transport connection closed */
	UL_EVT_ARTIM = UL_EVT18,         /* ARTIM timer expired */
	UL_EVT_INVALID_PDU = UL_EVT19,   /* unrecognized or invalid PDU received */
};
#define UL_NEVENTS 19

/*
 * Actions, PS3.8 Tables 9-6 to 9-9. What the glue does for each (the fixed next state
 * in brackets; ul_action_next() gives it):
 *  AE-1 connect to the peer [Sta4]            AE-2 send A-ASSOCIATE-RQ [Sta5]
 *  AE-3 indicate accept to the user [Sta6]    AE-4 indicate reject, close transport [Sta1]
 *  AE-5 accept transport, start ARTIM [Sta2]  AE-6 stop ARTIM, indicate the RQ [Sta3] (*)
 *  AE-7 send A-ASSOCIATE-AC [Sta6]            AE-8 send A-ASSOCIATE-RJ, start ARTIM [Sta13]
 *  DT-1 send P-DATA-TF [Sta6]                 DT-2 indicate P-DATA [Sta6]
 *  AR-1 send A-RELEASE-RQ [Sta7]              AR-2 indicate A-RELEASE [Sta8]
 *  AR-3 confirm release, close transport [Sta1]
 *  AR-4 send A-RELEASE-RP, start ARTIM [Sta13] AR-5 stop ARTIM [Sta1]
 *  AR-6 indicate P-DATA [Sta7]                AR-7 send P-DATA-TF [Sta8]
 *  AR-8 indicate release collision [Sta9 requestor, Sta10 acceptor]
 *  AR-9 send A-RELEASE-RP [Sta11]             AR-10 confirm release [Sta12]
 *  AA-1 send A-ABORT (source 0), (re)start ARTIM [Sta13]
 *  AA-2 stop ARTIM if running, close transport [Sta1]
 *  AA-3 indicate A-ABORT (source 0) or A-P-ABORT (source 2), close transport [Sta1]
 *  AA-4 indicate A-P-ABORT [Sta1]             AA-5 stop ARTIM [Sta1]
 *  AA-6 ignore the PDU [Sta13]                AA-7 send A-ABORT [Sta13]
 *  AA-8 send A-ABORT (source 2), indicate A-P-ABORT, start ARTIM [Sta13]; the reason is
 *       ul_abort_reason_for(err) after a decode error (Evt19), or
 *       ul_abort_reason_for(UL_E_UNEXPECTED) = 2 for a valid PDU in the wrong state
 * (*) AE-6 also allows the provider to reject the RQ itself (e.g. protocol version): the
 *     glue does that by feeding Evt8 in Sta3 (AE-8), which ends the same way.
 */
enum ul_action {
	UL_ACT_NONE = 0,
	UL_AE1, UL_AE2, UL_AE3, UL_AE4, UL_AE5, UL_AE6, UL_AE7, UL_AE8,
	UL_DT1, UL_DT2,
	UL_AR1, UL_AR2, UL_AR3, UL_AR4, UL_AR5, UL_AR6, UL_AR7, UL_AR8, UL_AR9, UL_AR10,
	UL_AA1, UL_AA2, UL_AA3, UL_AA4, UL_AA5, UL_AA6, UL_AA7, UL_AA8,
};
#define UL_NACTIONS 28

/* Side effects of an action, for glue that wants to act generically (ul_action_effects). */
enum {
	UL_FX_CONNECT = 1 << 0,     /* open the transport (AE-1) */
	UL_FX_SEND = 1 << 1,        /* send a PDU (which one follows from the action) */
	UL_FX_INDICATE = 1 << 2,    /* tell the local user (indication/confirmation) */
	UL_FX_CLOSE = 1 << 3,       /* close the transport */
	UL_FX_ARTIM_START = 1 << 4, /* start, or restart, ARTIM */
	UL_FX_ARTIM_STOP = 1 << 5,  /* stop ARTIM */
};

/* "Sta6", "Evt10", "DT-2"; "?" outside the range. Static strings. */
const char *ul_state_name(enum ul_state s);
const char *ul_event_name(enum ul_event e);
const char *ul_action_name(enum ul_action a);

/* Looks up Table 9-10. Returns 0 with *act and *next filled, or UL_E_FSM_BLANK for a blank
 * cell or an out-of-range argument (then *act = UL_ACT_NONE, *next = s). For AR-8 *next is
 * Sta9, the requestor's; an acceptor goes to Sta10 (ul_action_next, ul_sm_event). */
int ul_fsm_lookup(enum ul_state s, enum ul_event e, enum ul_action *act, enum ul_state *next);

/* The state an action leads to (Tables 9-6..9-9); AR-8 depends on the role. */
enum ul_state ul_action_next(enum ul_action a, bool is_requestor);

/* UL_FX_* bits of an action; 0 for UL_ACT_NONE and AA-6. */
unsigned ul_action_effects(enum ul_action a);

/* The event a received PDU of this type raises: 01H Evt6, 02H Evt3, 03H Evt4, 04H Evt10,
 * 05H Evt12, 06H Evt13, 07H Evt16; any other type, Evt19. A PDU that fails to decode
 * raises Evt19 instead of its own event. */
enum ul_event ul_event_for_pdu(uint8_t pdu_type);

/* One association's machine. Plain data; no ownership. */
struct ul_assoc_sm {
	enum ul_state state;
	bool is_requestor; /* decides AR-8: Sta9 (requestor) or Sta10 (acceptor) */
};

/* Sta1, with the role this side plays. */
void ul_sm_init(struct ul_assoc_sm *sm, bool is_requestor);

/* Applies event e: on success moves sm->state to the next state, stores the action for the
 * glue to perform in *act and returns 0. A blank cell returns UL_E_FSM_BLANK and leaves
 * the state alone (*act = UL_ACT_NONE). */
int ul_sm_event(struct ul_assoc_sm *sm, enum ul_event e, enum ul_action *act);

#endif
