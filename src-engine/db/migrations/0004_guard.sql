CREATE TABLE `branding` (
	`org_id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`accent_color` text NOT NULL,
	`logo` text,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`org_id`) REFERENCES `organizations`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `idempotency_keys` (
	`org_id` text NOT NULL,
	`key` text NOT NULL,
	`operation` text NOT NULL,
	`body_hash` text NOT NULL,
	`result` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`org_id`, `key`)
);
--> statement-breakpoint
CREATE TABLE `job_outbox` (
	`job_id` text PRIMARY KEY NOT NULL,
	`queue` text NOT NULL,
	`data` text NOT NULL,
	`opts` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `agent_runs` ADD `free` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `agent_runs` ADD `cycle` text;--> statement-breakpoint
ALTER TABLE `dead_letters` ADD `org_id` text GENERATED ALWAYS AS (json_extract(payload, '$.orgId')) VIRTUAL;--> statement-breakpoint
CREATE INDEX `dead_letters_org` ON `dead_letters` (`org_id`,`id`);--> statement-breakpoint
ALTER TABLE `sent_messages` ADD `priority` text DEFAULT 'normal' NOT NULL;--> statement-breakpoint
ALTER TABLE `sent_messages` ADD `free` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `sent_messages` ADD `cycle` text;--> statement-breakpoint
ALTER TABLE `usage_counters` ADD `messages_held` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_counters` ADD `ai_runs_held` integer DEFAULT 0 NOT NULL;