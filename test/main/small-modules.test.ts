import { describe, expect, it } from 'vitest';
import type { Alert } from '../../src-engine/contracts/compliance.ts';
import type { Health } from '../../src-engine/contracts/health.ts';
import { createLogger } from '../../src-engine/logger.ts';
import { createAlertNotifier, createSeenAlerts } from '../../src-main/alert-notifier.ts';
import { createEventRelay } from '../../src-main/event-relay.ts';
import { alertBody, mainText } from '../../src-main/text.ts';
import { trayColour, trayMenu, trayTooltip } from '../../src-main/tray-state.ts';
import {
  applyWindowPolicy,
  isExternalLinkAllowed,
  isPermissionAllowed,
} from '../../src-main/window-policy.ts';
import { RENDERER_URL, fakeWebContents, memoryFile } from './fake-electron.ts';

const es = mainText('es-MX');
const en = mainText('en-US');

describe('event relay', () => {
  it('holds events until the page is ready, then delivers in order', () => {
    const sent: number[] = [];
    const relay = createEventRelay<number>((e) => sent.push(e));
    relay.push(1);
    relay.push(2);
    expect(sent).toEqual([]);
    relay.ready();
    relay.push(3);
    expect(sent).toEqual([1, 2, 3]);
    relay.notReady(); // a reload
    relay.push(4);
    expect(sent).toEqual([1, 2, 3]);
    relay.ready();
    expect(sent).toEqual([1, 2, 3, 4]);
  });

  it('keeps only the newest events while nobody listens', () => {
    const sent: number[] = [];
    const relay = createEventRelay<number>((e) => sent.push(e), 3);
    for (let i = 1; i <= 5; i++) relay.push(i);
    relay.ready();
    expect(sent).toEqual([3, 4, 5]);
    expect(relay.dropped).toBe(2);
  });
});

const health = (checks: Record<string, 'healthy' | 'unhealthy' | 'disabled'>, ok = true): Health => ({
  status: ok ? 'ok' : 'degraded',
  service: 'engine',
  uptime: 1,
  checks: Object.fromEntries(Object.entries(checks).map(([k, status]) => [k, { status }])),
});

describe('tray state', () => {
  const fine = health({ database: 'healthy', queue: 'healthy', ollama: 'healthy', evolution: 'disabled' });
  const base = { health: fine, bannedInstances: 0, sendingPaused: false };

  it('is green when the engine and every configured service work', () => {
    expect(trayColour(base)).toBe('green');
  });

  it('is yellow for a failing service, a banned number or paused sending', () => {
    const ollamaDown = health({ database: 'healthy', queue: 'healthy', ollama: 'unhealthy' });
    expect(trayColour({ ...base, health: ollamaDown })).toBe('yellow');
    expect(trayColour({ ...base, bannedInstances: 1 })).toBe('yellow');
    expect(trayColour({ ...base, sendingPaused: true })).toBe('yellow');
  });

  it('is red when the engine itself is unwell or silent', () => {
    expect(trayColour({ ...base, health: undefined })).toBe('red');
    expect(trayColour({ ...base, health: health({ database: 'unhealthy', queue: 'healthy' }, false) })).toBe(
      'red',
    );
  });

  it('offers open, pause sending (checked while paused) and quit, in the OS language', () => {
    expect(trayMenu(es, { sendingPaused: true })).toEqual([
      { type: 'normal', label: 'Abrir Agencia Desk', action: 'open' },
      { type: 'checkbox', label: 'Pausar envíos', action: 'toggle-pause', checked: true },
      { type: 'separator' },
      { type: 'normal', label: 'Salir', action: 'quit' },
    ]);
    expect(trayMenu(en, { sendingPaused: false })[1]).toMatchObject({
      label: 'Pause sending',
      checked: false,
    });
    expect(trayTooltip(en, 'red')).toBe('Agencia Desk: the engine has problems');
    expect(mainText('fr-FR')).toBe(es);
    // The language chosen in the app (desktop settings) is a bare code.
    expect(mainText('en')).toBe(en);
    expect(mainText('es')).toBe(es);
  });
});

const alert = (id: string, over: Partial<Alert> = {}): Alert => ({
  id,
  orgId: 'org',
  kind: 'quota',
  threshold: 70,
  cycle: '2026-11',
  message: 'Quota 70%',
  createdAt: 1,
  acknowledgedAt: null,
  ...over,
});

describe('alert notifications', () => {
  it('raises each alert once, oldest first, and never an acknowledged one', () => {
    const shown: string[] = [];
    const file = memoryFile();
    const notifier = createAlertNotifier({ seen: createSeenAlerts(file), notify: (a) => shown.push(a.id) });
    notifier.offer([alert('b', { createdAt: 2 }), alert('a'), alert('c', { acknowledgedAt: 5 })]);
    notifier.offer([alert('a'), alert('b', { createdAt: 2 })]);
    expect(shown).toEqual(['a', 'b']);

    // After a restart, the same alerts are still known.
    const again = createAlertNotifier({ seen: createSeenAlerts(file), notify: (a) => shown.push(a.id) });
    expect(again.offer([alert('a'), alert('d', { createdAt: 9 })]).map((a) => a.id)).toEqual(['d']);
  });

  it('keeps a bounded memory and survives a damaged file', () => {
    const file = memoryFile('{not json');
    const seen = createSeenAlerts(file, 2);
    seen.add('1');
    seen.add('2');
    seen.add('3');
    expect(JSON.parse(file.text!)).toEqual(['2', '3']);
    expect(seen.has('1')).toBe(false);
  });

  it('words each kind of alert', () => {
    expect(alertBody(es, alert('x', { threshold: 85 }))).toBe('Has usado el 85 % de los mensajes del plan.');
    expect(
      alertBody(en, alert('x', { kind: 'instance_banned', message: 'WhatsApp number "Ventas" was banned' })),
    ).toBe('A WhatsApp number has been banned.');
    expect(alertBody(es, alert('x', { kind: 'low_credit' }))).toContain('Queda poco crédito');
  });
});

describe('window policy', () => {
  const log = createLogger('main', { level: 'silent' });

  it('blocks navigation away from our page, webviews, and opens only https links outside', () => {
    const wc = fakeWebContents();
    const opened: string[] = [];
    applyWindowPolicy(wc.contents, {
      rendererUrl: () => RENDERER_URL,
      openExternal: (u) => opened.push(u),
      log,
    });
    expect(wc.fire('will-navigate', 'https://evil.example/')).toBe(true);
    expect(wc.fire('will-redirect', 'file:///etc/passwd')).toBe(true);
    expect(wc.fire('will-navigate', `${RENDERER_URL}#/billing`)).toBe(false);
    expect(wc.fire('will-attach-webview')).toBe(true);
    for (const url of [
      'https://ledger.example/topup',
      'http://plain.example',
      'file:///etc/passwd',
      'javascript:alert(1)',
    ]) {
      expect(wc.open(url)).toEqual({ action: 'deny' });
    }
    expect(opened).toEqual(['https://ledger.example/topup']);
    expect(isExternalLinkAllowed('not a url')).toBe(false);
  });

  it('grants no permission but clipboard writing to our own page', () => {
    expect(isPermissionAllowed('clipboard-sanitized-write', RENDERER_URL, RENDERER_URL)).toBe(true);
    expect(isPermissionAllowed('clipboard-sanitized-write', 'https://evil.example/', RENDERER_URL)).toBe(
      false,
    );
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal']) {
      expect(isPermissionAllowed(p, RENDERER_URL, RENDERER_URL), p).toBe(false);
    }
  });
});
