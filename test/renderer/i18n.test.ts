import { describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../../src-engine/contracts/errors.ts';
import { LedgerKindSchema } from '../../src-engine/contracts/ledger.ts';
import { InstanceHealthSchema } from '../../src-engine/contracts/whatsapp.ts';
import { en } from '../../src-renderer/src/i18n/en.ts';
import { es } from '../../src-renderer/src/i18n/es.ts';

/** Every leaf of a dictionary as [path, value]. */
function leaves(o: object, prefix = ''): [string, unknown][] {
  return Object.entries(o).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null ? leaves(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v]],
  );
}

describe('dictionaries', () => {
  it('have the same keys in Spanish and English, none empty', () => {
    const esLeaves = leaves(es);
    expect(esLeaves.map(([k]) => k)).toEqual(leaves(en).map(([k]) => k));
    for (const [path, value] of [...esLeaves, ...leaves(en)]) {
      if (typeof value === 'string') expect(value.trim(), path).not.toBe('');
      else expect(typeof value, path).toBe('function');
    }
  });

  it('translate every error code, ledger kind and instance health of the contracts', () => {
    for (const d of [es, en]) {
      for (const code of Object.keys(ERROR_STATUS))
        expect(d.errors[code as keyof typeof ERROR_STATUS]).toBeTruthy();
      for (const kind of LedgerKindSchema.options) expect(d.billing.kinds[kind]).toBeTruthy();
      for (const h of InstanceHealthSchema.options) expect(d.whatsapp.health[h]).toBeTruthy();
    }
  });

  it('are actually two languages', () => {
    const same = leaves(es).filter(([k, v], i) => typeof v === 'string' && v === leaves(en)[i]![1] && k);
    // Brand and service names are the same in both; little else may be.
    expect(same.length).toBeLessThan(20);
  });
});
