import { Counter, Gauge, Registry } from 'prom-client';
import type { ConnectionPoolManager } from '../core/connection-pool-manager';
import type { Logger } from '../core/logger';
import { HEALTH_STATUSES, type HealthReport } from '../core/pool-health';
import type { PoolMetricsSnapshot } from '../core/pool-types';
import { histogramSampleSeconds, type ProtocolMetricFamily } from '../core/protocol-metrics';
import { METRIC_NAME, ScrapedFamily, mergeHistograms, mergeSamples } from './metric-family';

/** What the collector reads from the application on each scrape. */
export interface MetricsSource {
  /** The pools whose counters become metrics. */
  readonly pools: readonly ConnectionPoolManager<unknown>[];
  /** True between the end of boot and the first shutdown phase. */
  readonly isReady: boolean;
  /** Application-level counters (reloads, shutdown phases). */
  readonly stats: ApplicationStats;
}

/** Application-level figures kept by the application itself. */
export interface ApplicationStats {
  reloads: { success: number; failure: number };
  /** Outcome of the last reload, if any. */
  lastReload?: { ok: boolean; at: number };
  /** When the last reload succeeded (ms since epoch); boot counts as one. */
  lastReloadSuccessAt: number;
  /** Duration (ms) of each shutdown phase run so far. */
  shutdownPhases: Map<string, number>;
}

/** Prefix of every unipool metric. */
export const METRIC_PREFIX = 'unipool_';

type Labels = Record<string, string | number>;

interface PoolScrape {
  protocol: string;
  pool: ConnectionPoolManager<unknown>;
  metrics: PoolMetricsSnapshot;
  health: HealthReport;
  families: readonly ProtocolMetricFamily[];
}

/**
 * Turns the pools' own counters into Prometheus metrics in one `Registry` per application.
 * Nothing is counted on the hot path for Prometheus' sake: every family reads the pools when
 * scraped (prom-client's `collect()`), from one snapshot per scrape so families agree.
 * Pools of the same protocol are added up under one `protocol` label.
 */
export class PrometheusCollector {
  /** The registry `/metrics` serves; register your own metrics here too. */
  readonly registry = new Registry();
  private scrape: PoolScrape[] | undefined;
  private readonly protocolFamilies = new Map<string, ScrapedFamily>();
  private readonly warned = new Set<string>();
  private readonly builtIn = new Set<string>();

  constructor(
    private readonly source: MetricsSource,
    private readonly logger: Logger,
  ) {
    this.registerBuiltIns();
  }

  /** The exposition text of every metric (refreshes the protocol-specific families first). */
  async metrics(): Promise<string> {
    this.syncProtocolFamilies();
    return this.registry.metrics();
  }

  /** Content type of `metrics()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** One reading of every pool, shared by every family of the same scrape. */
  private pools(): PoolScrape[] {
    if (!this.scrape) {
      this.scrape = this.source.pools.map((pool) => ({
        protocol: pool.protocol,
        pool,
        metrics: pool.getMetrics(),
        health: pool.getHealth(),
        families: pool.protocolMetrics(),
      }));
      // Every family's get() runs in the same synchronous pass of Registry.metrics().
      queueMicrotask(() => (this.scrape = undefined));
    }
    return this.scrape;
  }

  private perProtocol(read: (p: PoolScrape) => Array<{ labels?: Labels; value: number }>, how: 'sum' | 'min' | 'max' = 'sum'): Array<{ labels: Labels; value: number }> {
    const samples: Array<{ labels: Labels; value: number }> = [];
    for (const p of this.pools()) {
      for (const s of read(p)) samples.push({ labels: { protocol: p.protocol, ...s.labels }, value: s.value });
    }
    return mergeSamples(samples, how);
  }

  private gauge(name: string, help: string, labelNames: string[], read: () => Array<{ labels: Labels; value: number }>): void {
    this.builtIn.add(name);
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of read()) this.set(s.labels, s.value);
      },
    });
  }

  private counter(name: string, help: string, labelNames: string[], read: () => Array<{ labels: Labels; value: number }>): void {
    this.builtIn.add(name);
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of read()) this.inc(s.labels, s.value);
      },
    });
  }

  private histogram(name: string, help: string, read: (p: PoolScrape) => ReturnType<typeof histogramSampleSeconds>): void {
    this.builtIn.add(name);
    const family = new ScrapedFamily(name, help, 'histogram', () => ({
      histograms: mergeHistograms(this.pools().map((p) => {
        const h = read(p);
        return { ...h, labels: { protocol: p.protocol } };
      })),
    }));
    this.registry.registerMetric(family.asMetric());
  }

  private registerBuiltIns(): void {
    const P = ['protocol'];
    this.gauge('unipool_connections_active', 'Connections open now (active, idle or draining).', P, () => this.perProtocol((p) => [{ value: p.metrics.active }]));
    this.gauge('unipool_requests_in_flight', 'Units of work in progress now (HTTP requests, unary gRPC calls, WebSocket message handlers).', P, () => this.perProtocol((p) => [{ value: p.metrics.requests.inFlight }]));
    this.gauge('unipool_streams_in_flight', 'Long-lived work open now (gRPC streaming calls), kept apart from requests.', P, () => this.perProtocol((p) => [{ value: p.metrics.streams.inFlight }]));
    this.counter('unipool_connections_total', 'Connections admitted since start.', P, () => this.perProtocol((p) => [{ value: p.metrics.totalConnections }]));
    this.counter('unipool_connections_rejected_total', 'Connections refused at admission, by reason.', [...P, 'reason'], () =>
      this.perProtocol((p) => Object.entries(p.metrics.rejected.byReason).map(([reason, value]) => ({ labels: { reason }, value }))),
    );
    this.gauge('unipool_pool_max_connections', 'Configured connection limit of the pool.', P, () => this.perProtocol((p) => [{ value: p.metrics.maxConnections }]));
    this.gauge('unipool_pool_health', 'Health of the pool as a state set: 1 for the current status, 0 for the others.', [...P, 'status'], () => this.healthStateSet());
    this.counter('unipool_errors_total', 'Errors by type (handler failures, client errors, aborted requests...).', [...P, 'type'], () =>
      this.perProtocol((p) => Object.entries(p.metrics.errors.byType).map(([type, value]) => ({ labels: { type }, value }))),
    );
    this.counter('unipool_connection_timeouts_total', 'Timeouts by kind (connection, idle, headers, request, heartbeat...).', [...P, 'kind'], () =>
      this.perProtocol((p) => Object.entries(p.metrics.timeouts).map(([kind, value]) => ({ labels: { kind }, value }))),
    );
    this.counter('unipool_network_io_bytes_total', 'Bytes received and transmitted on pooled connections.', [...P, 'direction'], () =>
      this.perProtocol((p) => [
        { labels: { direction: 'receive' }, value: p.metrics.bytes.in },
        { labels: { direction: 'transmit' }, value: p.metrics.bytes.out },
      ]),
    );
    this.histogram('unipool_connection_duration_seconds', 'Lifetime of closed connections.', (p) => histogramSampleSeconds(p.pool.connectionDurations));
    this.histogram('unipool_request_duration_seconds', 'Duration of units of work: HTTP requests, unary gRPC calls, WebSocket message handling.', (p) => histogramSampleSeconds(p.pool.requestLatency));
    this.histogram('unipool_stream_duration_seconds', 'Duration of finished long-lived work (gRPC streaming calls), never part of request duration or health.', (p) => histogramSampleSeconds(p.pool.streamDurations));

    const stats = this.source.stats;
    this.gauge('unipool_ready', 'Whether the application is ready for traffic (1) or not (0).', [], () => [{ labels: {}, value: this.source.isReady ? 1 : 0 }]);
    this.gauge('unipool_shutdown_phase_duration_seconds', 'Duration of each shutdown phase run so far.', ['phase'], () =>
      [...stats.shutdownPhases].map(([phase, ms]) => ({ labels: { phase }, value: ms / 1000 })),
    );
    this.counter('unipool_config_reloads_total', 'Configuration reloads by result.', ['result'], () => [
      { labels: { result: 'success' }, value: stats.reloads.success },
      { labels: { result: 'failure' }, value: stats.reloads.failure },
    ]);
    this.gauge('unipool_config_last_reload_successful', 'Whether the last configuration reload succeeded (1) or was rejected (0).', [], () => [{ labels: {}, value: stats.lastReload?.ok === false ? 0 : 1 }]);
    this.gauge('unipool_config_last_reload_success_timestamp_seconds', 'When the configuration was last loaded successfully (boot or reload).', [], () => [
      { labels: {}, value: stats.lastReloadSuccessAt / 1000 },
    ]);
  }

  private healthStateSet(): Array<{ labels: Labels; value: number }> {
    // Several pools of one protocol: the worst status speaks for the protocol.
    const worst = new Map<string, number>();
    for (const p of this.pools()) {
      const level = HEALTH_STATUSES.indexOf(p.health.status);
      worst.set(p.protocol, Math.max(level, worst.get(p.protocol) ?? 0));
    }
    const out: Array<{ labels: Labels; value: number }> = [];
    for (const [protocol, level] of worst) {
      HEALTH_STATUSES.forEach((status, i) => out.push({ labels: { protocol, status }, value: i === level ? 1 : 0 }));
    }
    return out;
  }

  /** Registers a family for every protocol-specific name a pool reports that is not yet known. */
  private syncProtocolFamilies(): void {
    for (const p of this.pools()) {
      for (const family of p.families) {
        if (this.protocolFamilies.has(family.name)) continue;
        const problem = this.builtIn.has(family.name)
          ? 'clashes with a built-in family'
          : !METRIC_NAME.test(family.name) || !family.name.startsWith(METRIC_PREFIX)
            ? `is not a metric name starting with ${METRIC_PREFIX}`
            : undefined;
        if (problem) {
          this.warnOnce(family.name, `protocol metric ${family.name} ${problem}; skipped`);
          continue;
        }
        const scraped = new ScrapedFamily(family.name, family.help, family.type, () => this.sampleFamily(family.name, family.type));
        this.protocolFamilies.set(family.name, scraped);
        this.registry.registerMetric(scraped.asMetric());
      }
    }
  }

  private sampleFamily(name: string, type: ProtocolMetricFamily['type']): ReturnType<ConstructorParameters<typeof ScrapedFamily>[3]> {
    const scalars: Array<{ labels: Labels; value: number }> = [];
    const histograms: Array<ReturnType<typeof histogramSampleSeconds> & { labels: Labels }> = [];
    let how: 'sum' | 'min' | 'max' = 'sum';
    for (const p of this.pools()) {
      const family = p.families.find((f) => f.name === name);
      if (!family) continue;
      if (family.type !== type) {
        this.warnOnce(`${name}:${p.protocol}`, `protocol metric ${name} from ${p.protocol} is a ${family.type}, expected ${type}; skipped`);
        continue;
      }
      if (family.type === 'histogram') {
        for (const s of family.samples) histograms.push({ ...s, labels: { protocol: p.protocol, ...s.labels } });
      } else {
        if (family.type === 'gauge' && family.aggregate) how = family.aggregate;
        for (const s of family.samples) scalars.push({ labels: { protocol: p.protocol, ...s.labels }, value: s.value });
      }
    }
    return type === 'histogram' ? { histograms: mergeHistograms(histograms) } : { scalars: mergeSamples(scalars, how) };
  }

  private warnOnce(key: string, msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.logger.warn({ metric: key }, msg);
  }
}
