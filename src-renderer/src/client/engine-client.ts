import { z } from 'zod';
import {
  OPERATIONS,
  type OperationInput,
  type OperationName,
  type OperationOutput,
} from '../../../src-engine/contracts/operations.ts';
import { ClientError } from './errors.ts';
import { EngineEventSchema, type EngineEvent } from '../../../src-engine/contracts/events.ts';

export type ConnectionState = 'connecting' | 'open' | 'closed';

/** How the client reaches the engine: Electron IPC or HTTP + WebSocket. */
export interface Transport {
  readonly kind: 'ipc' | 'http';
  /** Resolves with the operation's raw result; rejects with a ClientError. */
  call(name: OperationName, input: unknown): Promise<unknown>;
  /** Starts delivering raw events; returns the function that stops it. */
  listen(onEvent: (raw: unknown) => void, onState: (state: ConnectionState) => void): () => void;
}

export interface EngineClient {
  readonly kind: Transport['kind'];
  /** Runs an operation; the answer is checked against the operation's output schema. */
  call<N extends OperationName>(name: N, input: OperationInput<N>): Promise<OperationOutput<N>>;
  /** Events that match the contract; others (types this UI does not know yet) are skipped. */
  subscribe(listener: (event: EngineEvent) => void): () => void;
  /** The event stream's state, now and on every change. */
  onConnection(listener: (state: ConnectionState) => void): () => void;
  close(): void;
}

/** The validation error for an input or output that does not match its schema. */
function schemaError(what: string, error: z.ZodError): ClientError {
  return new ClientError({
    error: what === 'input' ? 'VALIDATION_ERROR' : 'INTERNAL_ERROR',
    message: `Invalid ${what}: ${z.prettifyError(error)}`,
    details: {
      issues: error.issues.map((i) => ({ path: i.path.map(String), message: i.message, code: i.code })),
    },
  });
}

/** One typed client over OPERATIONS, whatever the transport. */
export function createEngineClient(transport: Transport): EngineClient {
  const listeners = new Set<(event: EngineEvent) => void>();
  const stateListeners = new Set<(state: ConnectionState) => void>();
  let state: ConnectionState = 'connecting';

  const stop = transport.listen(
    (raw) => {
      const parsed = EngineEventSchema.safeParse(raw);
      if (!parsed.success) return;
      for (const l of listeners) l(parsed.data);
    },
    (next) => {
      state = next;
      for (const l of stateListeners) l(next);
    },
  );

  return {
    kind: transport.kind,
    async call(name, input) {
      const op = OPERATIONS[name];
      // Fail fast on what the engine would refuse anyway; the raw input is sent (the engine parses it).
      const checked = op.input.safeParse(input);
      if (!checked.success) throw schemaError('input', checked.error);
      const raw = await transport.call(name, input);
      const out = (op.output as z.ZodType).safeParse(raw);
      if (!out.success) throw schemaError('output', out.error);
      return out.data as OperationOutput<typeof name>;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onConnection(listener) {
      stateListeners.add(listener);
      listener(state);
      return () => stateListeners.delete(listener);
    },
    close() {
      stop();
      listeners.clear();
      stateListeners.clear();
    },
  };
}
