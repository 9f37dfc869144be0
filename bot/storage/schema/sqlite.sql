-- tsunagu on SQLite.  Every statement is idempotent: it runs at each start, on new and old files.
-- Names and types match what earlier versions created, so an existing database is used as it is.
CREATE TABLE IF NOT EXISTS "inbox" (
   "event_id" TEXT PRIMARY KEY,
   "channel" TEXT,
   "kind" TEXT,
   "user_hash" TEXT,
   "event_ts" REAL,
   "received_at" REAL,
   "payload" TEXT,
   "status" TEXT DEFAULT 'new',
   "redelivery" INTEGER DEFAULT 0,
   "attempts" INTEGER DEFAULT 0,
   "lease_until" REAL,
   "claimed_by" TEXT,
   "done_at" REAL,
   "result" TEXT
);
CREATE TABLE IF NOT EXISTS "outbox" (
   "id" INTEGER PRIMARY KEY,
   "event_id" TEXT,
   "seq" INTEGER,
   "channel" TEXT,
   "user_hash" TEXT,
   "to_id" TEXT,
   "reply_token" TEXT,
   "messages" TEXT,
   "retry_key" TEXT,
   "target" TEXT,
   "event_ts" REAL,
   "status" TEXT DEFAULT 'pending',
   "attempt_kind" TEXT,
   "attempts" INTEGER DEFAULT 0,
   "next_at" REAL,
   "lease_until" REAL,
   "last_error" TEXT,
   "created_at" REAL,
   "sent_at" REAL,
   "sent_kind" TEXT,
   "in_doubt" INTEGER,
   "claimed_by" TEXT
);
CREATE TABLE IF NOT EXISTS "sessions" (
   "user_hash" TEXT PRIMARY KEY,
   "channel" TEXT,
   "data" TEXT,
   "updated_at" REAL,
   "expires_at" REAL
);
CREATE TABLE IF NOT EXISTS "meta" (
   "key" TEXT PRIMARY KEY,
   "value" TEXT
);
CREATE TABLE IF NOT EXISTS "escalations" (
   "case_no" TEXT PRIMARY KEY,
   "created_at" REAL,
   "intent" TEXT,
   "title" TEXT,
   "urgency" TEXT,
   "area" TEXT,
   "excerpt" TEXT,
   "status" TEXT DEFAULT 'open',
   "taken_by" TEXT,
   "taken_name" TEXT,
   "taken_at" REAL,
   "slack_channel" TEXT,
   "slack_ts" TEXT
);
CREATE TABLE IF NOT EXISTS "reviews" (
   "id" INTEGER PRIMARY KEY,
   "created_at" REAL,
   "text" TEXT,
   "predicted" TEXT,
   "correct" TEXT,
   "reviewer" TEXT,
   "exported_at" REAL,
   "dedupe_key" TEXT
);
CREATE TABLE IF NOT EXISTS "dead_letters" (
   "event_id" TEXT PRIMARY KEY,
   "channel" TEXT,
   "kind" TEXT,
   "user_hash" TEXT,
   "error" TEXT,
   "attempts" INTEGER,
   "at" REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS "idx_reviews_dedupe_key" ON "reviews" ("dedupe_key");
CREATE INDEX IF NOT EXISTS "idx_inbox_status_received_at" ON "inbox" ("status", "received_at");
CREATE INDEX IF NOT EXISTS "idx_inbox_user_hash" ON "inbox" ("user_hash");
CREATE INDEX IF NOT EXISTS "idx_inbox_user_hash_status_event_ts" ON "inbox" ("user_hash", "status", "event_ts");
CREATE UNIQUE INDEX IF NOT EXISTS "idx_outbox_event_id_seq" ON "outbox" ("event_id", "seq");
CREATE INDEX IF NOT EXISTS "idx_outbox_status_next_at" ON "outbox" ("status", "next_at");
CREATE INDEX IF NOT EXISTS "idx_outbox_user_hash_status" ON "outbox" ("user_hash", "status");
