-- The ledger is append-only: a posted transfer or entry is never changed or removed, whatever
-- the client (corrections are new ADJUSTMENT transfers).
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER ledger_transfers_append_only BEFORE UPDATE OR DELETE ON "ledger_transfers"
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON "ledger_entries"
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON "ledger_transfers"
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON "ledger_entries"
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
-- Plans are data, with the same ids and figures as the desktop's seed (engine migration 0002_seed).
-- Money in micro-credits (1 credit = 1,000,000 = US$1); updated_at 0 = "seed".
-- Rate limits (requests per minute): Free 60, Starter 120, Partner 600. No plan allows overdraft.
INSERT INTO "plans" ("id", "name", "price_micro", "messages_included", "ai_runs_included", "max_instances", "white_label", "rate_limit_per_min", "overdraft_micro", "updated_at") VALUES
  ('free', 'Free', 0, 50, 1, 1, false, 60, 0, 0),
  ('starter', 'Starter', 15000000, 2000, NULL, 1, false, 120, 0, 0),
  ('partner', 'Partner', 199000000, 50000, NULL, 10, true, 600, 0, 0)
ON CONFLICT ("id") DO NOTHING;
