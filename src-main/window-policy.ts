// The window's security rules, decided without Electron and applied to a webContents by
// applyWindowPolicy: no navigation away from our page, no new windows (https links open in the
// OS browser), no <webview>, and no permission but writing to the clipboard from our own page.
import type { Logger } from '../src-engine/logger.ts';
import { isOwnRenderer } from './ipc.ts';

/** Links the OS browser may open: https only (no file:, javascript:, custom schemes). */
export function isExternalLinkAllowed(url: string): boolean {
  try {
    return new URL(url).protocol === 'https:';
  } catch {
    return false;
  }
}

/** The only permission granted: the terminal's "copy all", from our own page. */
export function isPermissionAllowed(
  permission: string,
  requestingUrl: string | undefined,
  rendererUrl: string,
): boolean {
  return permission === 'clipboard-sanitized-write' && isOwnRenderer(requestingUrl, rendererUrl);
}

interface PreventableEvent {
  preventDefault(): void;
}

/** The part of Electron's webContents the policy touches. */
export interface WebContentsLike {
  on(event: 'will-navigate' | 'will-redirect', listener: (e: PreventableEvent, url: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (e: PreventableEvent) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void;
}

export function applyWindowPolicy(
  contents: WebContentsLike,
  deps: { rendererUrl: () => string; openExternal(url: string): void; log: Logger },
): void {
  const guard = (e: PreventableEvent, url: string) => {
    if (isOwnRenderer(url, deps.rendererUrl())) return;
    e.preventDefault();
    deps.log.warn({ url }, 'navigation blocked');
  };
  contents.on('will-navigate', guard);
  contents.on('will-redirect', guard);
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (isExternalLinkAllowed(url)) deps.openExternal(url);
    else deps.log.warn({ url }, 'window.open blocked');
    return { action: 'deny' };
  });
}
