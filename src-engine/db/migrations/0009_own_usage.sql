ALTER TABLE `usage_counters` ADD `own_messages` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `usage_counters` ADD `own_ai_runs` integer DEFAULT 0 NOT NULL;