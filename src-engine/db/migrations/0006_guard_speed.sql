DROP INDEX `reservations_pending`;--> statement-breakpoint
DROP INDEX `reservations_org`;--> statement-breakpoint
CREATE INDEX `reservations_expiry` ON `reservations` (`expires_at`) WHERE state = 'pending';--> statement-breakpoint
DROP INDEX `sent_messages_org`;--> statement-breakpoint
DROP INDEX `sent_messages_evolution`;--> statement-breakpoint
CREATE INDEX `sent_messages_evolution` ON `sent_messages` (`evolution_message_id`) WHERE evolution_message_id IS NOT NULL;--> statement-breakpoint
ALTER TABLE `account_balances` ADD `pending_micro` integer DEFAULT 0 NOT NULL;