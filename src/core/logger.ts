import pino from 'pino';

/** The logger unipool writes to: the subset of pino's API it uses, so any pino instance fits. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** The default logger: pino, JSON lines on stdout, level from `UNIPOOL_LOG_LEVEL` (default `info`). */
export function createDefaultLogger(): Logger {
  return pino({ name: 'unipool', level: process.env.UNIPOOL_LOG_LEVEL ?? 'info' });
}
