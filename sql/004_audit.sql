-- dicomaid index, schema version 4: the rest of the association audit (issue 8, "Audit").
-- An association's row now also says why it was rejected or aborted (detail: the A-ASSOCIATE-RJ
-- result/source/reason or the abort's cause, never patient data) and how many DIMSE responses
-- it answered with a failure status (PS3.7 Annex C: anything but success, pending, cancel
-- and warning). The first failures of each association are kept one row each.

ALTER TABLE associations ADD COLUMN detail TEXT;
ALTER TABLE associations ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

CREATE TABLE dimse_failures (
	id                INTEGER PRIMARY KEY,
	association_ref   INTEGER NOT NULL REFERENCES associations(id) ON DELETE CASCADE,
	at                INTEGER NOT NULL,   -- Unix ms when the response was sent
	command           TEXT NOT NULL,      -- e.g. C-STORE-RSP
	message_id        INTEGER,            -- Message ID Being Responded To (0000,0120)
	status            INTEGER NOT NULL,   -- Status (0000,0900)
	sop_class_uid     TEXT,               -- Affected SOP Class UID (0000,0002)
	sop_instance_uid  TEXT,               -- Affected SOP Instance UID (0000,1000)
	comment           TEXT                -- Error Comment (0000,0902) as sent
);
CREATE INDEX dimse_failures_association ON dimse_failures(association_ref);
