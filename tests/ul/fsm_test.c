/*
 * Tests of the Upper Layer state machine (src/ul/fsm.c) against PS3.8 Table 9-10 and the
 * action tables 9-6..9-9: walks of the usual paths for both roles, release collisions,
 * abort / ARTIM / invalid PDU from every state, and a cell-by-cell census of the table.
 */
#include "ul/fsm.h"
#include "ul/pdu.h"

#include <criterion/criterion.h>
#include <string.h>

/* Feeds e and asserts the action and the state reached. */
static void step(struct ul_assoc_sm *sm, enum ul_event e, enum ul_action want_act,
		 enum ul_state want_state)
{
	enum ul_state from = sm->state;
	enum ul_action act = UL_ACT_NONE;
	int rc = ul_sm_event(sm, e, &act);
	cr_assert_eq(rc, 0, "%s + %s: rc %d", ul_state_name(from), ul_event_name(e), rc);
	cr_assert_eq(act, want_act, "%s + %s: got %s, want %s", ul_state_name(from),
		     ul_event_name(e), ul_action_name(act), ul_action_name(want_act));
	cr_assert_eq(sm->state, want_state, "%s + %s -> %s, want %s", ul_state_name(from),
		     ul_event_name(e), ul_state_name(sm->state), ul_state_name(want_state));
}

/* Puts a machine in state s as the standard would get there, for the given role. */
static void reach(struct ul_assoc_sm *sm, enum ul_state s, bool requestor)
{
	ul_sm_init(sm, requestor);
	enum ul_action a;
	if (s == UL_STA1)
		return;
	if (!requestor || s == UL_STA2 || s == UL_STA3 || s == UL_STA13) {
		/* acceptor path: connection, RQ, accept */
		sm->is_requestor = false;
		ul_sm_event(sm, UL_EVT5, &a);
		if (s == UL_STA2)
			goto done;
		ul_sm_event(sm, UL_EVT6, &a);
		if (s == UL_STA3)
			goto done;
		if (s == UL_STA13) {
			ul_sm_event(sm, UL_EVT8, &a);
			goto done;
		}
		ul_sm_event(sm, UL_EVT7, &a);
	} else {
		ul_sm_event(sm, UL_EVT1, &a);
		if (s == UL_STA4)
			goto done;
		ul_sm_event(sm, UL_EVT2, &a);
		if (s == UL_STA5)
			goto done;
		ul_sm_event(sm, UL_EVT3, &a);
	}
	/* Sta6 */
	switch (s) {
	case UL_STA7:
		ul_sm_event(sm, UL_EVT11, &a);
		break;
	case UL_STA8:
		ul_sm_event(sm, UL_EVT12, &a);
		break;
	case UL_STA9:
	case UL_STA10:
		ul_sm_event(sm, UL_EVT11, &a);
		ul_sm_event(sm, UL_EVT12, &a);
		break;
	case UL_STA11:
		ul_sm_event(sm, UL_EVT11, &a);
		ul_sm_event(sm, UL_EVT12, &a);
		ul_sm_event(sm, UL_EVT14, &a);
		break;
	case UL_STA12:
		ul_sm_event(sm, UL_EVT11, &a);
		ul_sm_event(sm, UL_EVT12, &a);
		ul_sm_event(sm, UL_EVT13, &a);
		break;
	default:
		break;
	}
done:
	cr_assert_eq(sm->state, s, "reach %s: at %s", ul_state_name(s), ul_state_name(sm->state));
	sm->is_requestor = requestor;
}

static bool role_for(enum ul_state s)
{
	/* states only a requestor reaches */
	return s == UL_STA4 || s == UL_STA5 || s == UL_STA9 || s == UL_STA11;
}

Test(fsm, names)
{
	cr_assert_str_eq(ul_state_name(UL_STA1), "Sta1");
	cr_assert_str_eq(ul_state_name(UL_STA13), "Sta13");
	cr_assert_str_eq(ul_state_name(0), "?");
	cr_assert_str_eq(ul_state_name(14), "?");
	cr_assert_str_eq(ul_event_name(UL_EVT10), "Evt10");
	cr_assert_str_eq(ul_event_name(UL_EVT19), "Evt19");
	cr_assert_str_eq(ul_event_name(20), "?");
	cr_assert_str_eq(ul_action_name(UL_DT2), "DT-2");
	cr_assert_str_eq(ul_action_name(UL_AE1), "AE-1");
	cr_assert_str_eq(ul_action_name(UL_AR10), "AR-10");
	cr_assert_str_eq(ul_action_name(UL_AA8), "AA-8");
	cr_assert_str_eq(ul_action_name(UL_ACT_NONE), "?");
	/* names are distinct */
	for (int a = UL_AE1; a <= UL_AA8; a++)
		for (int b = a + 1; b <= UL_AA8; b++)
			cr_assert_str_neq(ul_action_name(a), ul_action_name(b));
}

Test(fsm, acceptor_happy_path)
{
	struct ul_assoc_sm sm;
	ul_sm_init(&sm, false);
	cr_assert_eq(sm.state, UL_STA1);
	step(&sm, UL_EVT_CONN_INDICATION, UL_AE5, UL_STA2);
	cr_assert(ul_action_effects(UL_AE5) & UL_FX_ARTIM_START);
	step(&sm, UL_EVT_RQ_PDU, UL_AE6, UL_STA3);
	cr_assert(ul_action_effects(UL_AE6) & UL_FX_ARTIM_STOP);
	step(&sm, UL_EVT_ASSOC_ACCEPT, UL_AE7, UL_STA6);
	step(&sm, UL_EVT_PDATA_PDU, UL_DT2, UL_STA6);
	step(&sm, UL_EVT_PDATA_REQ, UL_DT1, UL_STA6);
	/* the peer releases */
	step(&sm, UL_EVT_RELEASE_RQ_PDU, UL_AR2, UL_STA8);
	step(&sm, UL_EVT_PDATA_REQ, UL_AR7, UL_STA8); /* pending responses still go out */
	step(&sm, UL_EVT_RELEASE_RSP, UL_AR4, UL_STA13);
	cr_assert(ul_action_effects(UL_AR4) & UL_FX_ARTIM_START);
	step(&sm, UL_EVT_CONN_CLOSED, UL_AR5, UL_STA1);
}

Test(fsm, acceptor_reject_and_artim)
{
	struct ul_assoc_sm sm;
	ul_sm_init(&sm, false);
	step(&sm, UL_EVT5, UL_AE5, UL_STA2);
	step(&sm, UL_EVT6, UL_AE6, UL_STA3);
	step(&sm, UL_EVT_ASSOC_REJECT, UL_AE8, UL_STA13);
	cr_assert_eq(ul_action_effects(UL_AE8), UL_FX_SEND | UL_FX_ARTIM_START);
	/* the peer never closes: ARTIM fires */
	step(&sm, UL_EVT_ARTIM, UL_AA2, UL_STA1);
	cr_assert(ul_action_effects(UL_AA2) & UL_FX_CLOSE);

	/* no RQ ever arrives: ARTIM in Sta2 */
	step(&sm, UL_EVT5, UL_AE5, UL_STA2);
	step(&sm, UL_EVT18, UL_AA2, UL_STA1);
	/* the peer closes while we wait for the RQ */
	step(&sm, UL_EVT5, UL_AE5, UL_STA2);
	step(&sm, UL_EVT17, UL_AA5, UL_STA1);
}

Test(fsm, requestor_happy_path)
{
	struct ul_assoc_sm sm;
	ul_sm_init(&sm, true);
	step(&sm, UL_EVT_ASSOC_REQ, UL_AE1, UL_STA4);
	cr_assert_eq(ul_action_effects(UL_AE1), UL_FX_CONNECT);
	step(&sm, UL_EVT_CONN_CONFIRM, UL_AE2, UL_STA5);
	step(&sm, UL_EVT_AC_PDU, UL_AE3, UL_STA6);
	step(&sm, UL_EVT9, UL_DT1, UL_STA6);
	step(&sm, UL_EVT10, UL_DT2, UL_STA6);
	step(&sm, UL_EVT_RELEASE_REQ, UL_AR1, UL_STA7);
	step(&sm, UL_EVT10, UL_AR6, UL_STA7); /* data still arriving while we wait */
	step(&sm, UL_EVT_RELEASE_RP_PDU, UL_AR3, UL_STA1);
	cr_assert(ul_action_effects(UL_AR3) & UL_FX_CLOSE);

	/* rejected */
	step(&sm, UL_EVT1, UL_AE1, UL_STA4);
	step(&sm, UL_EVT2, UL_AE2, UL_STA5);
	step(&sm, UL_EVT_RJ_PDU, UL_AE4, UL_STA1);
	/* local abort before the transport is up */
	step(&sm, UL_EVT1, UL_AE1, UL_STA4);
	step(&sm, UL_EVT15, UL_AA2, UL_STA1);
	/* connect fails */
	step(&sm, UL_EVT1, UL_AE1, UL_STA4);
	step(&sm, UL_EVT17, UL_AA4, UL_STA1);
}

/* PS3.8 9.2.2 / Table 9-8: both sides send A-RELEASE-RQ at once. */
Test(fsm, release_collision_requestor)
{
	struct ul_assoc_sm sm;
	reach(&sm, UL_STA6, true);
	step(&sm, UL_EVT11, UL_AR1, UL_STA7);
	step(&sm, UL_EVT12, UL_AR8, UL_STA9);
	step(&sm, UL_EVT14, UL_AR9, UL_STA11); /* requestor answers first */
	step(&sm, UL_EVT13, UL_AR3, UL_STA1);  /* then gets the peer's RP and closes */
}

Test(fsm, release_collision_acceptor)
{
	struct ul_assoc_sm sm;
	reach(&sm, UL_STA6, false);
	step(&sm, UL_EVT11, UL_AR1, UL_STA7);
	step(&sm, UL_EVT12, UL_AR8, UL_STA10);
	step(&sm, UL_EVT13, UL_AR10, UL_STA12); /* acceptor waits for the requestor's RP */
	step(&sm, UL_EVT14, UL_AR4, UL_STA13);  /* then sends its own and waits for close */
	step(&sm, UL_EVT17, UL_AR5, UL_STA1);
}

Test(fsm, collision_wrong_order_aborts)
{
	struct ul_assoc_sm sm;
	reach(&sm, UL_STA9, true);
	step(&sm, UL_EVT13, UL_AA8, UL_STA13); /* RP before our local response: Sta9 + Evt13 */
	reach(&sm, UL_STA10, false);
	enum ul_action a;
	cr_assert_eq(ul_sm_event(&sm, UL_EVT14, &a), UL_E_FSM_BLANK); /* Sta10 + Evt14 blank */
	cr_assert_eq(sm.state, UL_STA10);
}

/* Local abort (Evt15) from every state where Table 9-10 allows it. */
Test(fsm, local_abort_everywhere)
{
	for (int s = UL_STA3; s <= UL_STA12; s++) {
		struct ul_assoc_sm sm;
		reach(&sm, (enum ul_state)s, role_for((enum ul_state)s));
		if (s == UL_STA4)
			step(&sm, UL_EVT15, UL_AA2, UL_STA1);
		else
			step(&sm, UL_EVT15, UL_AA1, UL_STA13);
	}
	struct ul_assoc_sm sm;
	enum ul_action a;
	reach(&sm, UL_STA1, false);
	cr_assert_eq(ul_sm_event(&sm, UL_EVT15, &a), UL_E_FSM_BLANK);
	reach(&sm, UL_STA2, false);
	cr_assert_eq(ul_sm_event(&sm, UL_EVT15, &a), UL_E_FSM_BLANK);
	reach(&sm, UL_STA13, false);
	cr_assert_eq(ul_sm_event(&sm, UL_EVT15, &a), UL_E_FSM_BLANK);
	cr_assert_eq(a, UL_ACT_NONE);
	cr_assert_eq(sm.state, UL_STA13);
}

/* A-ABORT PDU (Evt16) in every state with a transport. */
Test(fsm, abort_pdu_everywhere)
{
	for (int s = UL_STA2; s <= UL_STA13; s++) {
		if (s == UL_STA4)
			continue; /* no transport yet */
		struct ul_assoc_sm sm;
		reach(&sm, (enum ul_state)s, role_for((enum ul_state)s));
		enum ul_action want = (s == UL_STA2 || s == UL_STA13) ? UL_AA2 : UL_AA3;
		step(&sm, UL_EVT16, want, UL_STA1);
	}
}

/* Transport closed (Evt17) in every state but idle. */
Test(fsm, transport_closed_everywhere)
{
	for (int s = UL_STA2; s <= UL_STA13; s++) {
		struct ul_assoc_sm sm;
		reach(&sm, (enum ul_state)s, role_for((enum ul_state)s));
		enum ul_action want = s == UL_STA2 ? UL_AA5 : s == UL_STA13 ? UL_AR5 : UL_AA4;
		step(&sm, UL_EVT17, want, UL_STA1);
	}
}

/* Invalid PDU (Evt19) in every state with a transport. */
Test(fsm, invalid_pdu_everywhere)
{
	for (int s = UL_STA2; s <= UL_STA13; s++) {
		if (s == UL_STA4)
			continue;
		struct ul_assoc_sm sm;
		reach(&sm, (enum ul_state)s, role_for((enum ul_state)s));
		enum ul_action want = s == UL_STA2 ? UL_AA1 : s == UL_STA13 ? UL_AA7 : UL_AA8;
		step(&sm, UL_EVT19, want, UL_STA13);
	}
	cr_assert_eq(ul_action_effects(UL_AA8),
		     UL_FX_SEND | UL_FX_INDICATE | UL_FX_ARTIM_START);
	cr_assert_eq(ul_action_effects(UL_AA7), UL_FX_SEND);
}

/* ARTIM (Evt18) only means something in Sta2 and Sta13; elsewhere a stale timer is blank. */
Test(fsm, artim_expiry)
{
	for (int s = UL_STA1; s <= UL_STA13; s++) {
		struct ul_assoc_sm sm;
		reach(&sm, (enum ul_state)s, role_for((enum ul_state)s));
		if (s == UL_STA2 || s == UL_STA13) {
			step(&sm, UL_EVT18, UL_AA2, UL_STA1);
		} else {
			enum ul_action a;
			cr_assert_eq(ul_sm_event(&sm, UL_EVT18, &a), UL_E_FSM_BLANK, "Sta%d", s);
			cr_assert_eq(sm.state, s);
		}
	}
}

/* In Sta13 the association is gone: PDUs are ignored (AA-6) except an RQ or an invalid
 * PDU, which get an A-ABORT (AA-7). */
Test(fsm, sta13_ignores)
{
	static const struct {
		enum ul_event e;
		enum ul_action a;
	} cells[] = {
		{UL_EVT3, UL_AA6}, {UL_EVT4, UL_AA6},  {UL_EVT6, UL_AA7},  {UL_EVT10, UL_AA6},
		{UL_EVT12, UL_AA6}, {UL_EVT13, UL_AA6}, {UL_EVT16, UL_AA2}, {UL_EVT19, UL_AA7},
	};
	for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
		struct ul_assoc_sm sm;
		reach(&sm, UL_STA13, false);
		enum ul_state want = cells[i].a == UL_AA2 ? UL_STA1 : UL_STA13;
		step(&sm, cells[i].e, cells[i].a, want);
	}
	cr_assert_eq(ul_action_effects(UL_AA6), 0);
}

/* Sta2 (waiting for the RQ): any other PDU is answered with AA-1. */
Test(fsm, sta2_unexpected_pdus)
{
	enum ul_event evs[] = {UL_EVT3, UL_EVT4, UL_EVT10, UL_EVT12, UL_EVT13, UL_EVT19};
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
		struct ul_assoc_sm sm;
		reach(&sm, UL_STA2, false);
		step(&sm, evs[i], UL_AA1, UL_STA13);
	}
}

/* One representative cell (at least) per state, read off PS3.8 Table 9-10 by hand. */
Test(fsm, table_cells)
{
	static const struct {
		enum ul_state s;
		enum ul_event e;
		enum ul_action a;
		enum ul_state next;
	} cells[] = {
		{UL_STA1, UL_EVT1, UL_AE1, UL_STA4},    {UL_STA1, UL_EVT5, UL_AE5, UL_STA2},
		{UL_STA2, UL_EVT6, UL_AE6, UL_STA3},    {UL_STA2, UL_EVT16, UL_AA2, UL_STA1},
		{UL_STA3, UL_EVT7, UL_AE7, UL_STA6},    {UL_STA3, UL_EVT6, UL_AA8, UL_STA13},
		{UL_STA3, UL_EVT16, UL_AA3, UL_STA1},   {UL_STA4, UL_EVT2, UL_AE2, UL_STA5},
		{UL_STA4, UL_EVT17, UL_AA4, UL_STA1},   {UL_STA5, UL_EVT3, UL_AE3, UL_STA6},
		{UL_STA5, UL_EVT4, UL_AE4, UL_STA1},    {UL_STA5, UL_EVT10, UL_AA8, UL_STA13},
		{UL_STA6, UL_EVT9, UL_DT1, UL_STA6},    {UL_STA6, UL_EVT10, UL_DT2, UL_STA6},
		{UL_STA6, UL_EVT11, UL_AR1, UL_STA7},   {UL_STA6, UL_EVT12, UL_AR2, UL_STA8},
		{UL_STA6, UL_EVT3, UL_AA8, UL_STA13},   {UL_STA6, UL_EVT13, UL_AA8, UL_STA13},
		{UL_STA7, UL_EVT10, UL_AR6, UL_STA7},   {UL_STA7, UL_EVT13, UL_AR3, UL_STA1},
		{UL_STA7, UL_EVT12, UL_AR8, UL_STA9},   {UL_STA8, UL_EVT9, UL_AR7, UL_STA8},
		{UL_STA8, UL_EVT14, UL_AR4, UL_STA13},  {UL_STA8, UL_EVT10, UL_AA8, UL_STA13},
		{UL_STA9, UL_EVT14, UL_AR9, UL_STA11},  {UL_STA9, UL_EVT10, UL_AA8, UL_STA13},
		{UL_STA10, UL_EVT13, UL_AR10, UL_STA12}, {UL_STA10, UL_EVT15, UL_AA1, UL_STA13},
		{UL_STA11, UL_EVT13, UL_AR3, UL_STA1},  {UL_STA11, UL_EVT12, UL_AA8, UL_STA13},
		{UL_STA12, UL_EVT14, UL_AR4, UL_STA13}, {UL_STA12, UL_EVT16, UL_AA3, UL_STA1},
		{UL_STA13, UL_EVT17, UL_AR5, UL_STA1},  {UL_STA13, UL_EVT18, UL_AA2, UL_STA1},
		{UL_STA13, UL_EVT6, UL_AA7, UL_STA13},  {UL_STA13, UL_EVT10, UL_AA6, UL_STA13},
	};
	bool state_seen[UL_NSTATES + 1] = {0};
	for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
		enum ul_action a;
		enum ul_state n;
		cr_assert_eq(ul_fsm_lookup(cells[i].s, cells[i].e, &a, &n), 0);
		cr_expect_eq(a, cells[i].a, "%s + %s: %s, want %s", ul_state_name(cells[i].s),
			     ul_event_name(cells[i].e), ul_action_name(a), ul_action_name(cells[i].a));
		cr_expect_eq(n, cells[i].next, "%s + %s -> %s", ul_state_name(cells[i].s),
			     ul_event_name(cells[i].e), ul_state_name(n));
		state_seen[cells[i].s] = true;
	}
	for (int s = UL_STA1; s <= UL_STA13; s++)
		cr_assert(state_seen[s], "no cell for Sta%d", s);
}

/* Census of the whole table: counts of each action and of blank cells, and structural
 * rules (every received-PDU event is handled in every state with a transport). */
Test(fsm, table_census)
{
	int count[UL_NACTIONS + 1] = {0};
	int blanks = 0;
	for (int s = UL_STA1; s <= UL_STA13; s++) {
		for (int e = UL_EVT1; e <= UL_EVT19; e++) {
			enum ul_action a;
			enum ul_state n;
			int rc = ul_fsm_lookup((enum ul_state)s, (enum ul_event)e, &a, &n);
			if (rc == UL_E_FSM_BLANK) {
				cr_assert_eq(a, UL_ACT_NONE);
				cr_assert_eq(n, s);
				blanks++;
				continue;
			}
			cr_assert_eq(rc, 0);
			count[a]++;
			cr_assert_eq(n, ul_action_next(a, true));
		}
	}
	/* received PDUs (Evt3,4,6,10,12,13,16,19) are handled wherever a transport exists */
	static const enum ul_event pdu_evts[] = {UL_EVT3, UL_EVT4, UL_EVT6, UL_EVT10,
						 UL_EVT12, UL_EVT13, UL_EVT16, UL_EVT19};
	for (int s = UL_STA2; s <= UL_STA13; s++) {
		if (s == UL_STA4)
			continue;
		for (size_t i = 0; i < sizeof pdu_evts / sizeof pdu_evts[0]; i++) {
			enum ul_action a;
			enum ul_state n;
			cr_assert_eq(ul_fsm_lookup((enum ul_state)s, pdu_evts[i], &a, &n), 0,
				     "Sta%d + %s blank", s, ul_event_name(pdu_evts[i]));
		}
	}
	/* counted by hand from PS3.8 Table 9-10 */
	cr_expect_eq(count[UL_AA8], 54);
	cr_expect_eq(count[UL_AA1], 15);
	cr_expect_eq(count[UL_AA3], 9);
	cr_expect_eq(count[UL_AA4], 10);
	cr_expect_eq(count[UL_AA2], 5);
	cr_expect_eq(count[UL_AA6], 5);
	cr_expect_eq(count[UL_AA7], 2);
	cr_expect_eq(count[UL_AA5], 1);
	cr_expect_eq(count[UL_AR3], 2);
	cr_expect_eq(count[UL_AR4], 2);
	for (int a = UL_AE1; a <= UL_AR10; a++)
		if (a != UL_AR3 && a != UL_AR4)
			cr_expect_eq(count[a], 1, "%s", ul_action_name(a));
	cr_expect_eq(blanks, 13 * 19 - 123); /* 123 filled cells */
}

Test(fsm, ar8_depends_on_role)
{
	cr_assert_eq(ul_action_next(UL_AR8, true), UL_STA9);
	cr_assert_eq(ul_action_next(UL_AR8, false), UL_STA10);
	cr_assert_eq(ul_action_next(UL_AE6, false), UL_STA3);
	cr_assert_eq(ul_action_next(UL_ACT_NONE, false), 0);
}

Test(fsm, blank_cells_change_nothing)
{
	struct ul_assoc_sm sm;
	enum ul_action a = UL_AA8;
	reach(&sm, UL_STA6, false);
	cr_assert_eq(ul_sm_event(&sm, UL_EVT1, &a), UL_E_FSM_BLANK);  /* second associate */
	cr_assert_eq(a, UL_ACT_NONE);
	cr_assert_eq(ul_sm_event(&sm, UL_EVT14, &a), UL_E_FSM_BLANK); /* release rsp, no rq */
	cr_assert_eq(ul_sm_event(&sm, 0, &a), UL_E_FSM_BLANK);
	cr_assert_eq(ul_sm_event(&sm, 20, &a), UL_E_FSM_BLANK);
	cr_assert_eq(sm.state, UL_STA6);
	reach(&sm, UL_STA1, false);
	cr_assert_eq(ul_sm_event(&sm, UL_EVT10, &a), UL_E_FSM_BLANK); /* PDU with no transport */
	cr_assert_eq(sm.state, UL_STA1);
	enum ul_state n;
	cr_assert_eq(ul_fsm_lookup(0, UL_EVT1, &a, &n), UL_E_FSM_BLANK);
	cr_assert_eq(ul_fsm_lookup(14, UL_EVT1, &a, &n), UL_E_FSM_BLANK);
}

Test(fsm, event_for_pdu)
{
	cr_assert_eq(ul_event_for_pdu(UL_PDU_ASSOC_RQ), UL_EVT6);
	cr_assert_eq(ul_event_for_pdu(UL_PDU_ASSOC_AC), UL_EVT3);
	cr_assert_eq(ul_event_for_pdu(UL_PDU_ASSOC_RJ), UL_EVT4);
	cr_assert_eq(ul_event_for_pdu(UL_PDU_PDATA_TF), UL_EVT10);
	cr_assert_eq(ul_event_for_pdu(UL_PDU_RELEASE_RQ), UL_EVT12);
	cr_assert_eq(ul_event_for_pdu(UL_PDU_RELEASE_RP), UL_EVT13);
	cr_assert_eq(ul_event_for_pdu(UL_PDU_ABORT), UL_EVT16);
	cr_assert_eq(ul_event_for_pdu(0), UL_EVT19);
	cr_assert_eq(ul_event_for_pdu(8), UL_EVT19);
	cr_assert_eq(ul_event_for_pdu(0x7f), UL_EVT19);
}
