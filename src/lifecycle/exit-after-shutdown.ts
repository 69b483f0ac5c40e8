import type { Logger } from '../core/logger';

/** What `scheduleExit` calls; tests pass their own. */
export interface ExitHooks {
  /** Ends the process (default `process.exit`). */
  exit(code: number): void;
  /** Types of the resources that keep the event loop alive (default `process.getActiveResourcesInfo`). */
  activeResources(): string[];
}

const PROCESS_EXIT: ExitHooks = {
  exit: (code) => process.exit(code),
  activeResources: () => process.getActiveResourcesInfo(),
};

/** `['Timeout', 'Timeout', 'TCPWrap']` -> `{ Timeout: 2, TCPWrap: 1 }`. */
function countByType(types: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of types) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/**
 * After a shutdown a signal started: if the process is still running `delayMs` later (a timer,
 * socket or child the application left open), logs what is still open, by type and count, and
 * ends it with `code`. The timer is unref'd, so a process that has nothing left exits by itself
 * at once. `false` schedules nothing (an embedder that owns the process). Returns the timer.
 */
export function scheduleExit(delayMs: number | false, code: number, logger: Logger, hooks: ExitHooks = PROCESS_EXIT): NodeJS.Timeout | undefined {
  if (delayMs === false) return undefined;
  const timer = setTimeout(() => {
    const handles = countByType(hooks.activeResources());
    logger.warn({ exitDelayMs: delayMs, exitCode: code, handles }, 'process still running after shutdown: exiting');
    hooks.exit(code);
  }, delayMs);
  timer.unref();
  return timer;
}
