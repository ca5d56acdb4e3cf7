import { z } from 'zod';
import { IdempotencyKeySchema } from './common.ts';

/** White-label branding, a Partner-plan feature (`plans.white_label`). */
export const BrandingSchema = z
  .object({
    name: z.string().trim().min(1).max(60),
    accentColor: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a colour like #1e88e5'),
    /** A small PNG or SVG as a data: URL (at most 48 KiB). */
    logo: z
      .string()
      .max(48 * 1024)
      .regex(/^data:image\/(png|svg\+xml);base64,[A-Za-z0-9+/=]+$/, 'a PNG or SVG data: URL')
      .nullable()
      .default(null),
  })
  .strict();
/** Setting it is a guarded command: an idempotency key makes a repeat answer the first result. */
export const SetBrandingSchema = BrandingSchema.extend({ idempotencyKey: IdempotencyKeySchema.optional() });
export type BrandingInput = z.input<typeof BrandingSchema>;
export type Branding = z.output<typeof BrandingSchema>;
