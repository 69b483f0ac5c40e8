import type { Attributes, BatchObservableResult, Histogram, Meter, MetricAttributes, Observable, ValueType } from '@opentelemetry/api';
import type { ConnectionPoolManager } from '../../core/connection-pool-manager';
import type { PoolObserver } from '../../core/pool-observer';
import { HEALTH_STATUSES } from '../../core/pool-health';
import { AttributeSetCache } from './attribute-set-cache';
import type { CloseReason } from '../../core/pool-types';
import { PRESSURE_LEVEL_NAMES } from '../../overload/pressure-level';
import { SHED_REASONS } from '../../overload/shed-reason';

/** Name of the meter every unipool instrument belongs to (the instrumentation scope). */
export const METER_NAME = 'unipool';

/** The semantic conventions' buckets (s) for `http.server.request.duration`, also used for RPC calls and TLS handshakes. */
export const REQUEST_DURATION_BUCKETS_S: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);
/** Kestrel's buckets (s) for `kestrel.connection.duration`. */
export const CONNECTION_DURATION_BUCKETS_S: readonly number[] = Object.freeze([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]);

/** HTTP methods `http.request.method` keeps as they are (RFC 9110 and RFC 5789); any other is `_OTHER`. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']);

/** Attribute sets kept per pool and instrument (the combinations are few: methods, statuses, versions). */
const ATTRIBUTE_SETS_PER_POOL = 1024;

/** Close reasons that end a connection normally; any other becomes its `error.type` on `unipool.connection.duration`. */
const NORMAL_CLOSE_REASONS: ReadonlySet<string> = new Set(['closed', 'drain', 'upgraded']);

/** `ValueType.INT` of `@opentelemetry/api`, without loading it (a const enum value). */
const INT = 0 as ValueType;

/** `http.request.method` of a request: one of the known methods, else `_OTHER` (bounded cardinality). */
export function normalizeMethod(method: string | undefined, known: ReadonlySet<string> = KNOWN_METHODS): string {
  return method !== undefined && known.has(method) ? method : '_OTHER';
}

/**
 * `network.protocol.name` in its semantic-conventions meaning (the application protocol on the
 * wire): what the pool declares (`networkProtocolName`), else `http` for pools serving HTTP
 * requests (`urlScheme`), `websocket` for upgraded connections, else the pool's protocol.
 */
export function networkProtocolName(pool: { readonly protocol: string }): string {
  const facts = pool as TelemetryFacts;
  if (typeof facts.networkProtocolName === 'string') return facts.networkProtocolName;
  if (typeof facts.urlScheme === 'string') return 'http';
  if (facts.upgradedConnections === true) return 'websocket';
  return pool.protocol;
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

/** The attribute sets of one pool: the common ones, and those of each kind of event. */
interface PoolAttributeSets {
  readonly base: Readonly<Attributes>;
  /** By (method, status code, HTTP version, error type). */
  readonly http: AttributeSetCache;
  /** By (service, method, status code). */
  readonly rpc: AttributeSetCache;
  /** By close reason. */
  readonly closed: AttributeSetCache;
}

/** What the instruments read from the application on each collection. */
export interface PoolSource {
  readonly pools: readonly ConnectionPoolManager<unknown>[];
}

/** Figures some pools offer besides `getMetrics()`, read by duck typing so a new protocol only declares them. */
interface TelemetryFacts {
  /** `network.protocol.name` of the pool's connections, when the rules of `networkProtocolName` do not find it (`http` for gRPC). */
  readonly networkProtocolName?: string;
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
 * prefix for connections. Every instrument carries `unipool.pool` (the pool's name),
 * `unipool.protocol` (the pool's protocol, taken from the pool) and `network.protocol.name` (the
 * application protocol on the wire: `http`, `websocket`), so a new protocol is measured without
 * edits here. Per-event attribute sets are cached per pool (frozen, bounded).
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
  /** The attributes every instrument carries and the per-event sets, per pool (names are fixed once the app has started). */
  private readonly poolAttributes = new WeakMap<object, PoolAttributeSets>();
  private readonly knownMethods: ReadonlySet<string>;

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
  private readonly concurrencyLimit;
  private readonly requestsQueued;
  private readonly requestsShed;
  private readonly overloadState;
  private readonly eventLoopDelay;

  constructor(
    private readonly meter: Meter,
    private readonly source: PoolSource,
    knownMethods?: readonly string[],
  ) {
    this.knownMethods = knownMethods === undefined ? KNOWN_METHODS : new Set(knownMethods);
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
    // Overload protection (issue 14): data points only for pools whose `overload` block turns it on.
    this.concurrencyLimit = meter.createObservableGauge('unipool.concurrency.limit', { description: 'Units of work the pool admits at once (its overload limiter\'s current limit).', unit: '{request}', valueType: INT });
    this.requestsQueued = meter.createObservableUpDownCounter('unipool.requests.queued', { description: 'Units of work waiting for admission in the overload queue.', unit: '{request}', valueType: INT });
    this.requestsShed = meter.createObservableCounter('unipool.requests.shed', { description: 'Units of work shed by overload protection, by reason.', unit: '{request}', valueType: INT });
    this.overloadState = meter.createObservableGauge('unipool.overload.state', { description: 'Graded overload action in force: 1 for the current state, 0 for the others.', unit: '1', valueType: INT });
    this.eventLoopDelay = meter.createObservableGauge('nodejs.eventloop.delay.p99', { description: 'Event-loop delay, 99th percentile over the last pressure sample interval, as the pool\'s overload protection saw it.', unit: 's' });
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
      this.concurrencyLimit,
      this.requestsQueued,
      this.requestsShed,
      this.overloadState,
      this.eventLoopDelay,
    ];
    meter.addBatchObservableCallback(this.collect, this.observables);
  }

  /** Stops observing the pools (the histograms keep what they recorded). */
  detach(): void {
    this.meter.removeBatchObservableCallback(this.collect, this.observables);
  }

  private setsOf(pool: object): PoolAttributeSets {
    let sets = this.poolAttributes.get(pool);
    if (sets === undefined) {
      const p = pool as ConnectionPoolManager<unknown>;
      const base = Object.freeze({ 'unipool.pool': p.name, 'unipool.protocol': p.protocol, 'network.protocol.name': networkProtocolName(p) });
      sets = { base, http: new AttributeSetCache(ATTRIBUTE_SETS_PER_POOL), rpc: new AttributeSetCache(ATTRIBUTE_SETS_PER_POOL), closed: new AttributeSetCache(ATTRIBUTE_SETS_PER_POOL) };
      this.poolAttributes.set(pool, sets);
    }
    return sets;
  }

  private attributesOf(pool: object): Readonly<Attributes> {
    return this.setsOf(pool).base;
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
      const o = m.overload;
      if (o !== undefined) {
        if (o.limit !== null) result.observe(this.concurrencyLimit, o.limit, base);
        result.observe(this.requestsQueued, o.queued, base);
        observeCounts(result, this.requestsShed, base, 'unipool.shed.reason', SHED_REASONS, o.shed);
        for (const state of PRESSURE_LEVEL_NAMES) result.observe(this.overloadState, state === o.state ? 1 : 0, { ...base, 'unipool.overload.state': state });
        result.observe(this.eventLoopDelay, o.eventLoopDelayMs / 1000, base);
      }
    }
  }

  // ---------------------------------------------------------------- PoolObserver: recorded as they happen

  httpRequest(pool: object, method: string | undefined, statusCode: number | undefined, httpVersion: string, seconds: number, errorType?: string): void {
    const sets = this.setsOf(pool);
    const name = normalizeMethod(method, this.knownMethods);
    const attrs = sets.http.get(name, statusCode, httpVersion, errorType) ?? sets.http.set(name, statusCode, httpVersion, errorType, this.httpAttributes(pool, sets.base, name, statusCode, httpVersion, errorType));
    this.requestDuration.record(seconds, attrs);
  }

  /** The attributes of one HTTP request: no `http.response.status_code` when no status was sent. */
  private httpAttributes(pool: object, base: Readonly<Attributes>, method: string, statusCode: number | undefined, httpVersion: string, errorType: string | undefined): MetricAttributes {
    const attrs: MetricAttributes = { ...base, 'http.request.method': method };
    if (statusCode !== undefined) attrs['http.response.status_code'] = statusCode;
    attrs['network.protocol.version'] = protocolVersion(httpVersion);
    attrs['url.scheme'] = (pool as TelemetryFacts).urlScheme ?? 'http';
    // The semantic conventions: a 5xx is an error of the server, named by its status code.
    if (errorType !== undefined) attrs['error.type'] = errorType;
    else if (statusCode !== undefined && statusCode >= 500) attrs['error.type'] = String(statusCode);
    return attrs;
  }

  rpcCall(pool: object, service: string, method: string, code: number, seconds: number): void {
    const sets = this.setsOf(pool);
    const attrs = sets.rpc.get(service, method, code, undefined) ?? sets.rpc.set(service, method, code, undefined, { ...sets.base, 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method, 'rpc.grpc.status_code': code });
    this.rpcDuration.record(seconds, attrs);
  }

  connectionClosed(pool: object, seconds: number, reason: CloseReason): void {
    const sets = this.setsOf(pool);
    if (NORMAL_CLOSE_REASONS.has(reason)) this.connectionDuration.record(seconds, sets.base);
    else this.connectionDuration.record(seconds, sets.closed.get(reason, undefined, undefined, undefined) ?? sets.closed.set(reason, undefined, undefined, undefined, { ...sets.base, 'error.type': reason }));
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
