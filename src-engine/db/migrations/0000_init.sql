CREATE TABLE `agent_run_logs` (
	`run_id` text NOT NULL,
	`seq` integer NOT NULL,
	`stream` text NOT NULL,
	`text` text NOT NULL,
	`ts` integer NOT NULL,
	PRIMARY KEY(`run_id`, `seq`)
);
--> statement-breakpoint
CREATE TABLE `agent_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`status` text NOT NULL,
	`prompt` text NOT NULL,
	`model` text,
	`max_steps` integer NOT NULL,
	`timeout_s` integer NOT NULL,
	`reservation_id` text,
	`job_id` text,
	`container_id` text,
	`output` text,
	`error` text,
	`steps_used` integer,
	`tokens_in` integer,
	`tokens_out` integer,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `agent_runs_org` ON `agent_runs` (`org_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `alerts` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`kind` text NOT NULL,
	`threshold` integer,
	`cycle` text,
	`message` text NOT NULL,
	`created_at` integer NOT NULL,
	`acknowledged_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alerts_once` ON `alerts` (`org_id`,`kind`,`threshold`,`cycle`);--> statement-breakpoint
CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`name` text DEFAULT 'default' NOT NULL,
	`prefix` text NOT NULL,
	`hash` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`last_used_at` integer,
	`revoked_at` integer,
	FOREIGN KEY (`org_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_hash_unique` ON `api_keys` (`hash`);--> statement-breakpoint
CREATE INDEX `api_keys_org` ON `api_keys` (`org_id`);--> statement-breakpoint
CREATE TABLE `dead_letters` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`queue` text NOT NULL,
	`job_id` text NOT NULL,
	`payload` text NOT NULL,
	`error` text NOT NULL,
	`attempts` integer NOT NULL,
	`failed_at` integer NOT NULL,
	`resolved` integer DEFAULT false NOT NULL,
	`resolved_at` integer,
	`retried_as` text DEFAULT '[]' NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `dead_letters_job` ON `dead_letters` (`queue`,`job_id`);--> statement-breakpoint
CREATE INDEX `dead_letters_open` ON `dead_letters` (`resolved`,`id`);--> statement-breakpoint
CREATE TABLE `job_keys` (
	`queue` text NOT NULL,
	`key` text NOT NULL,
	`job_seq` integer NOT NULL,
	PRIMARY KEY(`queue`, `key`)
);
--> statement-breakpoint
CREATE TABLE `jobs` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`queue` text NOT NULL,
	`job_key` text,
	`data` text NOT NULL,
	`state` text NOT NULL,
	`priority` integer NOT NULL,
	`attempts_made` integer DEFAULT 0 NOT NULL,
	`max_attempts` integer NOT NULL,
	`backoff` text NOT NULL,
	`timeout_ms` integer,
	`run_at` integer NOT NULL,
	`lease_until` integer,
	`lease_token` text,
	`progress` text,
	`result` text,
	`last_error` text,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `jobs_fetch` ON `jobs` (`queue`,`priority`,`run_at`,`seq`) WHERE state = 'waiting';--> statement-breakpoint
CREATE INDEX `jobs_due` ON `jobs` (`queue`,`run_at`) WHERE state = 'waiting';--> statement-breakpoint
CREATE INDEX `jobs_lease` ON `jobs` (`lease_until`) WHERE state = 'active';--> statement-breakpoint
CREATE INDEX `jobs_done` ON `jobs` (`queue`,`state`) WHERE state IN ('completed', 'failed');--> statement-breakpoint
CREATE TABLE `ledger_entries` (
	`id` text PRIMARY KEY NOT NULL,
	`transfer_id` text NOT NULL,
	`org_id` text NOT NULL,
	`account` text NOT NULL,
	`amount_micro` integer NOT NULL,
	`kind` text NOT NULL,
	`reference` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `ledger_entries_account` ON `ledger_entries` (`org_id`,`account`);--> statement-breakpoint
CREATE INDEX `ledger_entries_transfer` ON `ledger_entries` (`transfer_id`);--> statement-breakpoint
CREATE TABLE `organizations` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`plan_id` text NOT NULL,
	`timezone` text DEFAULT 'UTC' NOT NULL,
	`referral_code` text,
	`referred_by` text,
	`cycle_start` integer NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`plan_id`) REFERENCES `plans`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `organizations_referral_code_unique` ON `organizations` (`referral_code`);--> statement-breakpoint
CREATE TABLE `plans` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`price_micro` integer NOT NULL,
	`messages_included` integer NOT NULL,
	`ai_runs_included` integer,
	`max_instances` integer NOT NULL,
	`white_label` integer DEFAULT false NOT NULL,
	`rate_limit_per_min` integer DEFAULT 60 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `price_book` (
	`key` text PRIMARY KEY NOT NULL,
	`amount_micro` integer NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `queue_state` (
	`queue` text PRIMARY KEY NOT NULL,
	`paused` integer DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE TABLE `reservations` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`amount_micro` integer NOT NULL,
	`captured_micro` integer,
	`state` text NOT NULL,
	`reference` text,
	`job_id` text,
	`expires_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`resolved_at` integer
);
--> statement-breakpoint
CREATE INDEX `reservations_pending` ON `reservations` (`state`,`expires_at`);--> statement-breakpoint
CREATE INDEX `reservations_org` ON `reservations` (`org_id`,`state`);--> statement-breakpoint
CREATE TABLE `schedules` (
	`queue` text NOT NULL,
	`key` text NOT NULL,
	`cron` text NOT NULL,
	`tz` text NOT NULL,
	`data` text NOT NULL,
	`next_run_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`queue`, `key`)
);
--> statement-breakpoint
CREATE INDEX `schedules_due` ON `schedules` (`next_run_at`);--> statement-breakpoint
CREATE TABLE `sent_messages` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`instance_id` text,
	`idempotency_key` text,
	`to` text NOT NULL,
	`text` text NOT NULL,
	`status` text NOT NULL,
	`evolution_message_id` text,
	`job_id` text,
	`reservation_id` text,
	`error` text,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`sent_at` integer,
	FOREIGN KEY (`org_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sent_messages_idem` ON `sent_messages` (`org_id`,`idempotency_key`);--> statement-breakpoint
CREATE INDEX `sent_messages_org` ON `sent_messages` (`org_id`);--> statement-breakpoint
CREATE TABLE `whatsapp_instances` (
	`id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`name` text NOT NULL,
	`evolution_instance` text NOT NULL,
	`health` text DEFAULT 'WARMUP' NOT NULL,
	`health_reason` text,
	`health_changed_at` integer,
	`connection_state` text,
	`warmup_started_at` integer,
	`daily_cap` integer,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`org_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `whatsapp_instances_org_name` ON `whatsapp_instances` (`org_id`,`name`);