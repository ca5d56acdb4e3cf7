import type { AgentRun, AgentRunStatus } from '../contracts/agents.ts';
import type { Alert, AlertKind } from '../contracts/compliance.ts';
import type { InstanceState } from '../contracts/smartsend.ts';
import type { Instance, InstanceHealth, Message, MessageStatus, Priority } from '../contracts/whatsapp.ts';
import { dailyCapAt, nextSlot, type PacingContext } from '../smartsend/pacing.ts';
import { warmupDay } from '../smartsend/warmup.ts';

// Row -> DTO mappers for the tables the API reads (snake_case columns, as better-sqlite3 returns them).

export interface MessageRow {
  id: string;
  org_id: string;
  instance_id: string | null;
  to: string;
  text: string;
  priority: string;
  status: string;
  job_id: string | null;
  reservation_id: string | null;
  free: number;
  evolution_message_id: string | null;
  error: string | null;
  created_at: number;
  sent_at: number | null;
}

export const toMessage = (r: MessageRow): Message => ({
  id: r.id,
  orgId: r.org_id,
  instanceId: r.instance_id,
  to: r.to,
  text: r.text,
  priority: r.priority as Priority,
  status: r.status as MessageStatus,
  jobId: r.job_id,
  reservationId: r.reservation_id,
  free: r.free === 1,
  evolutionMessageId: r.evolution_message_id,
  error: r.error,
  createdAt: r.created_at,
  sentAt: r.sent_at,
});

export interface InstanceRow {
  id: string;
  org_id: string;
  name: string;
  evolution_instance: string;
  health: string;
  health_reason: string | null;
  health_changed_at: number | null;
  connection_state: string | null;
  warmup_started_at: number | null;
  daily_cap: number | null;
  created_at: number;
}

/** A number's day as SmartSend paces it (see `InstanceSchema`). */
export interface InstancePacing {
  sentToday: number;
  capToday: number;
  nextSendAt: number | null;
  warmupDay: number | null;
}

/** Today's count, cap and next free slot of a number, from its SmartSend state at `now`. */
export function instancePacing(s: InstanceState, ctx: PacingContext, now: number): InstancePacing {
  return {
    sentToday: s.dayWindow === ctx.zone.localDay(now) ? s.dayCount : 0,
    capToday: dailyCapAt(s, now, ctx),
    nextSendAt: nextSlot(s, now, ctx),
    warmupDay: s.warmupCompletedAt === null ? warmupDay(s.warmupStartedAt, now, ctx.zone) : null,
  };
}

/** An instance as stored; the instances list adds its `InstancePacing`. */
export const toInstance = (r: InstanceRow): Instance => ({
  id: r.id,
  orgId: r.org_id,
  name: r.name,
  evolutionInstance: r.evolution_instance,
  health: r.health as InstanceHealth,
  healthReason: r.health_reason,
  healthChangedAt: r.health_changed_at,
  connectionState: r.connection_state,
  warmupStartedAt: r.warmup_started_at,
  dailyCap: r.daily_cap,
  createdAt: r.created_at,
  sentToday: null,
  capToday: null,
  nextSendAt: null,
  warmupDay: null,
});

export interface AgentRunRow {
  id: string;
  org_id: string;
  status: string;
  prompt: string;
  model: string | null;
  max_steps: number;
  timeout_s: number;
  reservation_id: string | null;
  job_id: string | null;
  output: string | null;
  error: string | null;
  steps_used: number | null;
  tokens_in: number | null;
  tokens_out: number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export const toAgentRun = (r: AgentRunRow): AgentRun => ({
  id: r.id,
  orgId: r.org_id,
  status: r.status as AgentRunStatus,
  prompt: r.prompt,
  model: r.model,
  maxSteps: r.max_steps,
  timeoutS: r.timeout_s,
  reservationId: r.reservation_id,
  jobId: r.job_id,
  output: r.output,
  error: r.error,
  stepsUsed: r.steps_used,
  tokensIn: r.tokens_in,
  tokensOut: r.tokens_out,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

export interface AlertRow {
  id: string;
  org_id: string;
  kind: string;
  threshold: number | null;
  cycle: string | null;
  message: string;
  created_at: number;
  acknowledged_at: number | null;
}

export const toAlert = (r: AlertRow): Alert => ({
  id: r.id,
  orgId: r.org_id,
  kind: r.kind as AlertKind,
  threshold: r.threshold,
  cycle: r.cycle,
  message: r.message,
  createdAt: r.created_at,
  acknowledgedAt: r.acknowledged_at,
});
