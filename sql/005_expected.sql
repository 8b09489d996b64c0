-- dicomaid index, schema version 5: a series may declare how many instances it has
-- (Images in Acquisition (0020,1002)); it is then ready for analysis as soon as that many
-- have arrived, without waiting for [analysis] stable_seconds.
ALTER TABLE series ADD COLUMN expected_instances INTEGER;
