// The renderer in a real browser (Debian Chromium, headless) against a real engine: every screen,
// live updates over the WebSocket, readable errors, language, keyboard, white label, 1024x700.
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src-engine/errors.ts';
import { UnrecoverableError } from '../../src-engine/queue/errors.ts';
import { WEBHOOK_SECRET_HEADER } from '../../src-engine/gateways/evolution/webhook-auth.ts';
import type { LedgerServer } from '../../src-ledger/server.ts';
import { C, client, startTestLedger } from '../ledger-server/support.ts';
import { startEvolutionSim, type EvolutionSim } from '../sim/evolution/index.ts';
import { buildRenderer, launchChromium, startUiEngine, type UiEngine } from './ui-world.ts';

const SHOTS = join(import.meta.dirname, 'screenshots');

let rendererDir: string;
let ui: UiEngine;
let browser: Browser;
let page: Page;
const cspViolations: string[] = [];
const pageErrors: string[] = [];

async function openScreen(screen: string): Promise<void> {
  await page.click(`nav [data-screen="${screen}"]`);
  await page.waitForSelector(`main[data-screen="${screen}"]`);
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Nothing wider than the window: the layout holds at 1024x700. */
async function fitsWidth(on: Page = page): Promise<void> {
  const overflow = await on.evaluate(() => document.documentElement.scrollWidth - innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

/** A 1024x700 page that fails fast: everything here happens in well under a second on a working UI. */
async function newPage(): Promise<Page> {
  const p = await browser.newPage({ viewport: { width: 1024, height: 700 } });
  p.setDefaultTimeout(5000);
  return p;
}

/** The panel of `world` opened with its session token, on `screen` (a location hash) if given. */
async function openPanel(on: Page, world: UiEngine, screen = ''): Promise<void> {
  await on.goto(`${world.base}/?token=${world.token}${screen}`);
}

const text = (selector: string) => page.locator(selector).first().innerText();

/** Waits until an element's text is `expected` (React may paint it a frame later). */
async function hasText(selector: string, expected: string): Promise<void> {
  await page
    .waitForFunction(([s, e]) => document.querySelector(s!)?.textContent === e, [selector, expected])
    .catch(async () => expect(await text(selector)).toBe(expected));
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  [rendererDir, browser] = await Promise.all([buildRenderer(), launchChromium()]);
  ui = await startUiEngine(rendererDir, { plan: 'free' });
  page = await newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await openPanel(page, ui);
  await page.waitForSelector('main[data-screen="panel"] [data-kpi="available"]');
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  if (rendererDir) rmSync(rendererDir, { recursive: true, force: true });
});

describe('the control panel in Chromium against a real engine', () => {
  it('opens with the token, then hides it from the address bar', async () => {
    expect(page.url()).not.toContain('token=');
    expect(await page.evaluate(() => sessionStorage.getItem('agencia.token'))).toBe(ui.token);
    await page.waitForSelector('.connection-open');
  });

  it('shows the panel: credit, quotas and the health of every connection', async () => {
    expect(await text('[data-kpi="available"] .kpi-value')).toContain('0,00');
    expect(await text('[data-kpi="messages"]')).toContain('0 de 50');
    await page.waitForSelector('[data-check="database"]');
    expect(await text('[data-check="database"]')).toContain('Funciona');
    expect(await text('[data-check="queue"]')).toContain('Funciona');
    await fitsWidth();
    await shot('panel');
  });

  it('updates the credit live when a top-up is posted', async () => {
    ui.engine.ledger.transfer({
      id: randomUUID(),
      orgId: ui.orgId,
      kind: 'ADJUSTMENT',
      amountMicro: 12_500_000,
      reference: 'e2e top-up',
    });
    await page.waitForFunction(() =>
      document.querySelector('[data-kpi="available"] .kpi-value')?.textContent?.includes('12,50'),
    );
  });

  it('adds a WhatsApp number, shows its light, and explains the plan limit in words', async () => {
    await openScreen('whatsapp');
    await page.waitForSelector('text=Aún no hay números');
    const add = page.locator('form[aria-label="Añadir número"]');
    await add.getByLabel('Nombre').fill('Ventas');
    await add.getByLabel('Instancia de Evolution').fill('ventas-1');
    await add.getByRole('button', { name: 'Añadir' }).click();
    await page.waitForSelector('li.instance[data-light="yellow"]');
    expect(await text('li.instance')).toContain('Calentando');
    expect(await text('li.instance')).toContain('Día 1 de calentamiento');
    expect(await text('li.instance .instance-reason')).toBe('Número nuevo: empieza el calentamiento');
    // Today's pacing: nothing sent of day 1's warm-up cap, free to send.
    expect(await text('li.instance [data-cap-today="50"][data-sent-today="0"]')).toBe('Hoy: 0 de 50 envíos');
    expect(await text('li.instance [data-next-send]')).toBe('Puede enviar ya');

    // The Free plan has one number: the 403 reads as a sentence, never as a code.
    await add.getByLabel('Nombre').fill('Soporte');
    await add.getByLabel('Instancia de Evolution').fill('soporte-1');
    await add.getByRole('button', { name: 'Añadir' }).click();
    await page.waitForSelector('.error-message');
    expect(await text('.error-message')).toBe('Tu plan no permite más. Mejora el plan para continuar.');
    expect(await page.locator('main').innerText()).not.toContain('PLAN_LIMIT');
    await fitsWidth();
    await shot('whatsapp');
  });

  it('sends a test message through the guard', async () => {
    const send = page.locator('form[aria-label="Enviar un mensaje de prueba"]');
    await send.getByLabel('Destinatario').fill('5215512345678');
    await send.getByLabel('Texto').fill('Hola desde la prueba');
    await send.getByRole('button', { name: 'Enviar' }).click();
    await page.waitForSelector('text=/En cola \\(mensaje .+\\)/');
  });

  it('starts an agent run into the terminal, and explains a 402 with the credit left', async () => {
    // Spend the credit so the second run (beyond the Free plan's one) cannot be paid.
    ui.engine.ledger.transfer({
      id: randomUUID(),
      orgId: ui.orgId,
      kind: 'ADJUSTMENT',
      amountMicro: -12_500_000,
      reference: 'e2e spend',
    });
    await openScreen('agents');
    const form = page.locator('form[aria-label="Nueva ejecución"]');
    await form.getByLabel('Tarea').fill('Resume las ventas de ayer');
    await form.getByRole('button', { name: 'Ejecutar' }).click();
    await page.waitForSelector('.term-viewport .term-row');
    expect(await page.locator('.term-viewport').innerText()).toContain('Resume las ventas de ayer');
    expect(await page.locator('.term-viewport .fg-6').count()).toBeGreaterThan(0);

    // The run's live log, as the agent worker emits it on the engine's bus.
    const { id: runId } = ui.engine.db.sqlite
      .prepare(`SELECT id FROM agent_runs WHERE org_id = ? ORDER BY created_at DESC LIMIT 1`)
      .get(ui.orgId) as { id: string };
    const log = (seq: number, stream: 'llm' | 'tool', text: string) =>
      ui.engine.events.emit({ type: 'agent.log', orgId: ui.orgId, runId, seq, stream, text, ts: Date.now() });
    log(1, 'llm', 'Pensando en las ventas de ayer');
    log(2, 'tool', '\x1b[1mread_file\x1b[0m ventas.csv');
    log(2, 'tool', '\x1b[1mread_file\x1b[0m ventas.csv'); // a repeat is shown once
    await page.waitForFunction(() =>
      document.querySelector('.term-viewport')?.textContent?.includes('ventas.csv'),
    );
    const terminal = await page.locator('.term-viewport').innerText();
    expect(terminal).toContain('Pensando en las ventas de ayer');
    expect(terminal.match(/ventas\.csv/g)).toHaveLength(1);
    expect(await page.locator('.term-row .fg-3').first().innerText()).toMatch(/^tool/);
    expect(await page.locator('.term-row .b').first().innerText()).toBe('read_file');

    await form.getByLabel('Tarea').fill('Otra tarea');
    await form.getByRole('button', { name: 'Ejecutar' }).click();
    await page.waitForSelector('.error-message');
    expect(await text('.error-message')).toBe(
      'Crédito insuficiente: tienes 0,00 créditos disponibles. Recarga para seguir.',
    );
    await fitsWidth();
    await shot('agents');
  });

  it('searches and pauses the terminal from the keyboard', async () => {
    await page.locator('.term-viewport').focus();
    await page.keyboard.press('Control+f');
    await page.keyboard.type('ayer');
    await hasText('.term-matches', '0 de 2');
    await page.keyboard.press('Enter');
    await hasText('.term-matches', '1 de 2');
    await page.keyboard.press('Enter');
    await hasText('.term-matches', '2 de 2');
    expect(await page.locator('.term-row.current mark').innerText()).toBe('ayer');
    expect(await text('.term-state')).toBe('En pausa');
  });

  it('lists the runs, cancels a queued one, and replays its stored log after a reload', async () => {
    const item = page.locator('.runs [data-run]').first();
    await item.waitFor();
    const runId = (await item.getAttribute('data-run'))!;
    expect(await item.getAttribute('data-status')).toBe('queued');
    expect(await item.getAttribute('aria-current')).toBe('true');
    await page.getByRole('button', { name: 'Cancelar ejecución' }).click();
    await page.waitForSelector('text=Cancelación pedida');
    // The agent.status event refreshes the list and writes the ending into the terminal.
    await page.waitForSelector(`.runs [data-run="${runId}"][data-status="cancelled"]`);
    await page.waitForFunction(() =>
      document.querySelector('.term-viewport')?.textContent?.includes('Estado: cancelada'),
    );
    expect(await page.locator('.run-head button').count()).toBe(0);

    // What the agent worker stored, more than one page of it: a reload loses the session's
    // terminals, so opening the run reads it all back, in order, then how the run ended.
    const insert = ui.engine.db.sqlite.prepare(
      `INSERT INTO agent_run_logs (run_id, seq, stream, text, ts) VALUES (?, ?, 'runner', ?, ?)`,
    );
    ui.engine.db.sqlite.transaction(() => {
      for (let seq = 1; seq <= 1500; seq++) insert.run(runId, seq, `línea guardada ${seq}`, Date.now());
    })();
    await page.reload();
    await page.waitForSelector('main[data-screen="agents"] .runs [data-run]');
    await page.click(`.runs [data-run="${runId}"]`);
    await page.waitForFunction(() =>
      document.querySelector('.term-viewport')?.textContent?.includes('Estado: cancelada'),
    );
    // The prompt, 1,500 stored lines, then the status and the reason.
    expect(await text('.term-count')).toBe('1503 líneas');
    const search = page.getByLabel('Buscar en el registro');
    await search.fill('guardada 1500');
    await hasText('.term-matches', '0 de 1');
    await search.fill('guardada 1');
    await hasText('.term-matches', '0 de 612');
    await fitsWidth();
  });

  it('shows the balance, the plan with its quota bars and the history', async () => {
    // Kinds other than ADJUSTMENT carry an unsigned amount: the history shows what each did to the credit.
    for (const [kind, amountMicro] of [
      ['TOPUP', 3_000_000],
      ['USAGE_AGENT', 1_000_000],
    ] as const) {
      ui.engine.ledger.transfer({ id: randomUUID(), orgId: ui.orgId, kind, amountMicro, reference: 'e2e' });
    }
    await openScreen('billing');
    await page.waitForSelector('table.table tbody tr');
    expect(await page.locator('table.table tbody tr').count()).toBe(4);
    expect(await text('table.table')).toContain('Ajuste');
    expect(await text('table.table')).toContain('−12,50');
    const row = (kind: string) => page.locator('table.table tbody tr', { hasText: kind }).locator('td.num');
    expect(await row('Ejecución de agente').innerText()).toBe('−1,00');
    expect(await row('Ejecución de agente').getAttribute('class')).toContain('negative');
    expect(await row('Recarga').innerText()).toBe('3,00');
    expect(await row('Recarga').getAttribute('class')).toContain('positive');
    expect(await text('[data-balance="posted"]')).toContain('2,00');
    for (const [bar, max] of [
      ['Mensajes', '50'],
      ['Ejecuciones de IA', '1'],
    ]) {
      const meter = page.locator(`.quota-bar[aria-label="${bar}"]`);
      expect(await meter.getAttribute('aria-valuemax')).toBe(max);
      expect(await meter.locator('.quota-mark').count()).toBe(3);
    }
    await page.getByRole('button', { name: 'Recargar créditos' }).click();
    await page.waitForSelector('.topup-info');
    await fitsWidth();
    await shot('billing');
  });

  it('retries and resolves a dead letter', async () => {
    await openScreen('dead-letters');
    await page.waitForSelector('text=No hay trabajos fallidos');
    ui.engine.queue.process('e2e.fails', async (job) => {
      if (job.data && (job.data as { coded?: boolean }).coded) {
        // A failure with a code (as the send worker gives up): said in Spanish, the engine's text under it.
        const cause = new AppError('UNAVAILABLE', 'no answer', { service: 'evolution', kind: 'timeout' });
        throw new UnrecoverableError('Evolution sendText: no answer within 15000 ms', { cause });
      }
      throw new Error('Evolution answered 500');
    });
    await ui.engine.queue.add('e2e.fails', { orgId: ui.orgId }, { attempts: 1 });
    await ui.engine.queue.add('e2e.fails', { orgId: ui.orgId, coded: true }, { attempts: 1 });
    // Only the org's own guarded jobs (messages, runs) reach its event stream: refresh by hand.
    await page.waitForFunction(async () => {
      (document.querySelector('main .card-header button') as HTMLButtonElement).click();
      await new Promise((r) => setTimeout(r, 100));
      return document.querySelectorAll('tr[data-dead-letter]').length === 2;
    });
    const rows = await page.locator('tr[data-dead-letter] td.error-text').allInnerTexts();
    expect(rows.join('\n')).toContain('Evolution answered 500');
    expect(rows.join('\n')).toMatch(
      /Evolution no respondió a tiempo\.\s*Evolution sendText: no answer within 15000 ms/,
    );
    await shot('dead-letters');
    await page.getByRole('button', { name: 'Reintentar' }).first().click();
    await page.waitForSelector('text=/Reencolado como trabajo/');
    await page.getByRole('button', { name: 'Marcar resuelto' }).first().click();
    await page.getByRole('button', { name: 'Resueltos' }).click();
    await page.waitForSelector('tr[data-dead-letter]');
    await fitsWidth();
  });

  it('shows the referrals empty state, saying the hosted ledger is not connected', async () => {
    await openScreen('referrals');
    await page.waitForSelector('text=Aún sin datos de referidos');
    expect(await text('[data-source="unconfigured"]')).toContain('El ledger alojado no está conectado');
    expect(await page.getAttribute('[data-commissions-cycle]', 'data-commissions-cycle')).toBe('0');
    await openScreen('panel');
    // The hint follows the health check's ledger verdict (disabled), which loads beside the balance.
    await page.waitForSelector('[data-kpi="commissions"] >> text=Conecta el ledger alojado en Ajustes');
    expect(await page.getAttribute('[data-kpi="commissions"] [data-micro]', 'data-micro')).toBe('0');
  });

  it('switches screens with Alt+number and moves the focus to the title', async () => {
    await page.keyboard.press('Alt+2');
    await page.waitForSelector('main[data-screen="whatsapp"]');
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    expect(page.url()).toMatch(/#\/whatsapp$/);
  });

  it('applies white label on the Partner plan only', async () => {
    await openScreen('settings');
    await page.waitForSelector('text=Disponible en el plan Partner.');
    ui.engine.db.sqlite.prepare(`UPDATE organizations SET plan_id = 'partner' WHERE id = ?`).run(ui.orgId);
    await page.reload();
    const form = page.locator('form[aria-label="Marca blanca"]');
    await form.getByLabel('Nombre').fill('Agencia Sol');
    await form.locator('input[type="color"]').fill('#e4572e');
    await form.getByRole('button', { name: 'Guardar' }).click();
    await page.waitForFunction(() => document.querySelector('.brand')?.textContent === 'Agencia Sol');
    expect(await page.evaluate(() => document.documentElement.style.getPropertyValue('--accent'))).toBe(
      '#e4572e',
    );
    expect(await page.locator('main').innerText()).toContain('los servicios se configuran en el motor');
    await fitsWidth();
    await shot('settings');
  });

  it('switches language, and keeps it and the session across a reload', async () => {
    await page.getByLabel('Idioma').first().selectOption('en');
    await page.waitForSelector('nav >> text=Dashboard');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
    await page.reload();
    await openScreen('panel');
    await page.waitForSelector('text=Available credit');
    // The run started earlier today (the second one was refused with 402).
    await hasText('[data-kpi="agent-runs"] [data-today]', 'Today: 1');
    await hasText('[data-kpi="messages"] [data-today]', 'Today: 0');
    expect(await text('[data-check="database"]')).toContain('Working');
    await shot('panel-en');
  });

  it('kept to the strict CSP and threw no errors', () => {
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

describe('the traffic light against the Evolution simulator', () => {
  const SECRET = 'e2e-webhook-secret';
  let sim: EvolutionSim;
  let world: UiEngine;
  let banPage: Page;

  beforeAll(async () => {
    sim = await startEvolutionSim({ instances: ['ventas-1'] });
    // The lock-holding engine runs SmartSend, which listens to Evolution's webhooks.
    world = await startUiEngine(rendererDir, {
      plan: 'starter',
      exclusive: true,
      env: {
        EVOLUTION_URL: sim.url,
        EVOLUTION_API_KEY: sim.apiKey,
        EVOLUTION_WEBHOOK_SECRET: SECRET,
        SMARTSEND_JITTER_MS: '10-20',
        SMARTSEND_BURST_PAUSE_MS: '50-80',
      },
    });
    sim.setWebhook({
      url: `${world.base}/webhooks/evolution`,
      headers: { [WEBHOOK_SECRET_HEADER]: SECRET },
    });
    await world.engine.call(
      'whatsapp:addInstance',
      { name: 'Ventas', evolutionInstance: 'ventas-1', warmupDay: 60 },
      world.token,
    );
    banPage = await newPage();
    await openPanel(banPage, world, '#/whatsapp');
  }, 30_000);

  afterAll(async () => {
    await banPage?.close();
    await world?.close();
    await sim?.close();
  });

  it('moves the quota bars when messages within the plan are sent (no ledger event for those)', async () => {
    const quota = await newPage();
    try {
      // A page in the background gets its timers throttled (the refresh is debounced): in front.
      await quota.bringToFront();
      await openPanel(quota, world);
      const messages = quota.locator('[data-kpi="messages"] .quota-label');
      await quota.waitForSelector('[data-kpi="messages"]');
      expect(await messages.innerText()).toContain('0 de 2000');
      // As an integration would: through the guard, then SmartSend sends them on the simulator.
      for (let i = 0; i < 3; i++) {
        await world.engine.call(
          'whatsapp:send',
          { instanceId: 'auto', to: `5215512345${60 + i}`, text: `Hola ${i}` },
          world.token,
        );
      }
      await quota.waitForFunction(
        () =>
          document.querySelector('[data-kpi="messages"] .quota-label')?.textContent?.includes('3 de 2000'),
        undefined,
        { timeout: 15_000 },
      );
      // Counts are grouped as the language writes them.
      world.engine.db.sqlite
        .prepare(`UPDATE usage_counters SET messages = 12345 WHERE org_id = ?`)
        .run(world.orgId);
      await quota.reload();
      await quota.waitForSelector('[data-kpi="messages"] .quota-label:has-text("12.345 de 2000")');
    } finally {
      await quota.close();
    }
  });

  it('turns red with the reason when the number is banned', async () => {
    // Added past the warm-up schedule: ACTIVE at once (green), with the configured daily cap. (A
    // warming-up number would turn green at a health tick, which runs every minute here.)
    await banPage.bringToFront();
    await banPage.waitForSelector('li.instance[data-light="green"]');
    // The three messages above went out on it, counted once each (a job that comes back to its slot
    // late with this test's 10 ms gaps gets a fresh one; the old one stops counting).
    await banPage.waitForSelector('li.instance [data-cap-today]:text-is("Hoy: 3 de 1000 envíos")');
    sim.ban('ventas-1', 401);
    await sim.webhooksIdle();
    // The instance.health event repaints the card by itself.
    await banPage.waitForSelector('li.instance[data-light="red"]');
    expect(await banPage.locator('li.instance .badge').innerText()).toBe('Bloqueado');
    // The engine's reason, said in Spanish.
    expect(await banPage.locator('li.instance .instance-reason').innerText()).toBe(
      'WhatsApp cerró la sesión (código 401)',
    );
    expect(await banPage.locator('li.instance [data-next-send]').innerText()).toBe('No puede enviar');
    await banPage.screenshot({ path: join(SHOTS, 'whatsapp-banned.png') });
  });
});

describe('referrals from the hosted ledger', () => {
  let server: LedgerServer;
  let world: UiEngine;
  let refPage: Page;

  beforeAll(async () => {
    server = await startTestLedger(undefined);
    const admin = client(server.url);
    // A's tree: B (starter) referred by A, C (starter) referred by B; both pay their plan.
    const a = await admin.createOrg('Agencia A');
    const b = await admin.createOrg('Agencia B', { planId: 'starter', referralCode: a.referralCode });
    const c = await admin.createOrg('Agencia C', { planId: 'starter', referralCode: b.referralCode });
    await admin.topUp(b.id, 20 * C);
    await admin.topUp(c.id, 20 * C);
    await server.runBilling();
    world = await startUiEngine(rendererDir, {
      plan: 'free',
      orgId: a.id,
      env: { LEDGER_URL: server.url, LEDGER_TOKEN: (await admin.issueDevice(a.id)).token },
    });
    // The sync the lock-holding engine runs on its timer, run once here: link, pull the commissions.
    await world.engine.ledgerSync!.run();
    refPage = await newPage();
    await openPanel(refPage, world, '#/referrals');
  }, 30_000);

  afterAll(async () => {
    await refPage?.close();
    await world?.close();
    await server?.close();
  });

  it('shows the code, both levels and the commissions per month', async () => {
    await refPage.waitForSelector('[data-referral-code]');
    const report = (await world.engine.call('billing:referrals', {}, world.token)).report!;
    expect(await refPage.locator('[data-referral-code]').innerText()).toBe(report.referralCode);
    expect(await refPage.locator('table[data-level="1"] tbody').innerText()).toMatch(/Agencia B\s+Starter/);
    expect(await refPage.locator('table[data-level="2"] tbody').innerText()).toMatch(
      /Agencia C\s+Starter\s+Agencia B/,
    );
    const month = refPage.locator(`tr[data-cycle="${report.monthly[0]!.cycle}"]`);
    expect(await month.innerText()).toMatch(/3,00\s+0,75\s+3,75/);
    expect(await refPage.locator('[data-total]').innerText()).toBe('3,75');
    expect(await refPage.getAttribute('[data-commissions-cycle]', 'data-commissions-cycle')).toBe('3750000');
    expect(await refPage.locator('[data-source="ok"]').innerText()).toContain('Del ledger alojado');
    await fitsWidth(refPage);
    await refPage.screenshot({ path: join(SHOTS, 'referrals.png') });
  });

  it('shows this cycle’s commissions on the panel', async () => {
    await refPage.click('nav [data-screen="panel"]');
    await refPage.waitForSelector('[data-kpi="commissions"] [data-micro="3750000"]');
    expect(await refPage.locator('[data-kpi="commissions"]').innerText()).toContain('2 comisiones');
  });
});
