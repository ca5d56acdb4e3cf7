CREATE TABLE `account_balances` (
	`account` text PRIMARY KEY NOT NULL,
	`org_id` text,
	`balance_micro` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `ledger_transfers` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`kind` text NOT NULL,
	`amount_micro` integer NOT NULL,
	`reference` text,
	`reservation_id` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `ledger_transfers_org` ON `ledger_transfers` (`org_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `usage_counters` (
	`org_id` text NOT NULL,
	`cycle` text NOT NULL,
	`messages` integer DEFAULT 0 NOT NULL,
	`ai_runs` integer DEFAULT 0 NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`org_id`, `cycle`)
);
--> statement-breakpoint
ALTER TABLE `plans` ADD `overdraft_micro` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `reservations` ADD `transfer_id` text;