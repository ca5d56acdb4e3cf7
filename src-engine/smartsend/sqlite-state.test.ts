import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock, tempDatabase } from '../../test/support/temp-database.ts';
import { SmartSendSettingsSchema, type InstanceHealthEvent } from '../contracts/smartsend.ts';
import { createOrganization } from '../ledger/orgs.ts';
import { createSmartSend, type SendRequest } from './planner.ts';
import { seededRandom } from './random.ts';
import { createSqliteState, healthHistory } from './sqlite-state.ts';
import { createMemoryState, initialInstanceState, type SmartSendState } from './state.ts';
import { timeZone } from './time-zone.ts';

const settings = SmartSendSettingsSchema.parse({
  hourlyCap: 30,
  quietHours: { start: '22:00', end: '07:00' },
});
const TZ = 'America/Mexico_City';
const T0 = Date.parse('2026-03-02T18:00:00Z');

let db: ReturnType<typeof tempDatabase>;
let orgId: string;
beforeEach(() => {
  db = tempDatabase();
  orgId = createOrganization(db, { name: 'Org', planId: 'partner', timezone: TZ });
});
afterEach(() => db.dispose());

/** Inserts the instance rows the API would, then gives both states the same initial SmartSend state. */
function seedInstances(states: SmartSendState[], ids: string[], at: number) {
  ids.forEach((id, i) => {
    db.sqlite
      .prepare(
        `INSERT INTO whatsapp_instances (id, org_id, name, evolution_instance, created_at) VALUES (?, ?, ?, ?, ?)`,
      )
      .run(id, orgId, id, `evo-${id}`, at + i);
    const s = initialInstanceState(
      { instanceId: id, orgId, warmupDay: 1 + 4 * i },
      at,
      timeZone(TZ),
      settings,
    );
    for (const state of states) state.putInstance(s);
  });
}

const request = (n: number): SendRequest => ({
  messageId: `m${n}`,
  orgId,
  instanceId: 'auto',
  recipient: `52155${String(n % 37).padStart(8, '0')}`,
  textLength: 10 + (n % 50),
});

describe('SmartSend SQLite state', () => {
  it('plans exactly as the in-memory state does (same seed, same clock)', () => {
    const clock = manualClock(T0);
    const sqliteState = createSqliteState({ sqlite: db.sqlite, now: clock.now });
    const memory = createMemoryState({ [orgId]: TZ });
    seedInstances([sqliteState, memory], ['a', 'b', 'c'], T0);
    const planner = (state: SmartSendState) =>
      createSmartSend({ state, settings, random: seededRandom(7), now: clock.now });
    const onDisk = planner(sqliteState);
    const inMemory = planner(memory);

    for (let n = 0; n < 300; n++) {
      clock.advance(500);
      expect(onDisk.plan(request(n))).toEqual(inMemory.plan(request(n)));
      if (n % 3 === 0) {
        onDisk.release(`m${n - 1}`);
        inMemory.release(`m${n - 1}`);
      }
      if (n === 150)
        expect(onDisk.report('b', { kind: 'logged-out' })).toEqual(
          inMemory.report('b', { kind: 'logged-out' }),
        );
    }
    for (const id of ['a', 'b', 'c']) {
      expect(sqliteState.instance(id)).toEqual(memory.instance(id));
      expect(sqliteState.reservationsOf(id)).toEqual(memory.reservationsOf(id));
    }
    expect(sqliteState.instances(orgId).map((s) => s.instanceId)).toEqual(['a', 'b', 'c']);
    expect(sqliteState.sticky(orgId, request(5).recipient)).toBe(memory.sticky(orgId, request(5).recipient));
    expect(sqliteState.timeZone(orgId)).toBe(TZ);
  });

  it('rolls back everything a failed transaction wrote', () => {
    const state = createSqliteState({ sqlite: db.sqlite });
    seedInstances([state], ['a'], T0);
    const before = state.instance('a');
    expect(() =>
      state.transaction(() => {
        state.putInstance({ ...before!, health: 'BANNED', dayCount: 9 });
        state.setSticky(orgId, '5215500000001', 'a');
        state.putReservation({
          messageId: 'm1',
          orgId,
          instanceId: 'a',
          mode: 'auto',
          recipient: '5215500000001',
          sendAt: T0,
          composingMs: 900,
        });
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(state.instance('a')).toEqual(before);
    expect(state.sticky(orgId, '5215500000001')).toBeUndefined();
    expect(state.reservation('m1')).toBeUndefined();
  });

  it('persists health changes with their reason, and their history', () => {
    const state = createSqliteState({ sqlite: db.sqlite });
    seedInstances([state], ['a'], T0);
    const events: InstanceHealthEvent[] = [];
    const record = healthHistory(db.sqlite);
    const smartSend = createSmartSend({
      state,
      settings,
      random: seededRandom(1),
      now: () => T0,
      events: { emit: (e) => (record(e), events.push(e)) },
    });
    smartSend.report('a', { kind: 'connection', state: 'close', statusReason: 401 });
    expect(
      db.sqlite.prepare(`SELECT health, health_reason FROM whatsapp_instances WHERE id = 'a'`).get(),
    ).toEqual({
      health: 'BANNED',
      health_reason: 'connection closed with 401',
    });
    expect(
      db.sqlite.prepare(`SELECT instance_id, "from", "to", reason, ts FROM instance_health_events`).all(),
    ).toEqual([
      { instance_id: 'a', from: 'WARMUP', to: 'BANNED', reason: 'connection closed with 401', ts: T0 },
    ]);
    expect(events).toHaveLength(1);
  });
});
