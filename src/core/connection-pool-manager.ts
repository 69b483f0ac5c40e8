import { performance } from 'node:perf_hooks';
import { PoolSettings } from '../config/pool-config';
import { deepFreeze } from '../config/frozen-config';
import { declaredKeys, validateSection, type ConfigClass } from '../config/validate-config';
import { ConfigValidationError, ForeignConnectionError, type ConfigProblem } from '../errors';
import { changedConfigKeys, mergeConfig } from './config-diff';
import type { Logger } from './logger';
import type { LatencyHistogram } from './latency-histogram';
import { ConnectionPoolEvent, PoolEventEmitter } from './pool-events';
import { PoolHealthStatus, SHEDDING_REASON_PREFIX, type HealthReport } from './pool-health';
import { ConnectionList } from './connection-list';
import { ConnectionTimers } from './connection-timers';
import { PooledConnection, type PeerLookup } from './pooled-connection';
import { PoolStats, type ByteTotals } from './pool-stats';
import { HealthMonitor } from './health-monitor';
import { DrainRun } from './pool-drain';
import { PoolAdmission } from './pool-admission';
import { AdmissionController, type AdmissionOutcome } from '../overload/admission-controller';
import type { Waiter } from '../overload/admission-queue';
import type { OverloadConfig } from '../overload/overload-config';
import { overloadStateName, type OverloadSnapshot, type ShedReason, type WorkPriority } from '../overload/overload-state';
import { PressureLevel } from '../overload/pressure-level';
import { pressureConfigured } from '../overload/pressure-monitor';
import type { CloseReason, ConfigUpdateResult, DrainResult, KnownLabelValues, PoolMetricsSnapshot, PreparedConfigUpdate, RejectReason } from './pool-types';
import type { PoolObserver } from './pool-observer';
import type { ProtocolMetricFamily } from './protocol-metrics';
import { monotonicMs, refreshWallClock } from './clock';

export { CONNECTION_DURATION_BUCKETS_MS, STREAM_DURATION_BUCKETS_MS } from './pool-stats';

/** Marker that lets decorators tell pool classes from anything else. */
export const POOL_CLASS_MARKER = Symbol.for('unipool.poolClass');

const NO_FAMILIES: readonly ProtocolMetricFamily[] = Object.freeze([]);
/** What every pool may refuse for and time out on by itself (`add`, the connection and idle timers). */
const BASE_LABEL_VALUES: KnownLabelValues = Object.freeze({
  rejectReasons: Object.freeze(['max_connections', 'draining', 'overloaded']),
  timeoutKinds: Object.freeze(['connection', 'idle']),
  errorTypes: Object.freeze([]),
});
const NO_KEYS: ReadonlySet<string> = new Set();
const EMPTY_EXTRA: ReadonlyArray<{ status: PoolHealthStatus; reason: string }> = [];

/** The keys every pool owns: admission, connection timeouts and health. */
const BASE_POOL_KEYS: readonly string[] = ['maxConnections', 'connectionTimeout', 'idleTimeout', 'health', 'overload'];

/** What a pool tells the servers attached to it when its keys change (`ManagedServer` implements it). */
export interface PoolConfigTarget {
  applyPoolConfig(previous: PoolSettings, next: PoolSettings): void;
}

/**
 * The protocol-free registry of one protocol's live inbound connections and the policy around
 * them: admission, tracking, timeouts, health, metrics, events, live config and drain.
 *
 * Protocols subclass it and say how to close (`closeConnection`) and destroy
 * (`destroyConnection`) their kind of connection; the server feeds it `add`, `beginWork`,
 * `endWork` and `remove`. Every operation on a single connection is O(1).
 */
export abstract class ConnectionPoolManager<T, C extends PoolSettings = PoolSettings> {
  static readonly [POOL_CLASS_MARKER] = true;

  /** Protocol label: `http`, `https`, `grpc`, `ws`. */
  abstract readonly protocol: string;
  /** Typed event emitter; see `ConnectionPoolEvent`. */
  readonly events = new PoolEventEmitter();
  /**
   * @internal Telemetry that records per-event durations (OpenTelemetry histograms), set by the
   * application when it exports metrics; undefined otherwise, and then the pool calls nothing.
   */
  observer: PoolObserver | undefined = undefined;

  private poolName: string | undefined;

  private currentConfig: C;
  /** Servers that follow this pool's keys while they listen (`attachServer`). */
  private readonly attached = new Set<PoolConfigTarget>();
  /** Live connections, oldest first (O(1) add and remove). */
  private readonly connections = new ConnectionList<T>();
  private nextId = 1;
  /** The connection cap (`maxConnections` or a cluster worker's share of it). */
  private readonly admission: PoolAdmission;
  /**
   * Admission of units of work (overload protection), or `undefined` when the `overload` block
   * sets no limiter and no pressure signal: then a unit of work costs one read of this field.
   */
  private work: AdmissionController | undefined = undefined;
  /** When (`performance.now()`) a unit of work was last shed: health is OVERLOADED while shedding. */
  private lastShedAt = -Infinity;
  /** Connection and idle timeouts (one shared timer for the connection timeout). */
  private readonly timers = new ConnectionTimers<T>({
    timeouts: () => this.currentConfig,
    destroyed: () => this.destroyed,
    receivedSinceIdle: (conn) => this.receivedSinceIdle(conn),
    markIdleStart: (conn) => this.markIdleStart(conn),
    markEstablished: (conn) => this.markEstablished(conn),
    timedOut: (conn, kind) => {
      this.recordTimeout(kind, conn);
      conn.closeReason = kind === 'connection' ? 'connection_timeout' : 'idle_timeout';
      this.closeConnection(conn, conn.closeReason);
    },
  });

  /** Counters, the sliding window and the lifetime histograms. */
  private readonly stats: PoolStats;
  /** Health judged on an interval while listening, and on demand. */
  private readonly health: HealthMonitor;

  private listening = false;
  private draining = false;
  private destroyed = false;
  /** The drain, once `drain()` was called (kept after it finished: `drain()` again returns its promise). */
  private drainRun: DrainRun | undefined;
  /** `forceAll` ran: a forced stop (deadline, second signal) or a destroy; servers skip their close-time grace. */
  private forced = false;
  /**
   * @internal `monotonicMs()` at the start of the drain, read once for the whole walk over the
   * connections: a connection the walk closes at once is timed (and judged recently active, see
   * HTTP's keep-alive grace) against it, not against a clock read of its own. -1 outside the walk.
   */
  protected drainWalkMono = -1;

  constructor(readonly configClass: ConfigClass<C>) {
    refreshWallClock();
    this.currentConfig = deepFreeze(new configClass());
    this.stats = new PoolStats(this.currentConfig.health.window);
    this.admission = new PoolAdmission(this.currentConfig.maxConnections);
    this.health = new HealthMonitor(this.currentConfig.health, () => this.healthInputs(), (previous, current) => this.events.emit(ConnectionPoolEvent.HealthChanged, { previous, current }));
  }

  /**
   * The pool's name: the `pool` label of its metrics and the `pool` of `/status`. The
   * application names each pool after the config section of the first server that uses it
   * (`http`, `https`, `internal`...), unique per application; until then it is the protocol.
   */
  get name(): string {
    return this.poolName ?? this.protocol;
  }

  /**
   * @internal Names the pool (the application does, when it configures it). A name one of
   * `taken` already has gets a suffix (`http-2`), so names stay unique when two pool classes
   * are configured from one section.
   */
  assignName(name: string, taken: Iterable<ConnectionPoolManager<unknown>> = []): void {
    const names = new Set<string>();
    for (const pool of taken) if (pool !== this) names.add(pool.name);
    let unique = name;
    for (let n = 2; names.has(unique); n++) unique = `${name}-${n}`;
    this.poolName = unique;
  }

  // ---------------------------------------------------------------- config

  /**
   * Request latency since the pool was created (Prometheus buckets): a copy, computed on each
   * read from the retired slots and the live window (a scrape reads it; requests never do).
   */
  get requestLatency(): LatencyHistogram {
    return this.stats.requestLatency();
  }

  /** Lifetime of closed connections (ms), since the pool was created. */
  get connectionDurations(): LatencyHistogram {
    return this.stats.connectionDurations;
  }

  /** Duration of finished streams (`beginStream` .. `endStream`), since the pool was created (ms); never part of request latency or health. */
  get streamDurations(): LatencyHistogram {
    return this.stats.streamDurations;
  }

  /**
   * The effective configuration: the section of the first server using the pool, deep-frozen.
   * The pool reads only its own keys (`poolKeys()`); each server reads the rest from its own
   * `server.config`. Change it with `updateConfig` (or a reload).
   */
  get config(): Readonly<C> {
    return this.currentConfig;
  }

  /**
   * The keys this pool owns: admission, connection timeouts and health, plus what a protocol's
   * pool runs itself (the WebSocket heartbeat, say). Servers sharing the pool must agree on them;
   * every other key of a section belongs to its server.
   */
  poolKeys(): ReadonlySet<string> {
    return this.ownKeys;
  }

  private readonly ownKeys: ReadonlySet<string> = new Set([...BASE_POOL_KEYS, ...this.protocolPoolKeys()]);

  /** Keys a protocol's pool owns on top of the common ones. Default: none. */
  protected protocolPoolKeys(): readonly string[] {
    return [];
  }

  /** Pool keys that cannot change on a running pool. Default: none (host and port are the server's). */
  protected restartKeys(): ReadonlySet<string> {
    return NO_KEYS;
  }

  /**
   * @internal A server follows this pool's keys while attached (from `listen` to `close`): a
   * committed change of pool keys reaches it through `applyPoolConfig`.
   */
  attachServer(server: PoolConfigTarget): void {
    this.attached.add(server);
  }

  /** @internal Undoes `attachServer` (a closed server). */
  detachServer(server: PoolConfigTarget): void {
    this.attached.delete(server);
  }

  /**
   * Called with the old and new config before a live update is committed. Apply the change to
   * live connections here; throw to refuse it (the old config stays).
   */
  protected applyConfig(_previous: C, _next: C): void {}

  /**
   * The logger the pool reports to: a listener of its events that throws or rejects is logged
   * here (`pool event listener failed`) and never disturbs the pool. Without one, such failures
   * are process warnings (`UNIPOOL_LISTENER_FAILED`). The application attaches its own.
   */
  attachLogger(logger: Logger): void {
    this.logger = logger;
    this.events.onListenerError = (event, err) => logger.error({ err, event, protocol: this.protocol }, 'pool event listener failed');
  }

  private logger: Logger | undefined;

  /** Logs an error through the attached logger; without one, a process warning. */
  private reportError(fields: { err: unknown } & Record<string, unknown>, msg: string): void {
    if (this.logger) this.logger.error(fields, msg);
    else process.emitWarning(`${msg}: ${fields.err instanceof Error ? fields.err.message : String(fields.err)}`, { code: 'UNIPOOL_POOL_CONFIG_APPLY' });
  }

  /** Sets the whole validated configuration at boot (before any connection exists). */
  configure(config: C): void {
    if (!(config instanceof this.configClass)) {
      const { value, problems } = validateSection(this.configClass, config, this.protocol);
      if (!value) throw new ConfigValidationError(problems);
      config = value;
    }
    this.currentConfig = deepFreeze(config);
    this.health.thresholds = config.health;
    this.stats.replaceWindow(config.health.window);
    this.admission.setMax(config.maxConnections, this.connections.size);
    this.replaceWorkAdmission(config.overload);
  }

  /**
   * Validates `partial` merged over the current config and applies it atomically: either every
   * key takes effect (live connections included) or none does and the error lists every problem.
   * Only pool keys (`poolKeys()`) are accepted; a server's own keys change on the server.
   */
  updateConfig(partial: Partial<Record<keyof C, unknown>> | Record<string, unknown>): ConfigUpdateResult {
    return this.prepareConfigUpdate(partial).commit();
  }

  /**
   * First half of `updateConfig`: validates `partial` merged over the current config and works
   * out which keys change, without touching anything. `commit()` applies it. An application
   * updating several pools prepares all of them first, so one invalid section changes none.
   * With `replace` (a reload), `partial` is a whole section: its server keys are left to the
   * servers (the pool keeps its own copy of them and reports nothing for them). Without it, a
   * server key is refused. Throws `ConfigValidationError` listing every problem.
   */
  prepareConfigUpdate(partial: Partial<Record<keyof C, unknown>> | Record<string, unknown>, options: { replace?: boolean } = {}): PreparedConfigUpdate<C> {
    const previous = this.currentConfig;
    const own = this.poolKeys();
    const problems: ConfigProblem[] = [];
    if (!options.replace) {
      const declared = new Set(declaredKeys(this.configClass));
      for (const key of Object.keys(partial)) {
        if (declared.has(key) && !own.has(key)) problems.push({ path: `${this.name}.${key}`, rule: 'serverSetting', message: 'is a setting of each server, not of the pool: change it with server.updateConfig() or a reload' });
      }
    }
    const merged = mergeConfig(previous, partial as Record<string, unknown>, options.replace);
    // Only the pool's keys are validated here: the servers validate theirs. A server's nested
    // block (`tls`) is left out, so a pool update never reads certificate files.
    for (const key of Object.keys(merged)) {
      const value = merged[key];
      if (!own.has(key) && value !== null && typeof value === 'object') delete merged[key];
    }
    const { value: next, problems: invalid } = validateSection(this.configClass, merged, this.name, { only: own });
    problems.push(...invalid);
    if (!next || problems.length) throw new ConfigValidationError(problems, 'updateConfig');

    const restart = this.restartKeys();
    const applied: string[] = [];
    const restartRequired: string[] = [];
    for (const key of changedConfigKeys(previous, next)) {
      if (!own.has(key) || restart.has(key)) (next as Record<string, unknown>)[key] = (previous as Record<string, unknown>)[key];
      if (!own.has(key)) continue;
      (restart.has(key) ? restartRequired : applied).push(key);
    }
    return {
      applied,
      restartRequired,
      previous,
      next,
      commit: () => {
        if (this.currentConfig !== previous) throw new ConfigValidationError([{ path: this.name, rule: 'stale', message: 'the config changed since this update was prepared' }], 'updateConfig');
        return this.commitConfig(previous, next, applied, restartRequired);
      },
    };
  }

  private commitConfig(previous: C, next: C, applied: string[], restartRequired: string[]): ConfigUpdateResult {
    if (applied.length === 0) return { applied, restartRequired };
    this.applyConfig(previous, next);
    // The pool's own state first, whole; then the servers, each on its own (one that throws is
    // logged and neither undoes the change nor keeps the others from following it).
    this.currentConfig = deepFreeze(next);
    this.health.thresholds = next.health;
    if (next.health.window !== previous.health.window) this.stats.replaceWindow(next.health.window);
    if (next.idleTimeout !== previous.idleTimeout || next.connectionTimeout !== previous.connectionTimeout) {
      this.timers.reconfigure(this.connections.snapshot());
    }
    if (next.health.checkInterval !== previous.health.checkInterval && this.health.running) this.health.start(next.health.checkInterval, this.checkHealthTick);
    if (applied.includes('overload')) this.replaceWorkAdmission(next.overload);
    const reachedLimit = this.admission.setMax(next.maxConnections, this.connections.size);
    for (const server of this.attached) {
      try {
        server.applyPoolConfig(previous, next);
      } catch (err) {
        this.reportError({ err, protocol: this.protocol, pool: this.name }, 'server failed to apply a pool config update');
      }
    }
    if (reachedLimit) this.events.emit(ConnectionPoolEvent.LimitReached, { active: this.connections.size, maxConnections: this.admission.limit });
    const result = { applied, restartRequired };
    this.events.emit(ConnectionPoolEvent.ConfigUpdated, result);
    this.checkHealth();
    return result;
  }

  // ---------------------------------------------------------------- admission and tracking

  /** Connections open now. */
  get size(): number {
    return this.connections.size;
  }

  /** Whether the pool is draining (admits nothing). */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Whether what was left has been forced (drain deadline, `stop({ force: true })`, destroy). */
  get wasForced(): boolean {
    return this.forced;
  }

  /** Whether the pool admits a new connection right now; `undefined` if it does, else the reason it would refuse. */
  admissionRefusal(priority: WorkPriority = 'normal'): RejectReason | undefined {
    if (this.draining || this.destroyed) return 'draining';
    if (!this.admission.allows(this.connections.size)) return 'max_connections';
    const work = this.work;
    if (work !== undefined && priority !== 'critical' && work.acts(PressureLevel.RefuseConnections)) return 'overloaded';
    return undefined;
  }

  /**
   * Whether a new connection would be refused for overload alone (`refuseConnections` in force,
   * and a critical connection would be admitted): a protocol that learns the priority from the
   * first request (HTTP/1.1) lets that request decide. Counts nothing; one field read while
   * overload protection is off.
   */
  refusesForOverloadOnly(): boolean {
    const work = this.work;
    return work !== undefined && work.acts(PressureLevel.RefuseConnections) && this.admissionRefusal('critical') === undefined;
  }

  /** What this process may admit: its share of `maxConnections` (a cluster worker), else `maxConnections`. */
  get admissionLimit(): number {
    return this.admission.limit;
  }

  /**
   * Limits admission to `share` connections of this process (a cluster worker's part of the
   * app-wide `maxConnections`); `undefined` gives the whole of `maxConnections` back. Live
   * connections over a lowered share stay; new ones are refused until the count is under it.
   */
  setAdmissionShare(share: number | undefined): void {
    this.admission.setShare(share, this.connections.size);
  }

  /**
   * Admits a connection or refuses it. Synchronous, so concurrent connects can never over-admit.
   * Returns the tracked connection, or `undefined` when refused (the refusal is counted). A
   * `critical` connection (a WebSocket upgrade on a critical path, say) is not refused for
   * overload (`refuseConnections`), only for `maxConnections` or a drain.
   */
  add(raw: T, remoteAddress?: string, remotePort?: number, priority: WorkPriority = 'normal'): PooledConnection<T> | undefined {
    const refusal = this.admissionRefusal(priority);
    if (refusal !== undefined) {
      if (remoteAddress === undefined && this.events.listenerCount(ConnectionPoolEvent.ConnectionRejected)) remoteAddress = this.peerOf(raw)?.address;
      this.reject(refusal, remoteAddress);
      return undefined;
    }
    const conn = new PooledConnection(this.nextId++, this.protocol, raw, remoteAddress, remotePort, monotonicMs(), this.lookupPeer as PeerLookup<T>, this);
    // A closed socket no longer knows its peer: when someone listens to events that can come
    // after the close, read the address now.
    if (remoteAddress === undefined && this.wantsPeerEarly()) void conn.remoteAddress;
    this.connections.link(conn);
    this.stats.connectionAdmitted();
    this.timers.rearm(conn);
    const reachedLimit = this.admission.admitted(this.connections.size);
    // Events leave once the state is consistent (listeners are isolated by the emitter, so the
    // server always gets the connection back and attaches its close listener).
    if (this.events.listenerCount(ConnectionPoolEvent.ConnectionAdded)) {
      this.events.emit(ConnectionPoolEvent.ConnectionAdded, { connection: conn.toJSON(), active: this.connections.size });
    }
    if (reachedLimit) this.events.emit(ConnectionPoolEvent.LimitReached, { active: this.connections.size, maxConnections: this.admissionLimit });
    return conn;
  }

  private wantsPeerEarly(): boolean {
    const e = this.events;
    return e.listenerCount(ConnectionPoolEvent.ConnectionRemoved) + e.listenerCount(ConnectionPoolEvent.ConnectionError) + e.listenerCount(ConnectionPoolEvent.ConnectionTimeout) > 0;
  }

  /**
   * The peer address of a protocol object, for connections added without one (read lazily, on
   * first use). Protocols whose objects know their peer override it. Default: unknown.
   */
  protected peerOf(_raw: T): { address?: string; port?: number } | undefined {
    return undefined;
  }

  // One function for every connection of the pool; typed without T so the pool stays assignable to ConnectionPoolManager<unknown>.
  private readonly lookupPeer: PeerLookup<never> = (raw) => this.peerOf(raw as T);

  /** Counts a refusal by reason (for refusals decided outside `add`, e.g. a failed handshake). */
  reject(reason: RejectReason, remoteAddress?: string): void {
    this.stats.countRejection(reason);
    if (this.events.listenerCount(ConnectionPoolEvent.ConnectionRejected)) {
      this.events.emit(ConnectionPoolEvent.ConnectionRejected, { reason, remoteAddress, active: this.connections.size });
    }
  }

  /** Looks a live connection up by id (a walk over the connections: for tools and tests, not the hot path). */
  get(id: number): PooledConnection<T> | undefined {
    return this.connections.find(id);
  }

  /**
   * Iterates the live connections, oldest first, over a snapshot taken now: closing or removing
   * connections while iterating is safe. O(n), for drain, `/status` and tools.
   */
  values(): IterableIterator<PooledConnection<T>> {
    return this.connections.snapshot().values();
  }

  /**
   * Calls `fn` for each live connection, oldest first, without a snapshot (for walks that run
   * often: heartbeat, broadcast). `fn` may close or remove any connection: a connection removed
   * before its turn is skipped, one added during the walk is visited. A walk started inside
   * another (a broadcast from an event listener during the heartbeat, say) goes over a snapshot,
   * so the one cursor always belongs to the outermost walk and stays right whatever either does.
   */
  protected forEachConnection(fn: (conn: PooledConnection<T>) => void): void {
    this.connections.forEach(fn);
  }

  /**
   * Forgets a connection that has closed. Idempotent. A connection this pool did not admit is
   * refused with `ForeignConnectionError` (unlinking it would corrupt both pools' lists).
   */
  remove(conn: PooledConnection<T>, reason?: CloseReason): void {
    if (conn.owner !== this) throw new ForeignConnectionError(conn.id, this.protocol);
    if (conn.removed) return;
    conn.removed = true;
    const connections = this.connections;
    connections.unlink(conn);
    // A drain runs this once per connection in code not yet optimized, where every call counts:
    // no timer to stop is no call, and the drain's walk lends its clock read.
    if (conn.timerKind !== undefined) this.timers.clear(conn);
    const stats = this.stats;
    this.addConnectionBytes(conn, stats.closedBytes);
    const walkMono = this.drainWalkMono;
    const lifetimeMs = (walkMono >= 0 ? walkMono : monotonicMs()) - conn.startedMono;
    stats.connectionDurations.observe(lifetimeMs);
    const active = connections.size;
    this.admission.removed(active);
    const why = reason ?? conn.closeReason ?? 'closed';
    if (this.observer !== undefined) this.observer.connectionClosed(this, lifetimeMs / 1000, why);
    const run = this.drainRun;
    const drain = run !== undefined && run.open ? run : undefined;
    if (drain !== undefined) drain.count(conn.forced);
    if (this.events.has(ConnectionPoolEvent.ConnectionRemoved)) {
      this.events.emit(ConnectionPoolEvent.ConnectionRemoved, { connection: conn.toJSON(), reason: why, active });
    }
    if (drain !== undefined && connections.size === 0) drain.finish();
  }

  /**
   * Marks a connection's protocol handshake as done (an HTTP/2 session set up, say) without
   * counting work: the connection timeout ends here and the idle timeout takes over.
   */
  markEstablished(conn: PooledConnection<T>): void {
    if (conn.started || conn.removed) return;
    conn.started = true;
    this.timers.endConnectionTimeout(conn);
    if (conn.inFlight === 0) this.timers.armIdle(conn);
  }

  /**
   * Marks the start of a unit of work (request, call, message handler). Returns a start stamp for
   * `endWork`: `startedAt` if given (a `performance.now()` read the caller already made), else now.
   */
  beginWork(conn: PooledConnection<T>, startedAt?: number): number {
    // Work on a connection already gone (a late frame after close) is timed but not tracked.
    if (conn.removed) return startedAt ?? performance.now();
    conn.inFlight++;
    conn.requests++;
    if (!conn.started) {
      conn.started = true;
      this.timers.endConnectionTimeout(conn);
    }
    return startedAt ?? performance.now();
  }

  /**
   * Records a unit of work that ran to completion synchronously, from `startedAt` (a
   * `performance.now()` read) to now, such as a message handler that returned without a promise.
   * The figures are those of `beginWork` + `endWork` (latency, window, counts, activity, idle
   * timer) without the in-flight transitions, which only the work itself could have observed (it
   * sees its connection idle and not in flight); a connection whose first work this is, or one
   * draining, takes the full path.
   */
  recordSyncWork(conn: PooledConnection<T>, startedAt: number, failed: boolean): void {
    if (!conn.started || conn.removed || this.draining) {
      this.beginWork(conn, startedAt);
      this.endWork(conn, startedAt, failed);
      return;
    }
    const now = performance.now();
    this.stats.observeWork(now - startedAt, failed, now);
    const work = this.work;
    if (work !== undefined) work.release(startedAt, now, failed);
    conn.requests++;
    conn.lastActivityMono = Math.floor(now);
    if (conn.inFlight === 0 && this.currentConfig.idleTimeout > 0) {
      this.markIdleStart(conn);
      this.timers.armIdle(conn);
    }
  }

  /**
   * Marks the end of a unit of work started at `startedAt` (from `beginWork`); `failed` counts it
   * as an error. `endedAt` is a `performance.now()` read the caller already made (default: now).
   */
  endWork(conn: PooledConnection<T>, startedAt: number, failed: boolean, endedAt?: number): void {
    // One clock read serves the latency, the sliding window and the activity stamp: clock reads
    // are most of what tracking a request costs (about 30 ns each here).
    const now = endedAt ?? performance.now();
    this.stats.observeWork(now - startedAt, failed, now);
    const work = this.work;
    if (work !== undefined) work.release(startedAt, now, failed);
    if (!conn.removed) this.workEnded(conn, now);
  }

  /**
   * Marks the start of long-lived work (a streaming call): like `beginWork` (the connection is
   * busy, so neither idle nor drained), but `endStream` measures it apart from requests.
   */
  beginStream(conn: PooledConnection<T>, startedAt?: number): number {
    const started = this.beginWork(conn, startedAt);
    if (!conn.removed) conn.streamsInFlight++;
    return started;
  }

  /**
   * Ends work begun with `beginStream`. Its duration and outcome go to the stream figures
   * (`getMetrics().streams`, `streamDurations`), never to request latency, the error rate or health:
   * how long a stream stays open is the client's business, not a sign of a slow server.
   */
  endStream(conn: PooledConnection<T>, startedAt: number, failed: boolean, endedAt?: number): void {
    const now = endedAt ?? performance.now();
    this.recordStream(now - startedAt, failed);
    if (conn.removed) return;
    conn.streamsInFlight--;
    this.workEnded(conn, now);
  }

  /** Records one finished stream that no connection owns (or whose connection is gone). */
  recordStream(ms: number, failed: boolean): void {
    this.stats.observeStream(ms, failed);
  }

  /** The connection side of the end of a unit of work: activity, in-flight count, idle timer, drain. */
  private workEnded(conn: PooledConnection<T>, now: number): void {
    conn.lastActivityMono = Math.floor(now);
    if (--conn.inFlight === 0) {
      if (this.draining) {
        conn.closeReason = 'drain';
        this.closeConnection(conn, 'drain');
      } else if (this.currentConfig.idleTimeout > 0) {
        this.markIdleStart(conn);
        this.timers.armIdle(conn);
      }
    }
  }

  /** Records one finished unit of work that no connection owns (or whose connection is gone). */
  recordLatency(ms: number, failed: boolean): void {
    const now = performance.now();
    this.stats.observeWork(ms, failed, now);
    const work = this.work;
    if (work !== undefined) work.release(now - ms, now, failed);
  }

  /** Notes activity that is not a unit of work (a pong, a keep-alive ping): idle time counts from now. */
  touch(conn: PooledConnection<T>): void {
    // A running idle timer reads this when it fires.
    conn.lastActivityMono = monotonicMs();
  }

  /** Counts an error by type, optionally tied to a connection. */
  recordError(type: string, error?: Error, conn?: PooledConnection<T>): void {
    this.stats.countError(type);
    if (this.events.listenerCount(ConnectionPoolEvent.ConnectionError)) {
      this.events.emit(ConnectionPoolEvent.ConnectionError, { connection: conn?.toJSON(), type, error });
    }
  }

  /** Counts a timeout by kind (for timeouts a protocol enforces itself, e.g. headers or heartbeat). */
  recordTimeout(kind: string, conn?: PooledConnection<T>): void {
    this.stats.countTimeout(kind);
    if (conn && this.events.listenerCount(ConnectionPoolEvent.ConnectionTimeout)) {
      this.events.emit(ConnectionPoolEvent.ConnectionTimeout, { connection: conn.toJSON(), kind });
    }
  }

  // ---------------------------------------------------------------- overload protection

  /**
   * Whether units of work go through admission: the `overload` block sets a limiter or a
   * pressure signal. When it does not, protocols skip `admitWork` (and `priority()`) entirely.
   */
  get admitsWork(): boolean {
    return this.work !== undefined;
  }

  /** The graded action in force (`None` without overload protection): protocols read it per request for `CloseKeepAlive`. */
  get overloadLevel(): PressureLevel {
    const work = this.work;
    return work === undefined ? PressureLevel.None : work.pressureLevel;
  }

  /**
   * Whether keep-alive connections close after their current response now (the graded action
   * `closeKeepAlive` is in force). Protocols read it per response; without overload protection
   * it is one field read.
   */
  get closesKeepAlive(): boolean {
    const work = this.work;
    return work !== undefined && work.acts(PressureLevel.CloseKeepAlive);
  }

  /** The shed answer settings of the `overload` block (HTTP status, `Retry-After`, gRPC status, WebSocket close). */
  get overloadConfig(): Readonly<OverloadConfig> {
    return this.currentConfig.overload;
  }

  /**
   * Asks admission for one unit of work (HTTP request, unary gRPC call, WebSocket message)
   * that arrived at `now` (a `performance.now()` read; pass the same stamp to `beginWork`, so
   * time spent queued counts in its latency).
   *
   * - `'admit'`: run it now: `beginWork`, the handler, then `endWork` releases it.
   * - `'queued'`: `waiter` waits; it hears `onAdmitted(now)` (then `beginWork` and run it) or
   *   `onShed(reason, now)` (answer it shed). Call `cancelWork(waiter)` if its client goes away.
   * - anything else: the reason it is shed now; answer it in the protocol's terms and do not
   *   call `beginWork`.
   *
   * `waiter` null: the unit cannot wait (it is shed when over the limit). Without overload
   * protection this is always `'admit'`.
   */
  admitWork(waiter: Waiter | null, priority: WorkPriority, now: number): AdmissionOutcome {
    const work = this.work;
    return work === undefined ? 'admit' : work.acquire(waiter, priority, now);
  }

  /**
   * Gives back the admission slots of `count` units that began (`beginWork`) but will never end
   * through `endWork` (pipelined HTTP requests whose connection closed under them, a queued unit
   * admitted after its connection left): no latency sample, no request; queued work moves up.
   */
  abandonWork(count: number): void {
    const work = this.work;
    if (work !== undefined && count > 0) work.abandon(count, performance.now());
  }

  /** A queued unit's client went away: takes it out of the queue. Returns whether it was still queued. */
  cancelWork(waiter: Waiter): boolean {
    const work = this.work;
    return work === undefined ? false : work.cancel(waiter);
  }

  /**
   * Admission for long-lived work (a streaming call): it holds no slot of the concurrency limit
   * (its length is the client's business) and is shed only for pressure. Returns the reason to
   * shed it, or `undefined` to run it.
   */
  admitStream(priority: WorkPriority): ShedReason | undefined {
    const work = this.work;
    if (work === undefined || priority === 'critical' || !work.acts(PressureLevel.ShedWork)) return undefined;
    work.countShed('pressure', priority);
    return 'pressure';
  }

  /** The pool's overload protection now, or `undefined` without one. */
  overloadSnapshot(): OverloadSnapshot | undefined {
    const work = this.work;
    if (work === undefined) return undefined;
    const pressure = work.pressure;
    const wait = work.queueWait;
    return {
      limiter: work.kind,
      limit: Number.isFinite(work.limit) ? work.limit : null,
      inFlight: work.inflight,
      queued: work.queued,
      shed: { ...work.shed },
      state: overloadStateName(work.pressureLevel),
      pressure: pressure?.pressure ?? 0,
      eventLoopDelayMs: work.loopDelayMs,
      queueWait: { count: wait.count, p50Ms: wait.quantile(0.5), p99Ms: wait.quantile(0.99), maxMs: wait.max },
    };
  }

  /** Units of work running now, streams aside (a walk: for a live change of admission, not the hot path). */
  private unitsInFlight(): number {
    let n = 0;
    for (let conn = this.connections.head; conn !== undefined; conn = conn.next) n += conn.inFlight - conn.streamsInFlight;
    return n;
  }

  /** @internal The admission controller (metrics read its histogram), or `undefined`. */
  get workAdmission(): AdmissionController | undefined {
    return this.work;
  }

  /**
   * Builds the admission of units of work for `config` (none when it limits nothing and watches
   * no signal). A controller it replaces hands over its units in flight and its queue.
   */
  private replaceWorkAdmission(config: OverloadConfig): void {
    const previous = this.work;
    const wanted = config.limiter !== 'none' || pressureConfigured(config.pressure);
    const next = wanted
      ? new AdmissionController(config, {
          onLimitChanged: (limit, before) => this.events.emit(ConnectionPoolEvent.LimitChanged, { limit, previous: before }),
          onPressureChanged: (level, before, snapshot) => {
            this.events.emit(ConnectionPoolEvent.PressureChanged, { state: overloadStateName(level), previous: overloadStateName(before), pressure: snapshot.pressure, eventLoopDelayMs: snapshot.eventLoopDelayMs });
            this.checkHealth();
          },
          onWaiterError: (err) => this.reportError({ err, protocol: this.protocol, pool: this.name }, 'queued unit of work failed to start'),
          onShed: (reason, priority) => {
            this.lastShedAt = performance.now();
            if (this.events.listenerCount(ConnectionPoolEvent.WorkShed)) this.events.emit(ConnectionPoolEvent.WorkShed, { reason, priority });
          },
        })
      : undefined;
    this.work = next;
    const now = performance.now();
    if (previous !== undefined) {
      if (next !== undefined) next.adopt(previous, now);
      else previous.closeAdmittingAll(now); // nothing limits any more
    } else if (next !== undefined) {
      // Turned on live: the units already running hold slots too (they release here when they end).
      next.inflight = this.unitsInFlight();
    }
    if (next !== undefined && this.listening && !this.destroyed) next.start();
    const before = previous === undefined ? Infinity : previous.limit;
    const after = next === undefined ? Infinity : next.limit;
    if (before !== after) this.events.emit(ConnectionPoolEvent.LimitChanged, { limit: after, previous: before });
  }

  // ---------------------------------------------------------------- protocol hooks

  /** Notes where the connection stood when it went idle (e.g. bytes read), for `receivedSinceIdle`. */
  protected markIdleStart(_conn: PooledConnection<T>): void {}

  /**
   * Whether data arrived since the connection went idle although no unit of work started yet
   * (headers still arriving); such a connection is not idle and its idle timer restarts. On a
   * connection that has not started its first unit of work, it ends the connection timeout: that
   * one is for connections that send nothing.
   */
  protected receivedSinceIdle(_conn: PooledConnection<T>): boolean {
    return false;
  }

  /** Closes a connection politely (idle, timed out, or drained); its server calls `remove` when it is gone. */
  protected abstract closeConnection(conn: PooledConnection<T>, reason: CloseReason): void;

  /** Destroys a connection at once (drain deadline, forced stop). */
  protected abstract destroyConnection(conn: PooledConnection<T>): void;

  /**
   * Starts draining one connection. The default closes an idle one now; a busy one is closed
   * by `endWork` when its last unit of work ends. Protocols with their own goodbye (GOAWAY,
   * close 1001) override this.
   */
  protected drainConnection(conn: PooledConnection<T>): void {
    if (conn.inFlight === 0) {
      conn.closeReason = 'drain';
      this.closeConnection(conn, 'drain');
    }
  }

  /**
   * Adds the bytes read and written on a connection to `totals` (when it closes, and for each
   * live one on a metrics read); protocols that know better override it. Added in place rather
   * than returned: a pair would be an allocation per closed connection and per scrape.
   */
  protected addConnectionBytes(conn: PooledConnection<T>, totals: ByteTotals): void {
    totals.bytesIn += conn.bytesIn;
    totals.bytesOut += conn.bytesOut;
  }

  /**
   * Metric families only this protocol has (TLS handshakes, gRPC calls by method and code,
   * WebSocket messages and bytes, heartbeat timeouts...), read on every Prometheus scrape.
   * Build them from counters the pool keeps anyway; never count twice on the hot path for
   * metrics' sake. The collector adds the `protocol` and `pool` labels. Default: none.
   */
  protocolMetrics(): readonly ProtocolMetricFamily[] {
    return NO_FAMILIES;
  }

  /**
   * Label values of the generic families (`connections_rejected_total{reason}`,
   * `connection_timeouts_total{kind}`, `errors_total{type}`) that this pool can produce, known
   * before any happens: the collector reports each at 0 from the first scrape, so `increase()`
   * and alerts see the first event. Protocols add theirs.
   */
  knownLabelValues(): KnownLabelValues {
    return BASE_LABEL_VALUES;
  }

  /** Extra health findings of the protocol (e.g. a certificate close to expiry). */
  protected healthFindings(): ReadonlyArray<{ status: PoolHealthStatus; reason: string }> {
    return EMPTY_EXTRA;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Tells the pool whether its server is listening (a pool that is not listening is UNAVAILABLE). */
  setListening(listening: boolean): void {
    this.listening = listening;
    if (listening && !this.health.running && !this.destroyed) this.health.start(this.currentConfig.health.checkInterval, this.checkHealthTick);
    if (listening && !this.destroyed) this.work?.start();
    this.checkHealth();
  }

  /**
   * Stops admitting, lets work in flight finish, closes idle connections, and at `timeoutMs` (if
   * given) or when `signal` aborts destroys what is left. Resolves with graceful and forced counts.
   * Calling it again returns the same promise.
   */
  drain(timeoutMs?: number, signal?: AbortSignal): Promise<DrainResult> {
    if (this.drainRun) return this.drainRun.promise;
    this.draining = true;
    const run = new DrainRun((result) => this.events.emit(ConnectionPoolEvent.DrainFinished, result));
    this.drainRun = run;
    this.events.emit(ConnectionPoolEvent.DrainStarted, { active: this.connections.size, deadlineMs: timeoutMs });
    this.checkHealth();
    // Connections that close synchronously in drainConnection finish the drain from remove().
    // An indexed loop: for...of in this once-per-drain (so unoptimized) code allocates a result per connection.
    const conns = this.connections.snapshot();
    this.drainWalkMono = monotonicMs();
    try {
      for (let i = 0; i < conns.length; i++) {
        const conn = conns[i];
        if (conn.removed) continue; // closed by an earlier one's drain
        conn.draining = true;
        this.drainConnection(conn);
      }
    } finally {
      this.drainWalkMono = -1;
    }
    if (this.connections.size === 0) run.finish();
    else if (signal?.aborted) this.forceAll();
    else run.arm(timeoutMs, signal, () => this.forceAll());
    return run.promise;
  }

  /** Destroys every connection now, counting each as forced. */
  forceAll(): void {
    this.forced = true;
    for (const conn of this.connections.snapshot()) {
      if (conn.removed) continue;
      conn.forced = true;
      conn.closeReason = 'forced';
      this.destroyConnection(conn);
      this.remove(conn, 'forced');
    }
  }

  /** Destroys the pool: closes every connection, stops every timer, drops every listener. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.listening = false;
    this.health.stop();
    this.timers.close();
    const work = this.work;
    if (work !== undefined) {
      // Queued units belong to connections destroyed just below: each hears it was shed.
      const now = performance.now();
      for (const waiter of work.close()) waiter.onShed('queue_timeout', now);
    }
    this.forceAll();
    this.drainRun?.finish();
    this.events.removeAllListeners();
  }

  // ---------------------------------------------------------------- health and metrics

  private healthInputs() {
    const w = this.stats.window.snapshot();
    return {
      listening: this.listening,
      draining: this.draining,
      active: this.connections.size,
      maxConnections: this.admissionLimit,
      requests: w.requests,
      errors: w.errors,
      p95LatencyMs: w.latency.quantile(0.95),
      extra: this.work === undefined ? this.healthFindings() : [...this.healthFindings(), ...this.overloadFindings()],
    };
  }

  /**
   * OVERLOADED while work is being shed: the pressure level sheds new work, or a unit was shed
   * within the last health interval (at least a second). Readiness does not follow it (see
   * docs/overload.md: a fleet that turns unready under load moves the load onto the rest).
   */
  private overloadFindings(): ReadonlyArray<{ status: PoolHealthStatus; reason: string }> {
    const work = this.work!;
    if (work.acts(PressureLevel.ShedWork)) return [{ status: PoolHealthStatus.Overloaded, reason: `${SHEDDING_REASON_PREFIX} pressure ${(work.pressure?.pressure ?? 0).toFixed(2)}` }];
    const recent = Math.max(1000, this.currentConfig.health.checkInterval);
    if (performance.now() - this.lastShedAt <= recent) return [{ status: PoolHealthStatus.Overloaded, reason: `${SHEDDING_REASON_PREFIX} limit ${Number.isFinite(work.limit) ? work.limit : 'none'}, ${work.shedTotal} shed` }];
    return EMPTY_EXTRA;
  }

  /** The health interval's callback: through `checkHealth`, which a subclass may extend. */
  private readonly checkHealthTick = (): void => void this.checkHealth();

  /** Re-evaluates health now, emitting `HealthChanged` if the status moved. */
  checkHealth(): HealthReport {
    return this.health.check();
  }

  /** The current health (re-evaluated). */
  getHealth(): HealthReport {
    return this.checkHealth();
  }

  /** A copy of every figure the pool measures. */
  getMetrics(): PoolMetricsSnapshot {
    // Bytes, idle and in-flight counts are read in one walk, so tracking a unit of work updates
    // no pool-wide counter but the request totals.
    const closed = this.stats.closedBytes;
    const live = { active: this.connections.size, idle: 0, inFlight: 0, streamsInFlight: 0, bytesIn: closed.bytesIn, bytesOut: closed.bytesOut };
    for (let conn = this.connections.head; conn !== undefined; conn = conn.next) {
      this.addConnectionBytes(conn, live);
      if (conn.inFlight === 0) live.idle++;
      else {
        live.inFlight += conn.inFlight - conn.streamsInFlight;
        live.streamsInFlight += conn.streamsInFlight;
      }
    }
    const snapshot = this.stats.snapshot(this.protocol, live, this.currentConfig.maxConnections, this.admissionLimit);
    if (this.work !== undefined) snapshot.overload = this.overloadSnapshot();
    return snapshot;
  }
}

/** Whether `value` is a pool class (a subclass of `ConnectionPoolManager`). */
export function isPoolClass(value: unknown): value is abstract new (...args: never[]) => ConnectionPoolManager<unknown> {
  return typeof value === 'function' && (value as unknown as Record<symbol, unknown>)[POOL_CLASS_MARKER] === true;
}
