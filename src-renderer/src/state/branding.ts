import { create } from 'zustand';
import { useOperation } from './use-operation.ts';

/** Bumped when the branding is saved, so every view of it refetches. */
export const useBrandingRevision = create<{ revision: number; changed(): void }>()((set) => ({
  revision: 0,
  changed: () => set((s) => ({ revision: s.revision + 1 })),
}));

/** The org's white-label branding and whether its plan allows it. */
export function useBranding() {
  const revision = useBrandingRevision((s) => s.revision);
  return useOperation('branding:get', {}, { revision });
}
