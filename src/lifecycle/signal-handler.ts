/** Signals that start a graceful shutdown. */
export const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
/** Signals that reload the configuration. */
export const RELOAD_SIGNALS: readonly NodeJS.Signals[] = ['SIGHUP'];

/**
 * Installs handlers for SIGTERM and SIGINT: the first signal calls `onFirst`, any later one
 * calls `onRepeat` (forcing the shutdown); SIGHUP calls `onReload` each time (when given).
 * `uninstall` removes them all, so many apps can come and go in one process.
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
    private readonly onReload?: (signal: NodeJS.Signals) => void,
    private readonly reloadSignals: readonly NodeJS.Signals[] = RELOAD_SIGNALS,
  ) {}

  private readonly reloadListener = (signal: NodeJS.Signals): void => this.onReload?.(signal);

  install(): void {
    if (this.installed) return;
    this.installed = true;
    for (const signal of this.signals) process.on(signal, this.listener);
    if (this.onReload) for (const signal of this.reloadSignals) process.on(signal, this.reloadListener);
  }

  uninstall(): void {
    if (!this.installed) return;
    this.installed = false;
    for (const signal of this.signals) process.off(signal, this.listener);
    if (this.onReload) for (const signal of this.reloadSignals) process.off(signal, this.reloadListener);
  }
}
