-- dicomaid index, schema version 7: instances whose durability is not confirmed yet.
-- The store's committer (src/storage/store.c) commits a batch's rows first, then fdatasyncs
-- the files, fsyncs their directories and syncs this database's WAL all at once, and answers
-- only when every sync has completed. Each new row of the batch gets a row here in the same
-- transaction; the next batch's transaction (or a clean stop) empties the table. Rows still
-- here at start-up follow an unclean stop: their file is checked (size, CRC-32) and the
-- instance is removed when it does not match (it was never acknowledged).
CREATE TABLE store_pending (
	instance_ref  INTEGER PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
	file_crc32    INTEGER NOT NULL      -- CRC-32 (ISO 3309, as zlib) of the whole file
);
