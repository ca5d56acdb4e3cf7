import type { AiModel, OllamaPs, OllamaTags } from '../../contracts/ai.ts';

/** Installed models for the UI, sorted by name, each marked loaded when `/api/ps` lists it. */
export function toAiModels(tags: OllamaTags, ps: OllamaPs): AiModel[] {
  const loaded = new Set(ps.models.map((m) => m.model ?? m.name));
  return tags.models
    .map((m) => ({
      name: m.name,
      family: m.details?.family || null,
      parameterSize: m.details?.parameter_size || null,
      quantization: m.details?.quantization_level || null,
      sizeBytes: m.size,
      modifiedAt: m.modified_at,
      loaded: loaded.has(m.model ?? m.name) || loaded.has(m.name),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
