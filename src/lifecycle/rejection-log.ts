import type { Logger } from '../core/logger';

/** Shortest gap between two "connection refused" lines for one protocol and reason. */
export const REJECTION_LOG_INTERVAL_MS = 1000;

interface Entry {
  last: number;
  suppressed: number;
  active: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Logs refusals at most once per interval per protocol and reason, so a flood cannot fill the
 * disk; what was held back is reported with the next line, or by a trailing line when the flood
 * stops, so no refusal goes unmentioned.
 */
export class RejectionLog {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = REJECTION_LOG_INTERVAL_MS,
  ) {}

  /** Notes one refusal. */
  record(protocol: string, reason: string, active: number): void {
    const key = `${protocol}\u0000${reason}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { last: 0, suppressed: 0, active, timer: undefined };
      this.entries.set(key, entry);
    }
    entry.active = active;
    const now = Date.now();
    if (now - entry.last >= this.intervalMs) {
      this.write(protocol, reason, entry, now);
      return;
    }
    entry.suppressed++;
    if (!entry.timer) {
      const e = entry;
      e.timer = setTimeout(() => {
        e.timer = undefined;
        if (e.suppressed > 0) this.write(protocol, reason, e, Date.now());
      }, e.last + this.intervalMs - now).unref();
    }
  }

  private write(protocol: string, reason: string, entry: Entry, now: number): void {
    this.logger.warn({ protocol, reason, active: entry.active, suppressed: entry.suppressed }, 'connection refused');
    entry.last = now;
    entry.suppressed = 0;
  }

  /** Writes what is held back and stops every timer. */
  flush(): void {
    for (const [key, entry] of this.entries) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.timer = undefined;
      if (entry.suppressed > 0) {
        const [protocol, reason] = key.split('\u0000');
        this.write(protocol, reason, entry, Date.now());
      }
    }
  }
}
