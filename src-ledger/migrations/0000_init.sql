CREATE TABLE "account_balances" (
	"org_id" text NOT NULL,
	"account" text NOT NULL,
	"balance_micro" bigint NOT NULL,
	CONSTRAINT "account_balances_org_id_account_pk" PRIMARY KEY("org_id","account")
);
--> statement-breakpoint
CREATE TABLE "devices" (
	"id" text PRIMARY KEY NOT NULL,
	"org_id" text NOT NULL,
	"name" text NOT NULL,
	"token_hash" text NOT NULL,
	"last_pushed_seq" bigint DEFAULT 0 NOT NULL,
	"revoked_at" bigint,
	"last_seen_at" bigint,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ledger_entries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"transfer_id" uuid NOT NULL,
	"org_id" text NOT NULL,
	"account" text NOT NULL,
	"amount_micro" bigint NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "orgs" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"plan_id" text NOT NULL,
	"pending_plan_id" text,
	"referral_code" text NOT NULL,
	"referred_by" text,
	"cycle_start" bigint NOT NULL,
	"billed_cycle" text,
	"server_seq" bigint DEFAULT 0 NOT NULL,
	"created_at" bigint NOT NULL,
	CONSTRAINT "orgs_no_self_referral" CHECK ("orgs"."referred_by" IS NULL OR "orgs"."referred_by" <> "orgs"."id")
);
--> statement-breakpoint
CREATE TABLE "plans" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"price_micro" bigint NOT NULL,
	"messages_included" integer NOT NULL,
	"ai_runs_included" integer,
	"max_instances" integer NOT NULL,
	"white_label" boolean NOT NULL,
	"rate_limit_per_min" integer NOT NULL,
	"overdraft_micro" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stripe_events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"org_id" text,
	"transfer_id" uuid,
	"outcome" text NOT NULL,
	"received_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ledger_transfers" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" text NOT NULL,
	"kind" text NOT NULL,
	"amount_micro" bigint NOT NULL,
	"reference" text,
	"source" text NOT NULL,
	"device_id" text,
	"device_seq" bigint,
	"client_created_at" bigint,
	"org_seq" bigint,
	"cycle" text NOT NULL,
	"source_org_id" text,
	"level" smallint,
	"created_at" bigint NOT NULL,
	CONSTRAINT "ledger_transfers_kind" CHECK ("ledger_transfers"."kind" IN ('TOPUP', 'USAGE_MESSAGE', 'USAGE_AGENT', 'COMMISSION', 'ADJUSTMENT', 'PLAN_CHARGE')),
	CONSTRAINT "ledger_transfers_sign" CHECK ("ledger_transfers"."kind" = 'ADJUSTMENT' OR "ledger_transfers"."amount_micro" >= 0)
);
--> statement-breakpoint
CREATE TABLE "usage_counters" (
	"org_id" text NOT NULL,
	"cycle" text NOT NULL,
	"messages" integer DEFAULT 0 NOT NULL,
	"ai_runs" integer DEFAULT 0 NOT NULL,
	"updated_at" bigint NOT NULL,
	CONSTRAINT "usage_counters_org_id_cycle_pk" PRIMARY KEY("org_id","cycle")
);
--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_transfer_id_ledger_transfers_id_fk" FOREIGN KEY ("transfer_id") REFERENCES "public"."ledger_transfers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orgs" ADD CONSTRAINT "orgs_plan_id_plans_id_fk" FOREIGN KEY ("plan_id") REFERENCES "public"."plans"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orgs" ADD CONSTRAINT "orgs_pending_plan_id_plans_id_fk" FOREIGN KEY ("pending_plan_id") REFERENCES "public"."plans"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "orgs" ADD CONSTRAINT "orgs_referred_by_orgs_id_fk" FOREIGN KEY ("referred_by") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_transfers" ADD CONSTRAINT "ledger_transfers_org_id_orgs_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."orgs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "devices_org" ON "devices" USING btree ("org_id");--> statement-breakpoint
CREATE INDEX "ledger_entries_transfer" ON "ledger_entries" USING btree ("transfer_id");--> statement-breakpoint
CREATE INDEX "ledger_entries_org_account" ON "ledger_entries" USING btree ("org_id","account");--> statement-breakpoint
CREATE UNIQUE INDEX "orgs_referral_code" ON "orgs" USING btree ("referral_code");--> statement-breakpoint
CREATE INDEX "orgs_referred_by" ON "orgs" USING btree ("referred_by");--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_transfers_org_seq" ON "ledger_transfers" USING btree ("org_id","org_seq") WHERE "ledger_transfers"."org_seq" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "ledger_transfers_org_cycle" ON "ledger_transfers" USING btree ("org_id","cycle");--> statement-breakpoint
CREATE INDEX "ledger_transfers_source_org" ON "ledger_transfers" USING btree ("source_org_id") WHERE "ledger_transfers"."source_org_id" IS NOT NULL;