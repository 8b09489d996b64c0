-- dicomaid index, schema version 3: the durable analysis queue, its findings and the
-- delivery queue of results (DESIGN.md, Analysis). A series is analysed once no instance of
-- it has arrived for [analysis] stable_seconds: the trigger below marks a series "due" and
-- stamps it whenever one of its instances is committed; the scheduler turns due, quiet
-- series into pending jobs. Jobs and deliveries survive crashes: rows left 'running' or
-- 'sending' by a killed process return to 'pending' at start-up.

ALTER TABLE series ADD COLUMN updated_at INTEGER;      -- last instance committed (ms)
ALTER TABLE series ADD COLUMN analysis_due INTEGER NOT NULL DEFAULT 0; -- 1: not analysed since
CREATE INDEX series_due ON series(analysis_due, updated_at);

CREATE TRIGGER instances_touch_series_insert AFTER INSERT ON instances
BEGIN
	UPDATE series SET updated_at = NEW.received_at, analysis_due = 1 WHERE id = NEW.series_ref;
END;
CREATE TRIGGER instances_touch_series_update AFTER UPDATE OF received_at ON instances
BEGIN
	UPDATE series SET updated_at = NEW.received_at, analysis_due = 1 WHERE id = NEW.series_ref;
END;

-- One row per analysis of a series (a series analysed again after late instances gets a
-- new row; predecessor_ref names the analysis whose report the new one supersedes).
CREATE TABLE analyses (
	id               INTEGER PRIMARY KEY,
	series_ref       INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
	state            TEXT NOT NULL CHECK (state IN
	                 ('pending', 'running', 'done', 'failed', 'not-applicable')),
	attempts         INTEGER NOT NULL DEFAULT 0,
	last_error       TEXT,                 -- failure or not-applicable reason, one line
	instances        INTEGER,              -- instances of the series at scheduling time
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	next_attempt_at  INTEGER NOT NULL DEFAULT 0, -- retry backoff
	model_uid        TEXT,                 -- Device Observer UID of the model that ran
	study_probability REAL,
	lesions          INTEGER,
	sr_uid           TEXT,                 -- SOP Instance UID of the SR written
	gsps_uid         TEXT,                 -- and of the presentation state, if any
	predecessor_ref  INTEGER REFERENCES analyses(id)
);
CREATE INDEX analyses_queue ON analyses(state, next_attempt_at);
CREATE INDEX analyses_series ON analyses(series_ref);

-- One row per lesion an analysis found.
CREATE TABLE findings (
	id            INTEGER PRIMARY KEY,
	analysis_ref  INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
	lesion        INTEGER NOT NULL,          -- 1-based, highest probability first
	type          TEXT,                      -- glioma | meningioma | pituitary | ''
	code_value    TEXT, code_scheme TEXT, code_meaning TEXT,
	probability   REAL NOT NULL,
	centre_x REAL, centre_y REAL, centre_z REAL,   -- patient coordinates, mm (LPS)
	extent_x REAL, extent_y REAL, extent_z REAL,   -- mm
	volume_mm3    REAL,
	slices        INTEGER,
	tracking_uid  TEXT                       -- Tracking Unique Identifier in the SR
);
CREATE INDEX findings_analysis ON findings(analysis_ref);

-- Results to send to each [destination]; sent at most once after a confirmed success.
CREATE TABLE deliveries (
	id               INTEGER PRIMARY KEY,
	destination      TEXT NOT NULL,          -- [destination NAME]
	sop_instance_uid TEXT NOT NULL,
	sop_class_uid    TEXT NOT NULL,
	transfer_syntax  TEXT NOT NULL,
	rel_path         TEXT NOT NULL,          -- relative to the storage root
	analysis_ref     INTEGER REFERENCES analyses(id) ON DELETE SET NULL,
	state            TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_attempt_at  INTEGER NOT NULL DEFAULT 0,
	last_status      TEXT,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	UNIQUE (destination, sop_instance_uid)
);
CREATE INDEX deliveries_queue ON deliveries(state, next_attempt_at);
