import type { Alert } from '../src-engine/contracts/compliance.ts';

/** Ids of alerts already shown, kept across restarts. */
export interface SeenAlerts {
  has(id: string): boolean;
  add(id: string): void;
}

/** A bounded set of ids persisted as a JSON array: the newest `max` are kept. */
export function createSeenAlerts(
  file: { read(): string | undefined; write(text: string): void },
  max = 500,
): SeenAlerts {
  let ids: string[] = [];
  try {
    const parsed: unknown = JSON.parse(file.read() ?? '[]');
    if (Array.isArray(parsed)) ids = parsed.filter((x): x is string => typeof x === 'string').slice(-max);
  } catch {
    // A damaged file only means some old alerts may be shown once more.
  }
  const set = new Set(ids);
  return {
    has: (id) => set.has(id),
    add(id) {
      if (set.has(id)) return;
      set.add(id);
      ids.push(id);
      if (ids.length > max) set.delete(ids.shift()!);
      file.write(JSON.stringify(ids));
    },
  };
}

/**
 * Raises one OS notification per compliance alert (70/85/95 %, low credit, a banned number, a failed
 * agent run), however many times the alert is seen again; acknowledged alerts are not raised.
 */
export function createAlertNotifier(deps: { seen: SeenAlerts; notify(alert: Alert): void }) {
  return {
    /** Offers alerts (any order, repeats welcome); returns those that were raised now. */
    offer(alerts: readonly Alert[]): Alert[] {
      const raised: Alert[] = [];
      for (const a of [...alerts].sort((x, y) => x.createdAt - y.createdAt)) {
        if (a.acknowledgedAt !== null || deps.seen.has(a.id)) continue;
        deps.seen.add(a.id);
        deps.notify(a);
        raised.push(a);
      }
      return raised;
    },
  };
}
