-- Plans and prices are data: seeded here, later synced from the hosted ledger (a newer updated_at wins).
-- Money in micro-credits; 1 credit = 1,000,000 micro = US$1. updated_at 0 = "seed, never synced".
-- Rate limits (requests per minute): Free 60, Starter 120, Partner 600. No plan allows overdraft.
INSERT INTO `plans` (`id`, `name`, `price_micro`, `messages_included`, `ai_runs_included`, `max_instances`, `white_label`, `rate_limit_per_min`, `overdraft_micro`, `updated_at`) VALUES
  ('free', 'Free', 0, 50, 1, 1, 0, 60, 0, 0),
  ('starter', 'Starter', 15000000, 2000, NULL, 1, 0, 120, 0, 0),
  ('partner', 'Partner', 199000000, 50000, NULL, 10, 1, 600, 0, 0)
ON CONFLICT (`id`) DO NOTHING;
--> statement-breakpoint
-- `message.overage`: one message beyond the plan's monthly quota (0.05 credits).
-- `agent.run`: one agent run beyond the plan's included runs (only Free has a limit: 1 per cycle).
INSERT INTO `price_book` (`key`, `amount_micro`, `description`, `updated_at`) VALUES
  ('message.overage', 50000, 'One WhatsApp message beyond the plan''s monthly quota', 0),
  ('agent.run', 1000000, 'One agent run beyond the plan''s included AI runs', 0)
ON CONFLICT (`key`) DO NOTHING;
