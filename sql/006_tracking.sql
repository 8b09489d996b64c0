-- dicomaid index, schema version 6: lesion identity across analyses of a series, and the UIDs
-- of an analysis' results fixed before they are written.
--  * findings.tracking_id: the Tracking Identifier (TID 1500, DCM 112039) the SR gave the
--    lesion ("Lesion 2"); a re-analysis keeps it, with the Tracking Unique Identifier, for the
--    same lesion.
--  * analyses.plan_*: the Series and SOP Instance UIDs the job's SR and presentation state
--    carry, chosen by its first attempt that writes them. A retry (after a crash between
--    storing the results and marking the job done) writes the same objects again under the
--    same UIDs, so the study never holds an orphan result beside a second, different one.
ALTER TABLE findings ADD COLUMN tracking_id TEXT;
ALTER TABLE analyses ADD COLUMN plan_sr_series_uid TEXT;
ALTER TABLE analyses ADD COLUMN plan_sr_uid TEXT;
ALTER TABLE analyses ADD COLUMN plan_gsps_series_uid TEXT;
ALTER TABLE analyses ADD COLUMN plan_gsps_uid TEXT;
