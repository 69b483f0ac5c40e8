import type { Attributes, BatchObservableResult, Histogram, Meter, MetricAttributes, Observable, ValueType } from '@opentelemetry/api';
import type { ConnectionPoolManager } from '../../core/connection-pool-manager';
import type { PoolObserver } from '../../core/pool-observer';
import { HEALTH_STATUSES } from '../../core/pool-health';
import type { CloseReason } from '../../core/pool-types';

/** Name of the meter every unipool instrument belongs to (the instrumentation scope). */
export const METER_NAME = 'unipool';

/** The semantic conventions' buckets (s) for `http.server.request.duration`, also used for RPC calls and TLS handshakes. */
export const REQUEST_DURATION_BUCKETS_S: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);
/** Kestrel's buckets (s) for `kestrel.connection.duration`. */
export const CONNECTION_DURATION_BUCKETS_S: readonly number[] = Object.freeze([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]);

/** HTTP methods `http.request.method` keeps as they are (RFC 9110 and RFC 5789); any other is `_OTHER`. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']);

/** Close reasons that end a connection normally; any other becomes its `error.type` on `unipool.connection.duration`. */
const NORMAL_CLOSE_REASONS: ReadonlySet<string> = new Set(['closed', 'drain', 'upgraded']);

/** `ValueType.INT` of `@opentelemetry/api`, without loading it (a const enum value). */
const INT = 0 as ValueType;

/** `http.request.method` of a request: one of the known methods, else `_OTHER` (bounded cardinality). */
export function normalizeMethod(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : '_OTHER';
}

/** `network.protocol.version` from node's `httpVersion`: `1.1`, `1.0`, and `2` for `2.0`. */
export function protocolVersion(httpVersion: string): string {
  return httpVersion === '2.0' ? '2' : httpVersion;
}

/** `tls.protocol.version` from node's protocol name: `TLSv1.3` -> `1.3`. */
export function tlsVersion(name: string): string {
  return name.startsWith('TLSv') ? name.slice(4) : name;
}

/** One observation per key of `counts` under `attribute`, every `known` key included (0 until it happens). */
function observeCounts(result: BatchObservableResult, instrument: Observable, base: Readonly<Attributes>, attribute: string, known: readonly string[], counts: Record<string, number>): void {
  for (const key of known) if (!(key in counts)) result.observe(instrument, 0, { ...base, [attribute]: key });
  for (const [key, n] of Object.entries(counts)) result.observe(instrument, n, { ...base, [attribute]: key });
}

/** What the instruments read from the application on each collection. */
export interface PoolSource {
  readonly pools: readonly ConnectionPoolManager<unknown>[];
}

/** Figures some pools offer besides `getMetrics()`, read by duck typing so a new protocol only declares them. */
interface TelemetryFacts {
  /** Set by pools whose units of work are HTTP requests: `http` or `https`. */
  readonly urlScheme?: string;
  /** Set by pools that run TLS handshakes before admission. */
  readonly activeTlsHandshakes?: number;
  /** True on pools whose connections are upgraded HTTP/1.1 connections (WebSocket). */
  readonly upgradedConnections?: boolean;
}

/**
 * The pools' metrics as OpenTelemetry instruments on one `Meter`, in the semantic conventions
 * where they exist (`http.server.*`, `rpc.server.*`) and under Kestrel's names with a `unipool.`
 * prefix for connections. Every instrument carries `unipool.pool` (the pool's name) and
 * `network.protocol.name` (its protocol), so a new protocol is measured without edits here.
 * Gauges and counters are observed from the pools' own counters on each collection (one
 * `getMetrics()` per pool per collection, as a Prometheus scrape does); durations are recorded
 * as they happen through the pools' `observer` hook, which the pools call only while this is
 * attached.
 */
export class OtelPoolMetrics implements PoolObserver {
  private readonly requestDuration: Histogram;
  private readonly rpcDuration: Histogram;
  private readonly connectionDuration: Histogram;
  private readonly tlsHandshakeDuration: Histogram;
  private readonly observables: Observable[];
  private readonly collect = (result: BatchObservableResult): void => this.observe(result);
  /** The attributes every instrument carries, per pool (names are fixed once the app has started). */
  private readonly poolAttributes = new WeakMap<object, Readonly<Attributes>>();

  private readonly activeConnections;
  private readonly rejectedConnections;
  private readonly upgradedConnections;
  private readonly activeTlsHandshakes;
  private readonly activeRequests;
  private readonly timeouts;
  private readonly errors;
  private readonly networkIo;
  private readonly connectionMax;
  private readonly health;

  constructor(
    private readonly meter: Meter,
    private readonly source: PoolSource,
  ) {
    const seconds = (name: string, description: string, buckets: readonly number[]): Histogram => meter.createHistogram(name, { description, unit: 's', advice: { explicitBucketBoundaries: [...buckets] } });
    this.requestDuration = seconds('http.server.request.duration', 'Duration of HTTP server requests.', REQUEST_DURATION_BUCKETS_S);
    this.rpcDuration = seconds('rpc.server.call.duration', 'Duration of RPCs received by the server (gRPC calls, unary and streaming).', REQUEST_DURATION_BUCKETS_S);
    this.connectionDuration = seconds('unipool.connection.duration', 'The duration of connections on the server.', CONNECTION_DURATION_BUCKETS_S);
    this.tlsHandshakeDuration = seconds('unipool.tls_handshake.duration', 'The duration of TLS handshakes on the server.', REQUEST_DURATION_BUCKETS_S);
    this.activeConnections = meter.createObservableUpDownCounter('unipool.active_connections', { description: 'Number of connections that are currently active on the server.', unit: '{connection}', valueType: INT });
    this.rejectedConnections = meter.createObservableCounter('unipool.rejected_connections', { description: 'Number of connections rejected by the server, by reason.', unit: '{connection}', valueType: INT });
    this.upgradedConnections = meter.createObservableUpDownCounter('unipool.upgraded_connections', { description: 'Number of connections that are currently upgraded (WebSockets).', unit: '{connection}', valueType: INT });
    this.activeTlsHandshakes = meter.createObservableUpDownCounter('unipool.active_tls_handshakes', { description: 'Number of TLS handshakes that are currently in progress on the server.', unit: '{handshake}', valueType: INT });
    this.activeRequests = meter.createObservableUpDownCounter('http.server.active_requests', { description: 'Number of active HTTP server requests.', unit: '{request}', valueType: INT });
    this.timeouts = meter.createObservableCounter('unipool.connection.timeouts', { description: 'Timeouts enforced on connections, by kind.', unit: '{timeout}', valueType: INT });
    this.errors = meter.createObservableCounter('unipool.errors', { description: 'Errors on pooled connections, by type.', unit: '{error}', valueType: INT });
    this.networkIo = meter.createObservableCounter('unipool.network.io', { description: 'Bytes received and transmitted on pooled connections.', unit: 'By', valueType: INT });
    this.connectionMax = meter.createObservableUpDownCounter('unipool.connection.max', { description: 'The configured connection limit of the pool.', unit: '{connection}', valueType: INT });
    this.health = meter.createObservableGauge('unipool.health', { description: 'Health of the pool: 1 for the current status, 0 for the others.', unit: '1', valueType: INT });
    this.observables = [
      this.activeConnections,
      this.rejectedConnections,
      this.upgradedConnections,
      this.activeTlsHandshakes,
      this.activeRequests,
      this.timeouts,
      this.errors,
      this.networkIo,
      this.connectionMax,
      this.health,
    ];
    meter.addBatchObservableCallback(this.collect, this.observables);
  }

  /** Stops observing the pools (the histograms keep what they recorded). */
  detach(): void {
    this.meter.removeBatchObservableCallback(this.collect, this.observables);
  }

  private attributesOf(pool: object): Readonly<Attributes> {
    let attrs = this.poolAttributes.get(pool);
    if (attrs === undefined) {
      const p = pool as ConnectionPoolManager<unknown>;
      attrs = Object.freeze({ 'unipool.pool': p.name, 'network.protocol.name': p.protocol });
      this.poolAttributes.set(pool, attrs);
    }
    return attrs;
  }

  private observe(result: BatchObservableResult): void {
    for (const pool of this.source.pools) {
      const base = this.attributesOf(pool);
      const facts = pool as unknown as TelemetryFacts;
      const m = pool.getMetrics();
      const known = pool.knownLabelValues();
      result.observe(this.activeConnections, m.active, base);
      result.observe(this.connectionMax, m.maxConnections, base);
      observeCounts(result, this.rejectedConnections, base, 'unipool.rejection.reason', known.rejectReasons, m.rejected.byReason);
      observeCounts(result, this.timeouts, base, 'unipool.timeout.kind', known.timeoutKinds, m.timeouts);
      observeCounts(result, this.errors, base, 'error.type', known.errorTypes, m.errors.byType);
      result.observe(this.networkIo, m.bytes.in, { ...base, 'network.io.direction': 'receive' });
      result.observe(this.networkIo, m.bytes.out, { ...base, 'network.io.direction': 'transmit' });
      const status = pool.getHealth().status;
      for (const s of HEALTH_STATUSES) result.observe(this.health, s === status ? 1 : 0, { ...base, 'unipool.health.status': s });
      if (facts.upgradedConnections === true) result.observe(this.upgradedConnections, m.active, base);
      if (typeof facts.activeTlsHandshakes === 'number') result.observe(this.activeTlsHandshakes, facts.activeTlsHandshakes, base);
      if (typeof facts.urlScheme === 'string') result.observe(this.activeRequests, m.requests.inFlight, { ...base, 'url.scheme': facts.urlScheme });
    }
  }

  // ---------------------------------------------------------------- PoolObserver: recorded as they happen

  httpRequest(pool: object, method: string | undefined, statusCode: number, httpVersion: string, seconds: number, errorType?: string): void {
    const attrs: MetricAttributes = {
      ...this.attributesOf(pool),
      'http.request.method': normalizeMethod(method),
      'http.response.status_code': statusCode,
      'network.protocol.version': protocolVersion(httpVersion),
      'url.scheme': (pool as TelemetryFacts).urlScheme ?? 'http',
    };
    // The semantic conventions: a 5xx is an error of the server, named by its status code.
    if (errorType !== undefined) attrs['error.type'] = errorType;
    else if (statusCode >= 500) attrs['error.type'] = String(statusCode);
    this.requestDuration.record(seconds, attrs);
  }

  rpcCall(pool: object, service: string, method: string, code: number, seconds: number): void {
    this.rpcDuration.record(seconds, { ...this.attributesOf(pool), 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method, 'rpc.grpc.status_code': code });
  }

  connectionClosed(pool: object, seconds: number, reason: CloseReason): void {
    const base = this.attributesOf(pool);
    this.connectionDuration.record(seconds, NORMAL_CLOSE_REASONS.has(reason) ? base : { ...base, 'error.type': reason });
  }

  tlsHandshake(pool: object, seconds: number, version: string | undefined, errorType?: string): void {
    const attrs: MetricAttributes = { ...this.attributesOf(pool) };
    if (version !== undefined) {
      attrs['tls.protocol.name'] = 'tls';
      attrs['tls.protocol.version'] = tlsVersion(version);
    }
    if (errorType !== undefined) attrs['error.type'] = errorType;
    this.tlsHandshakeDuration.record(seconds, attrs);
  }
}
