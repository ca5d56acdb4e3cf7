CREATE TABLE `ledger_outbox` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`transfer_id` text NOT NULL,
	`org_id` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ledger_outbox_transfer_id_unique` ON `ledger_outbox` (`transfer_id`);--> statement-breakpoint
CREATE INDEX `ledger_outbox_org` ON `ledger_outbox` (`org_id`,`seq`);--> statement-breakpoint
CREATE TABLE `ledger_sync_state` (
	`endpoint` text PRIMARY KEY NOT NULL,
	`org_id` text,
	`cursor` text,
	`last_pushed_seq` integer DEFAULT 0 NOT NULL,
	`last_sync_at` integer,
	`last_attempt_at` integer,
	`last_error` text,
	`balance_micro` integer,
	`server_time` integer,
	`created_at` integer NOT NULL
);
