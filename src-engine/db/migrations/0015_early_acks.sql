CREATE TABLE `early_acks` (
	`evolution_message_id` text NOT NULL,
	`status` text NOT NULL,
	`received_at` integer NOT NULL,
	PRIMARY KEY(`evolution_message_id`, `status`)
);
--> statement-breakpoint
CREATE INDEX `early_acks_received` ON `early_acks` (`received_at`);--> statement-breakpoint
CREATE INDEX `sent_messages_sending` ON `sent_messages` (`sending_on`) WHERE status = 'sending';