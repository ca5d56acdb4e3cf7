// The one way the renderer reaches the main process: `handle(channel, schema, fn)` answers
// `{result}` or `{error}` in the shared error shape, after checking who is asking and what they sent.
import type { IpcMainInvokeEvent } from 'electron';
import { z } from 'zod';
import type { ErrorBody } from '../src-engine/contracts/errors.ts';
import { AppError, parseOrThrow } from '../src-engine/errors.ts';
import type { Logger } from '../src-engine/logger.ts';
import { CHANNEL_PATTERN, type IpcReply } from '../src-engine/contracts/desktop.ts';

/** The part of Electron's `ipcMain` the router uses. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown): void;
}

/** The event fields the router reads: who sent it (null once the frame navigated or closed). */
export type InvokeEvent = Pick<IpcMainInvokeEvent, 'senderFrame'>;

/**
 * Whether a frame URL is our own renderer: the built `index.html` (file://, any hash or query) or,
 * in development, the Vite dev server's origin. Anything else (a navigated or injected frame) is not.
 */
export function isOwnRenderer(frameUrl: string | undefined, rendererUrl: string): boolean {
  if (!frameUrl) return false;
  let frame: URL;
  let own: URL;
  try {
    frame = new URL(frameUrl);
    own = new URL(rendererUrl);
  } catch {
    return false;
  }
  if (own.protocol === 'file:') return frame.protocol === 'file:' && frame.pathname === own.pathname;
  return frame.origin === own.origin;
}

/** Anything thrown by a handler, as the shared error shape; unexpected errors are logged, not leaked. */
export function toErrorBody(err: unknown, log: Logger, channel: string): ErrorBody {
  if (err instanceof AppError) return err.toBody();
  log.error({ err, channel }, 'IPC handler failed');
  return { error: 'INTERNAL_ERROR', message: 'Internal error' };
}

export interface IpcRouter {
  /**
   * Answers `channel` with `fn(input)` once `input` matches `schema`. `fn` gets the raw input when
   * `passRaw` is set (the engine parses operation inputs itself, with their transforms).
   */
  handle<S extends z.ZodType>(
    channel: string,
    schema: S,
    fn: (input: z.output<S>, raw: unknown) => unknown,
  ): void;
  readonly channels: readonly string[];
}

export function createIpcRouter(opts: {
  ipcMain: IpcMainLike;
  /** The renderer's URL, to check the sender frame of every call. */
  rendererUrl: () => string;
  log: Logger;
}): IpcRouter {
  const channels: string[] = [];
  return {
    channels,
    handle(channel, schema, fn) {
      if (!CHANNEL_PATTERN.test(channel)) throw new Error(`Bad IPC channel name ${channel}`);
      channels.push(channel);
      opts.ipcMain.handle(channel, async (event: InvokeEvent, input: unknown): Promise<IpcReply> => {
        const frameUrl = event.senderFrame?.url;
        if (!isOwnRenderer(frameUrl, opts.rendererUrl())) {
          opts.log.warn({ channel, frameUrl }, 'IPC call from a frame that is not ours');
          return { error: { error: 'UNAUTHORIZED', message: 'Not our renderer' } };
        }
        try {
          const parsed = parseOrThrow(schema, input ?? {}, channel);
          return { result: await fn(parsed, input ?? {}) };
        } catch (err) {
          return { error: toErrorBody(err, opts.log, channel) };
        }
      });
    },
  };
}
