-- dicomaid index, schema version 1: the patient/study/series/instance hierarchy of the
-- instances on disk (PS3.3 A.1.2, the DICOM information model) and the association audit.
-- The files under the storage root are the truth; every row here can be rebuilt from them.
-- Applied by src/storage/index.c inside one transaction, then PRAGMA user_version = 1.
-- Conventions: times ending in _at are Unix milliseconds (UTC); DICOM text values are kept as
-- received (DA 'YYYYMMDD', TM 'HHMMSS.FFFFFF', multi-valued DS with backslashes), an absent or
-- empty element is NULL; IS/US values are INTEGER (NULL when absent or not a number).

-- One row per Patient ID (0010,0020). Issuer of Patient ID is not considered: one node sees one
-- issuer in practice. Instances without a Patient ID share the row whose patient_id is ''.
CREATE TABLE patients (
	id          INTEGER PRIMARY KEY,
	patient_id  TEXT NOT NULL UNIQUE,   -- (0010,0020) LO
	name        TEXT,                   -- (0010,0010) PN, all component groups
	birth_date  TEXT,                   -- (0010,0030) DA
	sex         TEXT                    -- (0010,0040) CS
);

CREATE TABLE studies (
	id           INTEGER PRIMARY KEY,
	study_uid    TEXT NOT NULL UNIQUE,  -- (0020,000D) UI
	patient_ref  INTEGER NOT NULL REFERENCES patients(id),
	study_date   TEXT,                  -- (0008,0020) DA
	study_time   TEXT,                  -- (0008,0030) TM
	description  TEXT,                  -- (0008,1030) LO
	accession    TEXT,                  -- (0008,0050) SH
	study_id     TEXT,                  -- (0020,0010) SH
	created_at   INTEGER NOT NULL,      -- first instance of the study committed
	updated_at   INTEGER NOT NULL       -- last instance committed (stable-study detection)
);
CREATE INDEX studies_patient ON studies(patient_ref);
CREATE INDEX studies_date ON studies(study_date);
CREATE INDEX studies_accession ON studies(accession);
CREATE INDEX studies_updated ON studies(updated_at);

CREATE TABLE series (
	id           INTEGER PRIMARY KEY,
	series_uid   TEXT NOT NULL UNIQUE,  -- (0020,000E) UI
	study_ref    INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
	number       INTEGER,               -- (0020,0011) IS
	modality     TEXT,                  -- (0008,0060) CS
	description  TEXT                   -- (0008,103E) LO
);
CREATE INDEX series_study ON series(study_ref);
CREATE INDEX series_modality ON series(modality);

CREATE TABLE instances (
	id                 INTEGER PRIMARY KEY,
	sop_instance_uid   TEXT NOT NULL UNIQUE,  -- (0008,0018) UI
	series_ref         INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
	sop_class_uid      TEXT,              -- (0008,0016) UI
	instance_number    INTEGER,           -- (0020,0013) IS
	rows               INTEGER,           -- (0028,0010) US
	columns            INTEGER,           -- (0028,0011) US
	frames             INTEGER,           -- (0028,0008) IS
	image_position     TEXT,              -- (0020,0032) DS, 3 values
	image_orientation  TEXT,              -- (0020,0037) DS, 6 values
	pixel_spacing      TEXT,              -- (0028,0030) DS, 2 values
	slice_thickness    TEXT,              -- (0018,0050) DS
	transfer_syntax    TEXT NOT NULL,     -- (0002,0010) of the stored file
	file_path          TEXT NOT NULL,     -- relative to the storage root
	file_size          INTEGER NOT NULL,  -- bytes, Part 10 header included
	received_at        INTEGER NOT NULL,  -- committed (made durable) at
	calling_ae         TEXT,              -- sender's AE title
	specific_charset   TEXT               -- (0008,0005) CS, for decoding the text columns
);
CREATE INDEX instances_series ON instances(series_ref);
CREATE INDEX instances_received ON instances(received_at);

-- Audit: one row per association, written at A-ASSOCIATE-AC (started_at) and at release or
-- abort (ended_at, outcome such as 'released', 'aborted', 'timeout').
CREATE TABLE associations (
	id                  INTEGER PRIMARY KEY,
	peer                TEXT NOT NULL,    -- address:port
	calling_ae          TEXT NOT NULL,
	called_ae           TEXT NOT NULL,
	started_at          INTEGER NOT NULL,
	ended_at            INTEGER,
	instances_received  INTEGER NOT NULL DEFAULT 0,
	outcome             TEXT
);
CREATE INDEX associations_started ON associations(started_at);
