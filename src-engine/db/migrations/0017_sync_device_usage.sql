ALTER TABLE `ledger_sync_state` ADD `device` text;--> statement-breakpoint
ALTER TABLE `ledger_sync_state` ADD `device_usage_cycle` text;--> statement-breakpoint
ALTER TABLE `ledger_sync_state` ADD `device_usage_messages` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `ledger_sync_state` ADD `device_usage_ai_runs` integer DEFAULT 0 NOT NULL;