import type { Meter } from '@opentelemetry/api';
import type { Logger } from '../../core/logger';
import type { OtelMeterProvider } from './otel-meter-provider';
import { OtelPoolMetrics, METER_NAME, type PoolSource } from './otel-pool-metrics';
import { createOtlpMeterProvider, type ModuleLoader, type OwnedMeterProvider } from './otlp-meter-provider';
import type { OtlpSettings } from './otlp-settings';

/**
 * The application's OpenTelemetry metrics: the instruments over its pools, on the provider the
 * app passed in, or on one unipool created to push OTLP (then unipool flushes and closes it at
 * shutdown; a provider passed in is its owner's to close).
 */
export class OtelTelemetry {
  private constructor(
    private readonly metrics: OtelPoolMetrics,
    private readonly owned: OwnedMeterProvider | undefined,
    private readonly source: PoolSource,
  ) {}

  /** Instruments on `provider`, or on a new OTLP provider from `settings`; the pools' observer hook is set. */
  static start(source: PoolSource, provider: OtelMeterProvider | undefined, settings: OtlpSettings | undefined, logger: Logger, load?: ModuleLoader): OtelTelemetry | undefined {
    let owned: OwnedMeterProvider | undefined;
    if (provider === undefined) {
      if (settings === undefined) return undefined;
      owned = createOtlpMeterProvider(settings, logger, load);
      provider = owned.provider;
    }
    const metrics = new OtelPoolMetrics(provider.getMeter(METER_NAME) as Meter, source);
    for (const pool of source.pools) pool.observer = metrics;
    return new OtelTelemetry(metrics, owned, source);
  }

  /** Whether unipool created the provider (and so exports and closes it). */
  get exports(): boolean {
    return this.owned !== undefined;
  }

  /**
   * Detaches from the pools and, for a provider unipool created, exports the last figures and
   * closes it, waiting at most `timeoutMs`. Never rejects: a failed or late export is logged.
   */
  async shutdown(timeoutMs: number, logger: Logger): Promise<void> {
    for (const pool of this.source.pools) if (pool.observer === this.metrics) pool.observer = undefined;
    const owned = this.owned;
    if (owned === undefined) {
      this.metrics.detach();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, timeoutMs, 'late')));
    try {
      const outcome = await Promise.race([owned.shutdown().then(() => 'done' as const), late]);
      if (outcome === 'late') logger.warn({ timeoutMs }, 'OpenTelemetry: the last metrics export did not finish in time');
    } catch (err) {
      logger.warn({ err }, 'OpenTelemetry: the last metrics export failed');
    } finally {
      clearTimeout(timer);
    }
  }
}
