CREATE TABLE `instance_health_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`instance_id` text NOT NULL,
	`org_id` text NOT NULL,
	`from` text NOT NULL,
	`to` text NOT NULL,
	`reason` text NOT NULL,
	`ts` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `instance_health_events_instance` ON `instance_health_events` (`instance_id`,`id`);--> statement-breakpoint
CREATE TABLE `smartsend_reservations` (
	`message_id` text PRIMARY KEY NOT NULL,
	`org_id` text NOT NULL,
	`instance_id` text NOT NULL,
	`mode` text NOT NULL,
	`recipient` text NOT NULL,
	`send_at` integer NOT NULL,
	`composing_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `smartsend_reservations_instance` ON `smartsend_reservations` (`instance_id`,`send_at`);--> statement-breakpoint
CREATE TABLE `smartsend_sticky` (
	`org_id` text NOT NULL,
	`recipient` text NOT NULL,
	`instance_id` text NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`org_id`, `recipient`)
);
--> statement-breakpoint
ALTER TABLE `whatsapp_instances` ADD `warmup_completed_at` integer;--> statement-breakpoint
ALTER TABLE `whatsapp_instances` ADD `last_send_at` integer;--> statement-breakpoint
ALTER TABLE `whatsapp_instances` ADD `not_before` integer;--> statement-breakpoint
ALTER TABLE `whatsapp_instances` ADD `burst_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `whatsapp_instances` ADD `burst_target` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `whatsapp_instances` ADD `hour_window` integer;--> statement-breakpoint
ALTER TABLE `whatsapp_instances` ADD `hour_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `whatsapp_instances` ADD `day_window` integer;--> statement-breakpoint
ALTER TABLE `whatsapp_instances` ADD `day_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `whatsapp_instances` ADD `throttled_until` integer;--> statement-breakpoint
ALTER TABLE `whatsapp_instances` ADD `outcomes` text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE INDEX `whatsapp_instances_evolution` ON `whatsapp_instances` (`evolution_instance`);--> statement-breakpoint
CREATE INDEX `sent_messages_evolution` ON `sent_messages` (`evolution_message_id`);