import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

// Money is always integer micro-credits (1 credit = 1,000,000): never floats.
// Times are integer milliseconds since the epoch (UTC).

const createdAt = () =>
  integer('created_at')
    .notNull()
    .default(sql`(unixepoch('subsec') * 1000)`);

export const plans = sqliteTable('plans', {
  id: text('id').primaryKey(), // 'free' | 'starter' | 'partner' | ...
  name: text('name').notNull(),
  priceMicro: integer('price_micro').notNull(),
  messagesIncluded: integer('messages_included').notNull(),
  /** null = unlimited */
  aiRunsIncluded: integer('ai_runs_included'),
  maxInstances: integer('max_instances').notNull(),
  whiteLabel: integer('white_label', { mode: 'boolean' }).notNull().default(false),
  rateLimitPerMin: integer('rate_limit_per_min').notNull().default(60),
  /** How far below zero the available balance may go (0 = no overdraft). */
  overdraftMicro: integer('overdraft_micro').notNull().default(0),
  updatedAt: integer('updated_at').notNull(),
});

/** Prices that are data, not code: e.g. `message.overage`, `agent.run` (see src-engine/ledger/quota.ts). */
export const priceBook = sqliteTable('price_book', {
  key: text('key').primaryKey(),
  amountMicro: integer('amount_micro').notNull(),
  description: text('description').notNull().default(''),
  updatedAt: integer('updated_at').notNull(),
});

export const organizations = sqliteTable('organizations', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  planId: text('plan_id')
    .notNull()
    .references(() => plans.id),
  timezone: text('timezone').notNull().default('UTC'),
  referralCode: text('referral_code').unique(),
  referredBy: text('referred_by'),
  /** Start of the current billing cycle. */
  cycleStart: integer('cycle_start').notNull(),
  createdAt: createdAt(),
});

export const apiKeys = sqliteTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => organizations.id),
    name: text('name').notNull().default('default'),
    /** First characters of the key, shown in lists; the key itself is never stored. */
    prefix: text('prefix').notNull(),
    /** SHA-256 of the key, hex; compared in constant time. */
    hash: text('hash').notNull().unique(),
    createdAt: createdAt(),
    lastUsedAt: integer('last_used_at'),
    revokedAt: integer('revoked_at'),
  },
  (t) => [index('api_keys_org').on(t.orgId)],
);

export const whatsappInstances = sqliteTable(
  'whatsapp_instances',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => organizations.id),
    name: text('name').notNull(),
    evolutionInstance: text('evolution_instance').notNull(),
    /** WARMUP | ACTIVE | THROTTLED | BANNED */
    health: text('health').notNull().default('WARMUP'),
    healthReason: text('health_reason'),
    healthChangedAt: integer('health_changed_at'),
    connectionState: text('connection_state'),
    warmupStartedAt: integer('warmup_started_at'),
    dailyCap: integer('daily_cap'),
    createdAt: createdAt(),
    // SmartSend's pacing state (see src-engine/contracts/smartsend.ts InstanceState).
    warmupCompletedAt: integer('warmup_completed_at'),
    lastSendAt: integer('last_send_at'),
    notBefore: integer('not_before'),
    burstCount: integer('burst_count').notNull().default(0),
    burstTarget: integer('burst_target').notNull().default(0),
    hourWindow: integer('hour_window'),
    hourCount: integer('hour_count').notNull().default(0),
    dayWindow: integer('day_window'),
    dayCount: integer('day_count').notNull().default(0),
    throttledUntil: integer('throttled_until'),
    /** The latest send outcomes, oldest first: o = sent, f = failed, e = error ack. */
    outcomes: text('outcomes').notNull().default(''),
  },
  (t) => [
    uniqueIndex('whatsapp_instances_org_name').on(t.orgId, t.name),
    index('whatsapp_instances_evolution').on(t.evolutionInstance),
  ],
);

/** The instance a contact (a normalised recipient) keeps hearing from, per org. */
export const smartsendSticky = sqliteTable(
  'smartsend_sticky',
  {
    orgId: text('org_id').notNull(),
    recipient: text('recipient').notNull(),
    instanceId: text('instance_id').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.recipient] })],
);

/** Slots SmartSend reserved for queued messages (one per message). */
export const smartsendReservations = sqliteTable(
  'smartsend_reservations',
  {
    messageId: text('message_id').primaryKey(),
    orgId: text('org_id').notNull(),
    instanceId: text('instance_id').notNull(),
    /** auto | pinned */
    mode: text('mode').notNull(),
    recipient: text('recipient').notNull(),
    sendAt: integer('send_at').notNull(),
    composingMs: integer('composing_ms').notNull(),
  },
  (t) => [index('smartsend_reservations_instance').on(t.instanceId, t.sendAt)],
);

/** Every health change of an instance, with its reason (the traffic light's history). */
export const instanceHealthEvents = sqliteTable(
  'instance_health_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    instanceId: text('instance_id').notNull(),
    orgId: text('org_id').notNull(),
    from: text('from').notNull(),
    to: text('to').notNull(),
    reason: text('reason').notNull(),
    ts: integer('ts').notNull(),
  },
  (t) => [index('instance_health_events_instance').on(t.instanceId, t.id)],
);

/** The embedded queue. `seq` is the job id unless the job was added with an idempotency key. */
export const jobs = sqliteTable(
  'jobs',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    queue: text('queue').notNull(),
    jobKey: text('job_key'),
    data: text('data').notNull(),
    /** The org a job belongs to (its events name it): engine jobs carry `orgId` in their payload. */
    orgId: text('org_id').generatedAlwaysAs(sql`json_extract(data, '$.orgId')`, { mode: 'virtual' }),
    /** waiting | active | completed | failed ("delayed" = waiting with run_at in the future) */
    state: text('state').notNull(),
    priority: integer('priority').notNull(),
    attemptsMade: integer('attempts_made').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull(),
    /** Times its worker died with it active (a lease ran out, or left active at a start): see queue/sqlite.ts. */
    stalls: integer('stalls').notNull().default(0),
    backoff: text('backoff').notNull(),
    timeoutMs: integer('timeout_ms'),
    runAt: integer('run_at').notNull(),
    leaseUntil: integer('lease_until'),
    leaseToken: text('lease_token'),
    progress: text('progress'),
    result: text('result'),
    lastError: text('last_error'),
    createdAt: integer('created_at').notNull(),
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),
  },
  // Partial indexes: finished jobs (the bulk of the table) cost nothing in the hot paths.
  (t) => [
    index('jobs_fetch')
      .on(t.queue, t.priority, t.runAt, t.seq)
      .where(sql`state = 'waiting'`),
    index('jobs_due')
      .on(t.queue, t.runAt)
      .where(sql`state = 'waiting'`),
    index('jobs_lease')
      .on(t.leaseUntil)
      .where(sql`state = 'active'`),
    index('jobs_done')
      .on(t.queue, t.state)
      .where(sql`state IN ('completed', 'failed')`),
  ],
);

/** Idempotency keys outlive their jobs: a key seen once always maps to its first job. */
export const jobKeys = sqliteTable(
  'job_keys',
  {
    queue: text('queue').notNull(),
    key: text('key').notNull(),
    jobSeq: integer('job_seq').notNull(),
  },
  (t) => [primaryKey({ columns: [t.queue, t.key] })],
);

export const queueState = sqliteTable('queue_state', {
  queue: text('queue').primaryKey(),
  paused: integer('paused', { mode: 'boolean' }).notNull().default(false),
});

export const schedules = sqliteTable(
  'schedules',
  {
    queue: text('queue').notNull(),
    key: text('key').notNull(),
    cron: text('cron').notNull(),
    tz: text('tz').notNull(),
    data: text('data').notNull(),
    nextRunAt: integer('next_run_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.queue, t.key] }), index('schedules_due').on(t.nextRunAt)],
);

export const deadLetters = sqliteTable(
  'dead_letters',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    queue: text('queue').notNull(),
    jobId: text('job_id').notNull(),
    payload: text('payload').notNull(),
    error: text('error').notNull(),
    /** The failure as a code (queue/errors.ts `errorCodeOf`), when it had one. */
    errorCode: text('error_code'),
    attempts: integer('attempts').notNull(),
    failedAt: integer('failed_at').notNull(),
    resolved: integer('resolved', { mode: 'boolean' }).notNull().default(false),
    resolvedAt: integer('resolved_at'),
    /** JSON array of the job ids made by retries. */
    retriedAs: text('retried_as').notNull().default('[]'),
    /** The org a job belongs to: engine jobs carry `orgId` in their payload. */
    orgId: text('org_id').generatedAlwaysAs(sql`json_extract(payload, '$.orgId')`, { mode: 'virtual' }),
  },
  (t) => [
    uniqueIndex('dead_letters_job').on(t.queue, t.jobId),
    index('dead_letters_open').on(t.resolved, t.id),
    index('dead_letters_org').on(t.orgId, t.id),
  ],
);

export const sentMessages = sqliteTable(
  'sent_messages',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => organizations.id),
    instanceId: text('instance_id'),
    idempotencyKey: text('idempotency_key'),
    to: text('to').notNull(),
    text: text('text').notNull(),
    /** queued | sending | sent | delivered | read | failed */
    status: text('status').notNull(),
    /** high | normal | low */
    priority: text('priority').notNull().default('normal'),
    /** Within the plan's included messages when admitted: no credit held. */
    free: integer('free', { mode: 'boolean' }).notNull().default(false),
    /** The billing cycle whose counters hold this message until it is settled. */
    cycle: text('cycle'),
    evolutionMessageId: text('evolution_message_id'),
    jobId: text('job_id'),
    reservationId: text('reservation_id'),
    error: text('error'),
    createdAt: createdAt(),
    sentAt: integer('sent_at'),
    /**
     * Its last try got no answer from Evolution, so it may have gone out: it stays `sending` until then
     * for the SEND_MESSAGE webhook to settle it, and fails after (smartsend/worker.ts).
     */
    confirmBy: integer('confirm_by'),
    /**
     * The number it is being sent from (while `sending`): where its SEND_MESSAGE webhook comes from,
     * even after a throttle or a ban moved its slot elsewhere.
     */
    sendingOn: text('sending_on'),
  },
  (t) => [
    // No index on the idempotency key: `idempotency_keys` holds it once (guard/idempotency.ts); a second
    // index of random keys cost each keyed send another random page in every batch commit.
    // Webhook acks name the message by WhatsApp's id; queued messages have none, so they cost no entry.
    index('sent_messages_evolution')
      .on(t.evolutionMessageId)
      .where(sql`evolution_message_id IS NOT NULL`),
    // The few messages out at Evolution, which a SEND_MESSAGE webhook or an early ack looks among;
    // the guard's queued rows cost it no entry.
    index('sent_messages_sending')
      .on(t.sendingOn)
      .where(sql`status = 'sending'`),
  ],
);

/**
 * Delivery acks that came before their message's WhatsApp id was known (Evolution's answer to the send
 * not back yet, or lost and the SEND_MESSAGE webhook still to come): applied, in the order they came,
 * when the id is recorded; dropped after an hour (smartsend/messages.ts).
 */
export const earlyAcks = sqliteTable(
  'early_acks',
  {
    evolutionMessageId: text('evolution_message_id').notNull(),
    /** delivered | read | failed */
    status: text('status').notNull(),
    receivedAt: integer('received_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.evolutionMessageId, t.status] }),
    index('early_acks_received').on(t.receivedAt),
  ],
);

/** Append-only double-entry ledger: every transfer writes entries whose amounts sum to zero. */
export const ledgerEntries = sqliteTable(
  'ledger_entries',
  {
    id: text('id').primaryKey(), // client-made UUID
    transferId: text('transfer_id').notNull(),
    orgId: text('org_id').notNull(),
    account: text('account').notNull(),
    amountMicro: integer('amount_micro').notNull(),
    /** TOPUP | USAGE_MESSAGE | USAGE_AGENT | COMMISSION | ADJUSTMENT | PLAN_CHARGE */
    kind: text('kind').notNull(),
    reference: text('reference'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [
    index('ledger_entries_account').on(t.orgId, t.account),
    index('ledger_entries_transfer').on(t.transferId),
  ],
);

/**
 * One row per transfer (client-made UUID): the body that idempotency compares against. Its entries
 * in `ledger_entries` sum to zero. Append-only, like the entries.
 */
export const ledgerTransfers = sqliteTable(
  'ledger_transfers',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull(),
    kind: text('kind').notNull(),
    /** Signed only for ADJUSTMENT (negative = debit the org); positive otherwise. */
    amountMicro: integer('amount_micro').notNull(),
    reference: text('reference'),
    /** The reservation this transfer captured, if any. */
    reservationId: text('reservation_id'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('ledger_transfers_org').on(t.orgId, t.createdAt)],
);

/** Cached balance per account, written in the same transaction as the entries (`verify()` proves it). */
export const accountBalances = sqliteTable('account_balances', {
  account: text('account').primaryKey(),
  /** null for system accounts. */
  orgId: text('org_id'),
  balanceMicro: integer('balance_micro').notNull(),
  updatedAt: integer('updated_at').notNull(),
  /**
   * Org accounts: the sum of the org's reservations in state `pending`, kept in the same transaction
   * as every reserve/capture/release/expiry, so the credit guard reads it in O(1) (`verify()` proves it).
   */
  pendingMicro: integer('pending_micro').notNull().default(0),
});

/** Monthly usage per org and billing cycle (`cycle` = 'YYYY-MM' of the cycle's start, UTC). */
export const usageCounters = sqliteTable(
  'usage_counters',
  {
    orgId: text('org_id').notNull(),
    cycle: text('cycle').notNull(),
    messages: integer('messages').notNull().default(0),
    aiRuns: integer('ai_runs').notNull().default(0),
    /** Admitted by the guard but not yet settled (sent/failed): they count against the quota. */
    messagesHeld: integer('messages_held').notNull().default(0),
    aiRunsHeld: integer('ai_runs_held').notNull().default(0),
    /**
     * What this desktop did itself (`messages`/`ai_runs` are raised to the hosted ledger's org-wide
     * counts, which include other desktops'): reported to it as `deviceUsage`, which it sums.
     */
    ownMessages: integer('own_messages').notNull().default(0),
    ownAiRuns: integer('own_ai_runs').notNull().default(0),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.cycle] })],
);

/** Pending holds (TigerBeetle's pending transfers): pending -> posted | voided | expired, once. */
export const reservations = sqliteTable(
  'reservations',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull(),
    amountMicro: integer('amount_micro').notNull(),
    capturedMicro: integer('captured_micro'),
    state: text('state').notNull(),
    reference: text('reference'),
    jobId: text('job_id'),
    /** The usage transfer posted by capture (null when captured for 0 or not captured). */
    transferId: text('transfer_id'),
    expiresAt: integer('expires_at').notNull(),
    createdAt: integer('created_at').notNull(),
    resolvedAt: integer('resolved_at'),
  },
  // Only pending holds are looked up by time (the sweeper, the not-yet-swept expired ones); resolved
  // holds, the bulk of the table, cost no index entry.
  (t) => [
    index('reservations_expiry')
      .on(t.expiresAt)
      .where(sql`state = 'pending'`),
  ],
);

export const alerts = sqliteTable(
  'alerts',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull(),
    kind: text('kind').notNull(),
    /** e.g. 70 | 85 | 95 for quota alerts */
    threshold: integer('threshold'),
    cycle: text('cycle'),
    message: text('message').notNull(),
    createdAt: integer('created_at').notNull(),
    acknowledgedAt: integer('acknowledged_at'),
  },
  (t) => [uniqueIndex('alerts_once').on(t.orgId, t.kind, t.threshold, t.cycle)],
);

export const agentRuns = sqliteTable(
  'agent_runs',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id').notNull(),
    /** queued | running | success | error | timeout | cancelled */
    status: text('status').notNull(),
    prompt: text('prompt').notNull(),
    model: text('model'),
    maxSteps: integer('max_steps').notNull(),
    timeoutS: integer('timeout_s').notNull(),
    reservationId: text('reservation_id'),
    jobId: text('job_id'),
    /** Within the plan's included runs when admitted: no credit held. */
    free: integer('free', { mode: 'boolean' }).notNull().default(false),
    /** The billing cycle whose counters hold this run until it is settled. */
    cycle: text('cycle'),
    containerId: text('container_id'),
    output: text('output'),
    error: text('error'),
    stepsUsed: integer('steps_used'),
    tokensIn: integer('tokens_in'),
    tokensOut: integer('tokens_out'),
    createdAt: integer('created_at').notNull(),
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),
  },
  (t) => [index('agent_runs_org').on(t.orgId, t.createdAt)],
);

export const agentRunLogs = sqliteTable(
  'agent_run_logs',
  {
    runId: text('run_id').notNull(),
    seq: integer('seq').notNull(),
    stream: text('stream').notNull(),
    text: text('text').notNull(),
    ts: integer('ts').notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.seq] })],
);

/**
 * Idempotency keys of guarded commands, per org: the same key with the same body returns `result`;
 * with a different body (`body_hash`) it is a CONFLICT. Kept forever, like the queue's job keys.
 */
export const idempotencyKeys = sqliteTable(
  'idempotency_keys',
  {
    orgId: text('org_id').notNull(),
    key: text('key').notNull(),
    operation: text('operation').notNull(),
    bodyHash: text('body_hash').notNull(),
    result: text('result').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.key] })],
);

/**
 * Jobs accepted by the guard but not yet handed to an external queue (BullMQ): written in the same
 * transaction as the reservation, deleted once the job is in Redis, drained again at start-up.
 */
export const jobOutbox = sqliteTable('job_outbox', {
  jobId: text('job_id').primaryKey(),
  queue: text('queue').notNull(),
  data: text('data').notNull(),
  opts: text('opts').notNull(),
  createdAt: integer('created_at').notNull(),
});

/** White-label branding (Partner plan): shown instead of Agencia Desk's name and colours. */
export const branding = sqliteTable('branding', {
  orgId: text('org_id')
    .primaryKey()
    .references(() => organizations.id),
  name: text('name').notNull(),
  accentColor: text('accent_color').notNull(),
  /** A small PNG/SVG as a data: URL. */
  logo: text('logo'),
  updatedAt: integer('updated_at').notNull(),
});

/**
 * Local usage waiting to be pushed to the hosted ledger: one row per USAGE_* transfer, written in the
 * transfer's own transaction by a trigger (src-engine/ledger/sync/outbox.ts) and deleted once the
 * server has settled it. `seq` is the device's push order: AUTOINCREMENT, so never reused.
 */
export const ledgerOutbox = sqliteTable(
  'ledger_outbox',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    transferId: text('transfer_id').notNull().unique(),
    orgId: text('org_id').notNull(),
    createdAt: integer('created_at').notNull(),
    /**
     * The entry's time as pushed: its local time moved onto the server's clock (a desktop clock
     * minutes fast would have it refused), fixed at the first push so that a push repeated after a
     * lost answer has the same body.
     */
    pushedCreatedAt: integer('pushed_created_at'),
  },
  (t) => [index('ledger_outbox_org').on(t.orgId, t.seq)],
);

/**
 * The desktop's sync with the hosted ledger, one row per endpoint (a hash of LEDGER_URL and the
 * device token, never the token itself): the org the token names, the pull cursor, and the last
 * authoritative answer. See src-engine/ledger/sync.
 */
export const ledgerSyncState = sqliteTable('ledger_sync_state', {
  endpoint: text('endpoint').primaryKey(),
  /** The server's org id, learnt at the first sync (the local org has the same id). */
  orgId: text('org_id'),
  cursor: text('cursor'),
  lastPushedSeq: integer('last_pushed_seq').notNull().default(0),
  /** Local time of the last complete sync (push, pull, corrections); null = never. */
  lastSyncAt: integer('last_sync_at'),
  lastAttemptAt: integer('last_attempt_at'),
  lastError: text('last_error'),
  /** The server's posted balance and time at the last sync. */
  balanceMicro: integer('balance_micro'),
  serverTime: integer('server_time'),
  createdAt: integer('created_at').notNull(),
  /**
   * Which device of the server this row speaks for: a hash of the token alone (the server knows a
   * device by its token, so a row for the same token at another LEDGER_URL is the same device).
   */
  device: text('device'),
  /**
   * The `deviceUsage` the server last acknowledged from this row, for that cycle (the server keeps
   * each device's max). Another row of the same org reports its desktop's own usage minus these, so
   * a desktop given a new token does not count again what the old one already reported.
   */
  deviceUsageCycle: text('device_usage_cycle'),
  deviceUsageMessages: integer('device_usage_messages').notNull().default(0),
  deviceUsageAiRuns: integer('device_usage_ai_runs').notNull().default(0),
});
