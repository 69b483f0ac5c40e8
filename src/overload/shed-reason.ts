/** Why a unit of work was shed (label `reason` of `unipool_requests_shed_total` once wired). */
export const SHED_REASONS = ['limit', 'queue_full', 'queue_timeout', 'pressure'] as const;
/** Why a unit of work was shed. */
export type ShedReason = (typeof SHED_REASONS)[number];
