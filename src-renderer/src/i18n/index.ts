import type { Locale } from '../format.ts';
import { useUi } from '../state/ui.ts';
import { en } from './en.ts';
import { es, type Dictionary } from './es.ts';

export type { Dictionary };
export const DICTIONARIES: Record<Locale, Dictionary> = { es, en };
export const LOCALES = Object.keys(DICTIONARIES) as Locale[];

/** The dictionary of the language chosen now; components re-render when it changes. */
export function useT(): Dictionary {
  return DICTIONARIES[useUi((s) => s.lang)];
}

export function useLocale(): Locale {
  return useUi((s) => s.lang);
}
