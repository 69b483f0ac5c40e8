/** Signals that start a graceful shutdown. */
export const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Installs handlers for SIGTERM and SIGINT: the first signal calls `onFirst`, any later one
 * calls `onRepeat` (forcing the shutdown). `uninstall` removes them, so many apps can come and
 * go in one process.
 */
export class SignalHandler {
  private count = 0;
  private readonly listener = (signal: NodeJS.Signals): void => {
    this.count++;
    if (this.count === 1) this.onFirst(signal);
    else this.onRepeat(signal);
  };
  private installed = false;

  constructor(
    private readonly onFirst: (signal: NodeJS.Signals) => void,
    private readonly onRepeat: (signal: NodeJS.Signals) => void,
    private readonly signals: readonly NodeJS.Signals[] = SHUTDOWN_SIGNALS,
  ) {}

  install(): void {
    if (this.installed) return;
    this.installed = true;
    for (const signal of this.signals) process.on(signal, this.listener);
  }

  uninstall(): void {
    if (!this.installed) return;
    this.installed = false;
    for (const signal of this.signals) process.off(signal, this.listener);
  }
}
