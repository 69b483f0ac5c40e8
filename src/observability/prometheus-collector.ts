import { Counter, Gauge, Registry, type Aggregator, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { ConnectionPoolManager } from '../core/connection-pool-manager';
import type { Logger } from '../core/logger';
import { HEALTH_STATUSES, type HealthReport } from '../core/pool-health';
import type { KnownLabelValues, PoolMetricsSnapshot } from '../core/pool-types';
import { histogramSampleSeconds, type ProtocolMetricFamily } from '../core/protocol-metrics';
import { METRIC_NAME, ScrapedFamily, mergeHistograms, mergeSamples } from './metric-family';
import { PRESSURE_LEVEL_NAMES } from '../overload/pressure-level';
import { SHED_REASONS } from '../overload/shed-reason';

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
  /** `protocol` and `pool` labels of every series of this pool. */
  labels: { protocol: string; pool: string };
  pool: ConnectionPoolManager<unknown>;
  metrics: PoolMetricsSnapshot;
  health: HealthReport;
  families: readonly ProtocolMetricFamily[];
  known: KnownLabelValues;
}

/**
 * Turns the pools' own counters into Prometheus metrics in one `Registry` per application.
 * Nothing is counted on the hot path for Prometheus' sake: every family reads the pools when
 * scraped (prom-client's `collect()`), from one snapshot per scrape so families agree.
 * Every per-pool series carries `protocol` and `pool` (the pool's name) labels; label values
 * known in advance (rejection reasons, timeout kinds, error types) are reported from 0.
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

  /** Every metric as prom-client JSON, what a cluster primary aggregates (`AggregatorRegistry.aggregate`). */
  async metricsJSON(): Promise<Array<MetricObjectWithValues<MetricValue<string>>>> {
    this.syncProtocolFamilies();
    return this.registry.getMetricsAsJSON();
  }

  /** Content type of `metrics()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** One reading of every pool, shared by every family of the same scrape. */
  private pools(): PoolScrape[] {
    if (!this.scrape) {
      this.scrape = this.source.pools.map((pool) => ({
        labels: { protocol: pool.protocol, pool: pool.name },
        pool,
        metrics: pool.getMetrics(),
        health: pool.getHealth(),
        families: pool.protocolMetrics(),
        known: pool.knownLabelValues(),
      }));
      // Every family's get() runs in the same synchronous pass of Registry.metrics().
      queueMicrotask(() => (this.scrape = undefined));
    }
    return this.scrape;
  }

  /** One series per pool (and per extra label); pools that share a name, outside an application, are combined. */
  private perPool(read: (p: PoolScrape) => Array<{ labels?: Labels; value: number }>, how: 'sum' | 'min' | 'max' = 'sum'): Array<{ labels: Labels; value: number }> {
    const samples: Array<{ labels: Labels; value: number }> = [];
    for (const p of this.pools()) {
      for (const s of read(p)) samples.push({ labels: { ...p.labels, ...s.labels }, value: s.value });
    }
    return mergeSamples(samples, how);
  }

  /** A count map as samples under `label`, every value of `known` included (at 0 until it happens). */
  private counts(counts: Record<string, number>, known: readonly string[], label: string): Array<{ labels: Labels; value: number }> {
    const out: Array<{ labels: Labels; value: number }> = [];
    for (const key of known) if (!(key in counts)) out.push({ labels: { [label]: key }, value: 0 });
    for (const [key, value] of Object.entries(counts)) out.push({ labels: { [label]: key }, value });
    return out;
  }

  /** `aggregator`: how a cluster primary combines the workers' values (summed unless a sum means nothing). */
  private gauge(name: string, help: string, labelNames: string[], read: () => Array<{ labels: Labels; value: number }>, aggregator: Aggregator = 'sum'): void {
    this.builtIn.add(name);
    new Gauge({
      name,
      help,
      labelNames,
      aggregator,
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

  /** `read` returns undefined for a pool without this histogram (overload protection off, say). */
  private histogram(name: string, help: string, read: (p: PoolScrape) => ReturnType<typeof histogramSampleSeconds> | undefined): void {
    this.builtIn.add(name);
    const family = new ScrapedFamily(name, help, 'histogram', () => ({
      histograms: mergeHistograms(this.pools().flatMap((p) => {
        const h = read(p);
        return h === undefined ? [] : [{ ...h, labels: p.labels }];
      })),
    }));
    this.registry.registerMetric(family.asMetric());
  }

  private registerBuiltIns(): void {
    const P = ['protocol', 'pool'];
    this.gauge('unipool_connections_active', 'Connections open now (active, idle or draining).', P, () => this.perPool((p) => [{ value: p.metrics.active }]));
    this.gauge('unipool_requests_in_flight', 'Units of work in progress now (HTTP requests, unary gRPC calls, WebSocket message handlers).', P, () => this.perPool((p) => [{ value: p.metrics.requests.inFlight }]));
    this.gauge('unipool_streams_in_flight', 'Long-lived work open now (gRPC streaming calls), kept apart from requests.', P, () => this.perPool((p) => [{ value: p.metrics.streams.inFlight }]));
    this.counter('unipool_connections_total', 'Connections admitted since start.', P, () => this.perPool((p) => [{ value: p.metrics.totalConnections }]));
    this.counter('unipool_connections_rejected_total', 'Connections refused at admission, by reason.', [...P, 'reason'], () =>
      this.perPool((p) => this.counts(p.metrics.rejected.byReason, p.known.rejectReasons, 'reason')),
    );
    this.gauge('unipool_pool_max_connections', 'Configured connection limit of the pool.', P, () => this.perPool((p) => [{ value: p.metrics.maxConnections }]), 'max');
    this.gauge('unipool_pool_health', 'Health of the pool as a state set: 1 for the current status, 0 for the others.', [...P, 'status'], () =>
      this.perPool((p) => HEALTH_STATUSES.map((status) => ({ labels: { status }, value: status === p.health.status ? 1 : 0 })), 'max'),
      'max',
    );
    this.counter('unipool_errors_total', 'Errors by type (handler failures, client errors, aborted requests...).', [...P, 'type'], () =>
      this.perPool((p) => this.counts(p.metrics.errors.byType, p.known.errorTypes, 'type')),
    );
    this.counter('unipool_connection_timeouts_total', 'Timeouts by kind (connection, idle, headers, request, heartbeat...).', [...P, 'kind'], () =>
      this.perPool((p) => this.counts(p.metrics.timeouts, p.known.timeoutKinds, 'kind')),
    );
    this.counter('unipool_network_io_bytes_total', 'Bytes received and transmitted on pooled connections.', [...P, 'direction'], () =>
      this.perPool((p) => [
        { labels: { direction: 'receive' }, value: p.metrics.bytes.in },
        { labels: { direction: 'transmit' }, value: p.metrics.bytes.out },
      ]),
    );
    this.histogram('unipool_connection_duration_seconds', 'Lifetime of closed connections.', (p) => histogramSampleSeconds(p.pool.connectionDurations));
    this.histogram('unipool_request_duration_seconds', 'Duration of units of work: HTTP requests, unary gRPC calls, WebSocket message handling.', (p) => histogramSampleSeconds(p.pool.requestLatency));
    this.histogram('unipool_stream_duration_seconds', 'Duration of finished long-lived work (gRPC streaming calls), never part of request duration or health.', (p) => histogramSampleSeconds(p.pool.streamDurations));

    this.registerOverload(P);

    const stats = this.source.stats;
    this.gauge('unipool_ready', 'Whether the application is ready for traffic (1) or not (0).', [], () => [{ labels: {}, value: this.source.isReady ? 1 : 0 }]);
    this.gauge('unipool_shutdown_phase_duration_seconds', 'Duration of each shutdown phase run so far.', ['phase'], () =>
      [...stats.shutdownPhases].map(([phase, ms]) => ({ labels: { phase }, value: ms / 1000 })),
    'max',
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

  /**
   * Overload protection (issue 14): series only for pools whose `overload` block turns it on
   * (a limiter or a pressure signal); the families are there, empty, for the others.
   */
  private registerOverload(P: string[]): void {
    const on = (read: (o: NonNullable<PoolMetricsSnapshot['overload']>) => Array<{ labels?: Labels; value: number }>) => (p: PoolScrape) =>
      p.metrics.overload === undefined ? [] : read(p.metrics.overload);
    this.gauge('unipool_concurrency_limit', 'Units of work a pool admits at once (its overload limiter\'s current limit); no series without a limiter.', P, () =>
      this.perPool(on((o) => (o.limit === null ? [] : [{ value: o.limit }]))),
    );
    this.gauge('unipool_requests_queued', 'Units of work waiting for admission in the overload queue.', P, () => this.perPool(on((o) => [{ value: o.queued }])));
    this.histogram('unipool_queue_wait_seconds', 'Time units of work waited in the overload queue before they were admitted.', (p) =>
      p.metrics.overload === undefined ? undefined : histogramSampleSeconds(p.pool.workAdmission!.queueWait),
    );
    this.counter('unipool_requests_shed_total', 'Units of work shed by overload protection, by reason (limit, queue_full, queue_timeout, pressure).', [...P, 'reason'], () =>
      this.perPool(on((o) => SHED_REASONS.map((reason) => ({ labels: { reason }, value: o.shed[reason] })))),
    );
    this.gauge('unipool_event_loop_delay_seconds', 'Event-loop delay (p99 over the last pressure sample interval) seen by a pool\'s overload protection.', P, () =>
      this.perPool(on((o) => [{ value: o.eventLoopDelayMs / 1000 }]), 'max'),
    'max',
    );
    this.gauge('unipool_overload_state', 'Graded overload action in force as a state set: 1 for the current state (none, closeKeepAlive, refuseConnections, shedWork), 0 for the others.', [...P, 'state'], () =>
      this.perPool(on((o) => PRESSURE_LEVEL_NAMES.map((state) => ({ labels: { state }, value: state === o.state ? 1 : 0 }))), 'max'),
    'max',
    );
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
        const aggregator = family.type === 'gauge' ? (family.aggregate ?? 'sum') : 'sum';
        const scraped = new ScrapedFamily(family.name, family.help, family.type, () => this.sampleFamily(family.name, family.type), aggregator);
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
        this.warnOnce(`${name}:${p.labels.pool}`, `protocol metric ${name} from pool ${p.labels.pool} is a ${family.type}, expected ${type}; skipped`);
        continue;
      }
      if (family.type === 'histogram') {
        for (const s of family.samples) histograms.push({ ...s, labels: { ...p.labels, ...s.labels } });
      } else {
        if (family.type === 'gauge' && family.aggregate) how = family.aggregate;
        for (const s of family.samples) scalars.push({ labels: { ...p.labels, ...s.labels }, value: s.value });
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
