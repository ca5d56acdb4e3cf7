// What the tray shows, decided without Electron: the colour of the icon, its tooltip and its menu.
import type { Health } from '../src-engine/contracts/health.ts';
import type { MainText } from './text.ts';

export type TrayColour = 'green' | 'yellow' | 'red';

/** The checks without which the engine cannot work at all (the rest are services it talks to). */
const CORE_CHECKS = new Set(['database', 'queue']);

export interface TrayInputs {
  /** The last health report; undefined when none could be had. */
  health: Health | undefined;
  /** WhatsApp numbers currently BANNED. */
  bannedInstances: number;
  /** Sending paused from the tray. */
  sendingPaused: boolean;
}

/**
 * Red: the engine itself is unwell (no report, or its database or queue failing). Yellow: it works
 * but something needs a look (a service down, a banned number, sending paused). Green otherwise.
 * Services the user has not configured are `disabled` and count for nothing.
 */
export function trayColour(s: TrayInputs): TrayColour {
  if (!s.health || s.health.status !== 'ok') return 'red';
  const checks = Object.entries(s.health.checks);
  if (checks.some(([name, c]) => CORE_CHECKS.has(name) && c.status === 'unhealthy')) return 'red';
  if (checks.some(([, c]) => c.status === 'unhealthy') || s.bannedInstances > 0 || s.sendingPaused) {
    return 'yellow';
  }
  return 'green';
}

export type TrayAction = 'open' | 'toggle-pause' | 'quit';

export type TrayMenuItem =
  | { type: 'normal'; label: string; action: TrayAction }
  | { type: 'checkbox'; label: string; action: TrayAction; checked: boolean }
  | { type: 'separator' };

export function trayMenu(t: MainText, s: Pick<TrayInputs, 'sendingPaused'>): TrayMenuItem[] {
  return [
    { type: 'normal', label: t.tray.open, action: 'open' },
    { type: 'checkbox', label: t.tray.pauseSending, action: 'toggle-pause', checked: s.sendingPaused },
    { type: 'separator' },
    { type: 'normal', label: t.tray.quit, action: 'quit' },
  ];
}

export function trayTooltip(t: MainText, colour: TrayColour): string {
  return t.tray.tooltip[colour];
}
