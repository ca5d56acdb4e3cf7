/**
 * The org a job's events name, when its payload names one (`data.orgId`: every engine job's does), so
 * that an org's event stream shows its own jobs and no other's.
 */
export function orgOf(orgId: unknown): { orgId?: string } {
  return typeof orgId === 'string' ? { orgId } : {};
}

/** The same, from a job's payload. */
export const payloadOrg = (data: unknown) => orgOf((data as { orgId?: unknown } | null | undefined)?.orgId);
