-- dicomaid index, schema version 2: indexes for Query/Retrieve (src/query, PS3.4 C.6).
-- Study-level C-FIND keys: Patient's Name (exact and GLOB prefix use the BINARY index, the
-- case-insensitive option's LIKE / COLLATE NOCASE the NOCASE one), Study ID; Modalities in
-- Study and SOP Classes in Study are EXISTS / DISTINCT over a study's series and instances,
-- and the derived counts count the same rows: the composite indexes cover those subqueries.
-- Patient ID (UNIQUE), Study Date, Accession Number and the UIDs already have indexes (001).
CREATE INDEX patients_name ON patients(name);
CREATE INDEX patients_name_nocase ON patients(name COLLATE NOCASE);
CREATE INDEX studies_study_id ON studies(study_id);
CREATE INDEX studies_date_time ON studies(study_date, study_time);
CREATE INDEX series_study_modality ON series(study_ref, modality);
CREATE INDEX instances_series_class ON instances(series_ref, sop_class_uid);
