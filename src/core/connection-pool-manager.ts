import { performance } from 'node:perf_hooks';
import { PoolSettings } from '../config/pool-config';
import { deepFreeze } from '../config/frozen-config';
import { declaredKeys, validateSection, type ConfigClass } from '../config/validate-config';
import { ConfigValidationError, ForeignConnectionError, type ConfigProblem } from '../errors';
import { changedConfigKeys, mergeConfig } from './config-diff';
import type { Logger } from './logger';
import { LatencyHistogram, bucketIndex, LATENCY_BUCKETS_MS } from './latency-histogram';
import { ConnectionPoolEvent, PoolEventEmitter } from './pool-events';
import { PoolHealth, PoolHealthStatus, type HealthReport } from './pool-health';
import { PooledConnection, type PeerLookup } from './pooled-connection';
import type { CloseReason, ConfigUpdateResult, DrainResult, KnownLabelValues, PoolMetricsSnapshot, PreparedConfigUpdate, RejectReason } from './pool-types';
import type { PoolObserver } from './pool-observer';
import type { ProtocolMetricFamily } from './protocol-metrics';
import { SlidingWindow } from './sliding-window';
import { monotonicMs, refreshWallClock } from './clock';

/** Upper bounds (ms) of the connection-duration buckets: 10 ms to 1 h. */
export const CONNECTION_DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  10, 50, 100, 500, 1000, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000,
]);

/** Upper bounds (ms) of the stream-duration buckets (long-lived work such as gRPC streaming calls): as for connections. */
export const STREAM_DURATION_BUCKETS_MS: readonly number[] = CONNECTION_DURATION_BUCKETS_MS;

/** Marker that lets decorators tell pool classes from anything else. */
export const POOL_CLASS_MARKER = Symbol.for('unipool.poolClass');

const NO_FAMILIES: readonly ProtocolMetricFamily[] = Object.freeze([]);
/** What every pool may refuse for and time out on by itself (`add`, the connection and idle timers). */
const BASE_LABEL_VALUES: KnownLabelValues = Object.freeze({
  rejectReasons: Object.freeze(['max_connections', 'draining']),
  timeoutKinds: Object.freeze(['connection', 'idle']),
  errorTypes: Object.freeze([]),
});
const NO_KEYS: ReadonlySet<string> = new Set();
const EMPTY_EXTRA: ReadonlyArray<{ status: PoolHealthStatus; reason: string }> = [];

/** The sliding window's clock: monotonic, so a step of the system clock cannot expire or revive slots. */
const monotonicNow = (): number => performance.now();

/** The keys every pool owns: admission, connection timeouts and health. */
const BASE_POOL_KEYS: readonly string[] = ['maxConnections', 'connectionTimeout', 'idleTimeout', 'health'];

/** What a pool tells the servers attached to it when its keys change (`ManagedServer` implements it). */
export interface PoolConfigTarget {
  applyPoolConfig(previous: PoolSettings, next: PoolSettings): void;
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
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
  /** Live connections, oldest first: an intrusive list (see `PooledConnection.next`), O(1) add and remove. */
  private head: PooledConnection<T> | undefined;
  private tail: PooledConnection<T> | undefined;
  private count = 0;
  /** The next connection of the walk in progress (`forEachConnection`), kept valid by `unlink`. */
  private cursor: PooledConnection<T> | undefined;
  private walking = false;
  private nextId = 1;
  private admittedTotal = 0;
  private requestsTotal = 0;
  private requestsFailed = 0;
  private streamsTotal = 0;
  private streamsFailed = 0;
  private rejectedTotal = 0;
  private readonly rejectedByReason = new Map<string, number>();
  private readonly timeoutsByKind = new Map<string, number>();
  private errorsTotal = 0;
  private readonly errorsByType = new Map<string, number>();
  private closedBytesIn = 0;
  private closedBytesOut = 0;
  private atLimit = false;
  /** Connections this process may admit when it holds only a share of `maxConnections` (a cluster worker); undefined: `maxConnections`. */
  private share: number | undefined;
  /**
   * Connections that have not started their first unit of work, oldest first (every one waits
   * the same connectionTimeout): one timer serves them all, so admitting a connection allocates
   * no timer. An intrusive queue through `pendingNext`, like the connection list.
   */
  private pendingHead: PooledConnection<T> | undefined;
  private pendingTail: PooledConnection<T> | undefined;
  private pendingTimer: NodeJS.Timeout | undefined;

  /** Latency of requests whose window slot has been reused; with the live slots, every request since the pool was created. */
  private readonly retiredLatency = new LatencyHistogram(LATENCY_BUCKETS_MS);
  /** Lifetime of closed connections (ms). */
  readonly connectionDurations = new LatencyHistogram(CONNECTION_DURATION_BUCKETS_MS);
  /** Duration of finished streams (`beginStream` .. `endStream`), since the pool was created (ms); never part of request latency or health. */
  readonly streamDurations = new LatencyHistogram(STREAM_DURATION_BUCKETS_MS);
  private window: SlidingWindow;
  private readonly healthJudge: PoolHealth;
  private lastHealth: HealthReport;
  private healthTimer: NodeJS.Timeout | undefined;

  private listening = false;
  private draining = false;
  private destroyed = false;
  private drainPromise: Promise<DrainResult> | undefined;
  private drainState: { graceful: number; forced: number; done: (() => void) | undefined } | undefined;

  constructor(readonly configClass: ConfigClass<C>) {
    refreshWallClock();
    this.currentConfig = deepFreeze(new configClass());
    this.window = new SlidingWindow(this.currentConfig.health.window, monotonicNow, this.retiredLatency);
    this.healthJudge = new PoolHealth(this.currentConfig.health);
    // Not evaluated here: a subclass's healthFindings() may read fields not initialised yet.
    this.lastHealth = { status: PoolHealthStatus.Unavailable, reason: 'not listening', utilization: 0, errorRate: 0, p95LatencyMs: 0, checkedAt: Date.now() };
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
    const all = new LatencyHistogram(LATENCY_BUCKETS_MS);
    all.merge(this.retiredLatency);
    this.window.addLiveLatency(all);
    return all;
  }

  /** A new sliding window of `windowMs`; what the old one held still counts in the lifetime latency. */
  private replaceWindow(windowMs: number): void {
    this.window.retire();
    this.window = new SlidingWindow(windowMs, monotonicNow, this.retiredLatency);
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
    this.healthJudge.thresholds = config.health;
    this.replaceWindow(config.health.window);
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
    this.healthJudge.thresholds = next.health;
    if (next.health.window !== previous.health.window) this.replaceWindow(next.health.window);
    if (next.idleTimeout !== previous.idleTimeout || next.connectionTimeout !== previous.connectionTimeout) {
      for (const conn of this.snapshot()) this.rearmTimer(conn);
      this.schedulePending(true);
    }
    if (next.health.checkInterval !== previous.health.checkInterval && this.healthTimer) this.startHealthTimer();
    const limit = this.share ?? next.maxConnections;
    const reachedLimit = this.count >= limit && !this.atLimit;
    this.atLimit = this.count >= limit;
    for (const server of this.attached) {
      try {
        server.applyPoolConfig(previous, next);
      } catch (err) {
        this.reportError({ err, protocol: this.protocol, pool: this.name }, 'server failed to apply a pool config update');
      }
    }
    if (reachedLimit) this.events.emit(ConnectionPoolEvent.LimitReached, { active: this.count, maxConnections: limit });
    const result = { applied, restartRequired };
    this.events.emit(ConnectionPoolEvent.ConfigUpdated, result);
    this.checkHealth();
    return result;
  }

  // ---------------------------------------------------------------- admission and tracking

  /** Connections open now. */
  get size(): number {
    return this.count;
  }

  /** Whether the pool is draining (admits nothing). */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Whether the pool admits a new connection right now; `undefined` if it does, else the reason it would refuse. */
  admissionRefusal(): RejectReason | undefined {
    if (this.draining || this.destroyed) return 'draining';
    if (this.count >= (this.share ?? this.currentConfig.maxConnections)) return 'max_connections';
    return undefined;
  }

  /** What this process may admit: its share of `maxConnections` (a cluster worker), else `maxConnections`. */
  get admissionLimit(): number {
    return this.share ?? this.currentConfig.maxConnections;
  }

  /**
   * Limits admission to `share` connections of this process (a cluster worker's part of the
   * app-wide `maxConnections`); `undefined` gives the whole of `maxConnections` back. Live
   * connections over a lowered share stay; new ones are refused until the count is under it.
   */
  setAdmissionShare(share: number | undefined): void {
    this.share = share === undefined ? undefined : Math.max(0, Math.floor(share));
    this.atLimit = this.count >= this.admissionLimit;
  }

  /**
   * Admits a connection or refuses it. Synchronous, so concurrent connects can never over-admit.
   * Returns the tracked connection, or `undefined` when refused (the refusal is counted).
   */
  add(raw: T, remoteAddress?: string, remotePort?: number): PooledConnection<T> | undefined {
    const refusal = this.admissionRefusal();
    if (refusal !== undefined) {
      if (remoteAddress === undefined && this.events.listenerCount(ConnectionPoolEvent.ConnectionRejected)) remoteAddress = this.peerOf(raw)?.address;
      this.reject(refusal, remoteAddress);
      return undefined;
    }
    const conn = new PooledConnection(this.nextId++, this.protocol, raw, remoteAddress, remotePort, monotonicMs(), this.lookupPeer as PeerLookup<T>, this);
    // A closed socket no longer knows its peer: when someone listens to events that can come
    // after the close, read the address now.
    if (remoteAddress === undefined && this.wantsPeerEarly()) void conn.remoteAddress;
    this.link(conn);
    this.admittedTotal++;
    this.window.recordConnection();
    this.rearmTimer(conn);
    const reachedLimit = !this.atLimit && this.count >= (this.share ?? this.currentConfig.maxConnections);
    if (reachedLimit) this.atLimit = true;
    // Events leave once the state is consistent (listeners are isolated by the emitter, so the
    // server always gets the connection back and attaches its close listener).
    if (this.events.listenerCount(ConnectionPoolEvent.ConnectionAdded)) {
      this.events.emit(ConnectionPoolEvent.ConnectionAdded, { connection: conn.toJSON(), active: this.count });
    }
    if (reachedLimit) this.events.emit(ConnectionPoolEvent.LimitReached, { active: this.count, maxConnections: this.admissionLimit });
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
    this.rejectedTotal++;
    increment(this.rejectedByReason, reason);
    if (this.events.listenerCount(ConnectionPoolEvent.ConnectionRejected)) {
      this.events.emit(ConnectionPoolEvent.ConnectionRejected, { reason, remoteAddress, active: this.count });
    }
  }

  /** Looks a live connection up by id (a walk over the connections: for tools and tests, not the hot path). */
  get(id: number): PooledConnection<T> | undefined {
    for (let conn = this.head; conn !== undefined; conn = conn.next) if (conn.id === id) return conn;
    return undefined;
  }

  /**
   * Iterates the live connections, oldest first, over a snapshot taken now: closing or removing
   * connections while iterating is safe. O(n), for drain, `/status` and tools.
   */
  values(): IterableIterator<PooledConnection<T>> {
    return this.snapshot().values();
  }

  /** The live connections now, oldest first. */
  private snapshot(): PooledConnection<T>[] {
    const out = new Array<PooledConnection<T>>(this.count);
    let i = 0;
    for (let conn = this.head; conn !== undefined; conn = conn.next) out[i++] = conn;
    return out;
  }

  /**
   * Calls `fn` for each live connection, oldest first, without a snapshot (for walks that run
   * often: heartbeat, broadcast). `fn` may close or remove any connection: a connection removed
   * before its turn is skipped, one added during the walk is visited. A walk started inside
   * another (a broadcast from an event listener during the heartbeat, say) goes over a snapshot,
   * so the one cursor always belongs to the outermost walk and stays right whatever either does.
   */
  protected forEachConnection(fn: (conn: PooledConnection<T>) => void): void {
    if (this.walking) {
      for (const conn of this.snapshot()) if (!conn.removed) fn(conn);
      return;
    }
    this.walking = true;
    try {
      for (let conn = this.head; conn !== undefined; conn = this.cursor) {
        this.cursor = conn.next;
        fn(conn);
      }
    } finally {
      this.walking = false;
      this.cursor = undefined;
    }
  }

  private link(conn: PooledConnection<T>): void {
    conn.prev = this.tail;
    if (this.tail !== undefined) this.tail.next = conn;
    else this.head = conn;
    this.tail = conn;
    this.count++;
    if (this.walking && this.cursor === undefined) this.cursor = conn; // the walk was at its end
  }

  private unlink(conn: PooledConnection<T>): void {
    const { prev, next } = conn;
    if (this.cursor === conn) this.cursor = next;
    if (prev !== undefined) prev.next = next;
    else this.head = next;
    if (next !== undefined) next.prev = prev;
    else this.tail = prev;
    conn.prev = undefined;
    conn.next = undefined;
    this.count--;
  }

  /**
   * Forgets a connection that has closed. Idempotent. A connection this pool did not admit is
   * refused with `ForeignConnectionError` (unlinking it would corrupt both pools' lists).
   */
  remove(conn: PooledConnection<T>, reason?: CloseReason): void {
    if (conn.owner !== this) throw new ForeignConnectionError(conn.id, this.protocol);
    if (conn.removed) return;
    conn.removed = true;
    this.unlink(conn);
    if (conn.timerKind === 'connection') this.unpend(conn);
    else if (conn.timer) clearTimeout(conn.timer);
    conn.timer = undefined;
    conn.timerKind = undefined;
    // Indexed, not destructured: a drain runs this once per connection in code not yet optimized,
    // where destructuring allocates an iterator and its results (a thousand closes: a young-GC pause).
    const bytes = this.connectionBytes(conn);
    this.closedBytesIn += bytes[0];
    this.closedBytesOut += bytes[1];
    const lifetimeMs = monotonicMs() - conn.startedMono;
    this.connectionDurations.observe(lifetimeMs);
    if (this.atLimit && this.count < (this.share ?? this.currentConfig.maxConnections)) this.atLimit = false;
    const why = reason ?? conn.closeReason ?? 'closed';
    if (this.observer !== undefined) this.observer.connectionClosed(this, lifetimeMs / 1000, why);
    const drain = this.drainState;
    if (drain) {
      if (conn.forced) drain.forced++;
      else drain.graceful++;
    }
    if (this.events.listenerCount(ConnectionPoolEvent.ConnectionRemoved)) {
      this.events.emit(ConnectionPoolEvent.ConnectionRemoved, { connection: conn.toJSON(), reason: why, active: this.count });
    }
    if (drain && this.count === 0) drain.done?.();
  }

  /**
   * Marks a connection's protocol handshake as done (an HTTP/2 session set up, say) without
   * counting work: the connection timeout ends here and the idle timeout takes over.
   */
  markEstablished(conn: PooledConnection<T>): void {
    if (conn.started || conn.removed) return;
    conn.started = true;
    if (conn.timerKind === 'connection') {
      this.unpend(conn);
      conn.timerKind = undefined;
    }
    if (conn.inFlight === 0) this.armIdle(conn);
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
      if (conn.timerKind === 'connection') {
        this.unpend(conn);
        conn.timerKind = undefined;
      }
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
    this.observeWork(now - startedAt, failed, now);
    conn.requests++;
    conn.lastActivityMono = Math.floor(now);
    if (conn.inFlight === 0 && this.currentConfig.idleTimeout > 0) {
      this.markIdleStart(conn);
      this.armIdle(conn);
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
    this.observeWork(now - startedAt, failed, now);
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
    this.streamDurations.observe(ms);
    this.streamsTotal++;
    if (failed) this.streamsFailed++;
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
        this.armIdle(conn);
      }
    }
  }

  /** Records one finished unit of work that no connection owns (or whose connection is gone). */
  recordLatency(ms: number, failed: boolean): void {
    this.observeWork(ms, failed, performance.now());
  }

  /** `now` is `performance.now()`, the window's clock. */
  private observeWork(ms: number, failed: boolean, now: number): void {
    // One histogram per request: the window's slot, folded into the lifetime one when reused.
    this.window.recordRequest(bucketIndex(ms, LATENCY_BUCKETS_MS), ms, failed, now);
    this.requestsTotal++;
    if (failed) this.requestsFailed++;
  }

  /** Notes activity that is not a unit of work (a pong, a keep-alive ping): idle time counts from now. */
  touch(conn: PooledConnection<T>): void {
    // A running idle timer reads this when it fires.
    conn.lastActivityMono = monotonicMs();
  }

  /** Counts an error by type, optionally tied to a connection. */
  recordError(type: string, error?: Error, conn?: PooledConnection<T>): void {
    this.errorsTotal++;
    increment(this.errorsByType, type);
    if (this.events.listenerCount(ConnectionPoolEvent.ConnectionError)) {
      this.events.emit(ConnectionPoolEvent.ConnectionError, { connection: conn?.toJSON(), type, error });
    }
  }

  /** Counts a timeout by kind (for timeouts a protocol enforces itself, e.g. headers or heartbeat). */
  recordTimeout(kind: string, conn?: PooledConnection<T>): void {
    increment(this.timeoutsByKind, kind);
    if (conn && this.events.listenerCount(ConnectionPoolEvent.ConnectionTimeout)) {
      this.events.emit(ConnectionPoolEvent.ConnectionTimeout, { connection: conn.toJSON(), kind });
    }
  }

  // ---------------------------------------------------------------- timeouts

  private rearmTimer(conn: PooledConnection<T>): void {
    if (conn.timerKind === 'connection') this.unpend(conn);
    else if (conn.timer) clearTimeout(conn.timer);
    conn.timer = undefined;
    conn.timerKind = undefined;
    const { connectionTimeout, idleTimeout } = this.currentConfig;
    if (!conn.started && connectionTimeout > 0) {
      conn.timerKind = 'connection';
      this.pend(conn);
      this.schedulePending(false);
    } else if (idleTimeout > 0) {
      this.startIdleTimer(conn, idleTimeout);
    }
  }

  /**
   * Starts the idle timer of a connection that just went idle. A running idle timer is left
   * alone: when it fires it compares the connection's last activity with the timeout and waits
   * out the rest (`onTimer`), so a unit of work that ends costs no timer operation (restarting a
   * node timer costs about as much as a clock read, and a keep-alive connection goes idle after
   * every request). A timer that lapsed while the connection was busy is started anew.
   */
  private armIdle(conn: PooledConnection<T>): void {
    if (conn.timerKind !== 'idle' && this.currentConfig.idleTimeout > 0) this.rearmTimer(conn);
  }

  private startIdleTimer(conn: PooledConnection<T>, ms: number): void {
    conn.timerKind = 'idle';
    conn.timer = setTimeout(() => this.onTimer(conn), ms).unref();
  }

  /**
   * Takes a connection off the connection-timeout queue. The shared timer is left to fire and
   * find nothing due: clearing it whenever the queue empties would cost a timer per connection
   * again under churn (connections start their first request within microseconds).
   */
  private unpend(conn: PooledConnection<T>): void {
    const prev = conn.pendingPrev;
    if (prev === undefined && this.pendingHead !== conn) return; // not queued
    const next = conn.pendingNext;
    if (prev !== undefined) prev.pendingNext = next;
    else this.pendingHead = next;
    if (next !== undefined) next.pendingPrev = prev;
    else this.pendingTail = prev;
    conn.pendingPrev = undefined;
    conn.pendingNext = undefined;
  }

  /** Appends a connection to the connection-timeout queue (the newest waits longest). */
  private pend(conn: PooledConnection<T>): void {
    conn.pendingPrev = this.pendingTail;
    if (this.pendingTail !== undefined) this.pendingTail.pendingNext = conn;
    else this.pendingHead = conn;
    this.pendingTail = conn;
  }

  /** Keeps the one connection-timeout timer aimed at the oldest waiting connection. */
  private schedulePending(reset: boolean): void {
    if (reset && this.pendingTimer) {
      clearTimeout(this.pendingTimer);
      this.pendingTimer = undefined;
    }
    const oldest = this.pendingHead;
    if (this.pendingTimer || oldest === undefined || this.destroyed) return;
    const due = oldest.startedMono + this.currentConfig.connectionTimeout - monotonicMs();
    this.pendingTimer = setTimeout(() => this.onPendingTimer(), Math.max(0, due)).unref();
  }

  private onPendingTimer(): void {
    this.pendingTimer = undefined;
    const deadline = monotonicMs() - this.currentConfig.connectionTimeout;
    for (let conn = this.pendingHead; conn !== undefined && conn.startedMono <= deadline; conn = this.pendingHead) {
      this.unpend(conn);
      conn.timerKind = 'connection';
      this.onTimer(conn);
    }
    this.schedulePending(false);
  }

  private onTimer(conn: PooledConnection<T>): void {
    if (conn.removed || this.destroyed) return;
    const kind = conn.timerKind === 'connection' ? 'connection' : 'idle';
    if (kind === 'connection' && this.receivedSinceIdle(conn)) {
      // Not a connection that sends nothing: its first unit of work is arriving, and the
      // protocol's own timeouts for it (HTTP: headersTimeout, answered 408) govern from here.
      conn.timerKind = undefined;
      this.markEstablished(conn);
      return;
    }
    if (kind === 'idle') {
      // A busy connection is never idle: the timer lapses, and `armIdle` restarts it when the
      // work ends.
      if (conn.inFlight > 0) {
        conn.timer = undefined;
        conn.timerKind = undefined;
        return;
      }
      // Work ended or a pong came since the timer started: idle time counts from the last activity.
      const { idleTimeout } = this.currentConfig;
      const remaining = conn.lastActivityMono + idleTimeout - monotonicMs();
      if (remaining > 0) {
        this.startIdleTimer(conn, remaining);
        return;
      }
      if (this.receivedSinceIdle(conn)) {
        // The next unit of work is arriving (a request's headers, say) but has not started yet.
        this.markIdleStart(conn);
        this.startIdleTimer(conn, idleTimeout);
        return;
      }
    }
    conn.timer = undefined;
    conn.timerKind = undefined;
    this.recordTimeout(kind, conn);
    conn.closeReason = kind === 'connection' ? 'connection_timeout' : 'idle_timeout';
    this.closeConnection(conn, conn.closeReason);
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

  /** Bytes read and written on a connection; protocols that know better override it. */
  protected connectionBytes(conn: PooledConnection<T>): [number, number] {
    return [conn.bytesIn, conn.bytesOut];
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
    if (listening && !this.healthTimer && !this.destroyed) this.startHealthTimer();
    this.checkHealth();
  }

  private startHealthTimer(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = setInterval(() => this.checkHealth(), this.currentConfig.health.checkInterval).unref();
  }

  /**
   * Stops admitting, lets work in flight finish, closes idle connections, and at `timeoutMs` (if
   * given) or when `signal` aborts destroys what is left. Resolves with graceful and forced counts.
   * Calling it again returns the same promise.
   */
  drain(timeoutMs?: number, signal?: AbortSignal): Promise<DrainResult> {
    if (this.drainPromise) return this.drainPromise;
    const started = performance.now();
    this.draining = true;
    const state: { graceful: number; forced: number; done: (() => void) | undefined } = { graceful: 0, forced: 0, done: undefined };
    this.drainState = state;
    this.events.emit(ConnectionPoolEvent.DrainStarted, { active: this.count, deadlineMs: timeoutMs });
    this.checkHealth();
    this.drainPromise = new Promise<DrainResult>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => this.forceAll();
      let finished = false;
      // Connections that close synchronously in drainConnection already finish the drain from remove().
      const finish = (): void => {
        if (finished) return;
        finished = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        state.done = undefined;
        this.drainState = undefined;
        const result: DrainResult = { graceful: state.graceful, forced: state.forced, durationMs: performance.now() - started };
        this.events.emit(ConnectionPoolEvent.DrainFinished, result);
        resolve(result);
      };
      state.done = finish;
      // An indexed loop: for...of in this once-per-drain (so unoptimized) code allocates a result per connection.
      const conns = this.snapshot();
      for (let i = 0; i < conns.length; i++) {
        const conn = conns[i];
        if (conn.removed) continue; // closed by an earlier one's drain
        conn.draining = true;
        this.drainConnection(conn);
      }
      if (this.count === 0) return finish();
      if (signal?.aborted) return this.forceAll();
      if (timeoutMs !== undefined) timer = setTimeout(() => this.forceAll(), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return this.drainPromise;
  }

  /** Destroys every connection now, counting each as forced. */
  forceAll(): void {
    for (const conn of this.snapshot()) {
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
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
    this.pendingTimer = undefined;
    this.forceAll();
    this.drainState?.done?.();
    this.events.removeAllListeners();
  }

  // ---------------------------------------------------------------- health and metrics

  private healthInputs() {
    const w = this.window.snapshot();
    return {
      listening: this.listening,
      draining: this.draining,
      active: this.count,
      maxConnections: this.admissionLimit,
      requests: w.requests,
      errors: w.errors,
      p95LatencyMs: w.latency.quantile(0.95),
      extra: this.healthFindings(),
    };
  }

  /** Re-evaluates health now, emitting `HealthChanged` if the status moved. */
  checkHealth(): HealthReport {
    refreshWallClock();
    const current = this.healthJudge.evaluate(this.healthInputs(), Date.now());
    const previous = this.lastHealth;
    this.lastHealth = current;
    if (current.status !== previous.status) this.events.emit(ConnectionPoolEvent.HealthChanged, { previous, current });
    return current;
  }

  /** The current health (re-evaluated). */
  getHealth(): HealthReport {
    return this.checkHealth();
  }

  /** A copy of every figure the pool measures. */
  getMetrics(): PoolMetricsSnapshot {
    const w = this.window.snapshot();
    let bytesIn = this.closedBytesIn;
    let bytesOut = this.closedBytesOut;
    // Idle and in-flight counts are read here, in the walk bytes need anyway, so tracking a unit
    // of work updates no pool-wide counter but the request totals.
    let idle = 0;
    let inFlight = 0;
    let streamsInFlight = 0;
    for (let conn = this.head; conn !== undefined; conn = conn.next) {
      const [i, o] = this.connectionBytes(conn);
      bytesIn += i;
      bytesOut += o;
      if (conn.inFlight === 0) idle++;
      else {
        inFlight += conn.inFlight - conn.streamsInFlight;
        streamsInFlight += conn.streamsInFlight;
      }
    }
    const streams = this.streamDurations;
    const active = this.count;
    return {
      protocol: this.protocol,
      active,
      idle,
      maxConnections: this.currentConfig.maxConnections,
      utilization: active / Math.max(1, this.admissionLimit),
      totalConnections: this.admittedTotal,
      rejected: { total: this.rejectedTotal, byReason: Object.fromEntries(this.rejectedByReason) },
      timeouts: Object.fromEntries(this.timeoutsByKind),
      errors: { total: this.errorsTotal, byType: Object.fromEntries(this.errorsByType) },
      connectionsPerSecond: w.connectionsPerSecond,
      requests: {
        total: this.requestsTotal,
        failed: this.requestsFailed,
        inFlight,
        errorRate: w.requests > 0 ? w.errors / w.requests : 0,
        windowTotal: w.requests,
      },
      latency: {
        count: w.latency.count,
        avgMs: w.latency.mean(),
        p50Ms: w.latency.quantile(0.5),
        p95Ms: w.latency.quantile(0.95),
        p99Ms: w.latency.quantile(0.99),
        maxMs: w.latency.max,
      },
      streams: {
        total: this.streamsTotal,
        failed: this.streamsFailed,
        inFlight: streamsInFlight,
        duration: { count: streams.count, avgMs: streams.mean(), p50Ms: streams.quantile(0.5), p95Ms: streams.quantile(0.95), p99Ms: streams.quantile(0.99), maxMs: streams.max },
      },
      bytes: { in: bytesIn, out: bytesOut },
      windowMs: this.window.windowMs,
    };
  }
}

/** Whether `value` is a pool class (a subclass of `ConnectionPoolManager`). */
export function isPoolClass(value: unknown): value is abstract new (...args: never[]) => ConnectionPoolManager<unknown> {
  return typeof value === 'function' && (value as unknown as Record<symbol, unknown>)[POOL_CLASS_MARKER] === true;
}
