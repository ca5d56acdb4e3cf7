// The preload bridge between the Electron main process and the renderer: its shape and channel
// names. Plain TypeScript, no zod, so the sandboxed preload bundle (which imports this file) stays
// small; the desktop-only channels' schemas are in desktop.ts.
import type { ErrorBody } from './errors.ts';

/** What every IPC channel answers: never a thrown error, always one of these. */
export type IpcReply<T = unknown> = { result: T } | { error: ErrorBody };

/** `window.agencia`, as the preload script exposes it. */
export interface DesktopBridge {
  readonly platform: string;
  /** Calls an engine operation (`area:method`) or a desktop channel (`settings:get`…). */
  invoke(channel: string, input: unknown): Promise<IpcReply>;
  /** Engine events, pushed by the main process; returns the unsubscribe function. */
  onEvent(listener: (event: unknown) => void): () => void;
  /** Tells the main process the page listens: events queued until now are delivered. */
  ready(): void;
}

export const EVENT_CHANNEL = 'engine:event';
export const READY_CHANNEL = 'renderer:ready';
/** Channel names are `area:method`, like the engine's operations. */
export const CHANNEL_PATTERN = /^[a-z]+:[a-zA-Z]+$/;
