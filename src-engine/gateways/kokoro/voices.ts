import type { AiVoice } from '../../contracts/ai.ts';

/** Kokoro's voice ids start with a language letter and a gender letter: `ef_dora` is a Spanish female voice. */
const LANGUAGES: Record<string, string> = {
  a: 'en-US',
  b: 'en-GB',
  e: 'es',
  f: 'fr',
  h: 'hi',
  i: 'it',
  j: 'ja',
  p: 'pt-BR',
  z: 'zh',
};

/** Voices for the UI, sorted by id; a voice outside the naming scheme keeps its id as its name. */
export function toAiVoices(ids: string[]): AiVoice[] {
  return [...new Set(ids)].sort().map((id) => {
    const match = /^([a-z])([fm])_([a-z0-9_]+)$/.exec(id);
    if (!match) return { id, name: id, language: null, gender: null };
    const [, lang = '', gender, rest = ''] = match;
    const name = rest
      .split('_')
      .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
      .join(' ');
    return { id, name, language: LANGUAGES[lang] ?? null, gender: gender === 'f' ? 'female' : 'male' };
  });
}
