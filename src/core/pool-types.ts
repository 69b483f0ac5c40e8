import type { OverloadSnapshot } from '../overload/overload-state';
/** Why a connection was refused at admission. */
export type RejectReason = 'max_connections' | 'draining' | 'not_listening' | (string & {});

/** Why a connection left the pool. */
export type CloseReason = 'closed' | 'idle_timeout' | 'connection_timeout' | 'drain' | 'forced' | 'error' | (string & {});

/** Lifecycle state of a tracked connection. */
export type ConnectionState = 'active' | 'idle' | 'draining';

/** Read-only view of a tracked connection, as events and `/status` show it. */
export interface ConnectionInfo {
  readonly id: number;
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly startedAt: number;
  readonly state: ConnectionState;
  readonly inFlight: number;
  readonly requests: number;
  readonly messages: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly lastActivityAt: number;
}

/** Outcome of `drain()`. */
export interface DrainResult {
  /** Connections that closed on their own or were closed while idle. */
  graceful: number;
  /** Connections still open at the deadline (or at a forced stop) and destroyed. */
  forced: number;
  durationMs: number;
}

/** Outcome of `updateConfig()`. */
export interface ConfigUpdateResult {
  /** Keys whose new values are in effect, live connections included. */
  applied: string[];
  /** Keys that changed but only take effect after a restart (a port change, say). */
  restartRequired: string[];
}

/** A validated config change not applied yet (`ConnectionPoolManager.prepareConfigUpdate`). */
export interface PreparedConfigUpdate<C = object> extends ConfigUpdateResult {
  /** The config in effect when the update was prepared. */
  readonly previous: C;
  /** The config `commit()` puts in effect (restart-only keys keep their old values). */
  readonly next: C;
  /** Applies the change; throws if the protocol refuses it or the config moved since. */
  commit(): ConfigUpdateResult;
}

/** Label values a pool's generic metric families can take, known before any event (reported at 0). */
export interface KnownLabelValues {
  /** `connections_rejected_total{reason}`. */
  readonly rejectReasons: readonly string[];
  /** `connection_timeouts_total{kind}`. */
  readonly timeoutKinds: readonly string[];
  /** `errors_total{type}`. */
  readonly errorTypes: readonly string[];
}

/** A point-in-time copy of a pool's figures. Every number is measured. */
export interface PoolMetricsSnapshot {
  protocol: string;
  /** Connections open now (active + idle + draining). */
  active: number;
  /** Connections with nothing in flight. */
  idle: number;
  maxConnections: number;
  utilization: number;
  /** Connections admitted since the pool was created. */
  totalConnections: number;
  rejected: { total: number; byReason: Record<string, number> };
  timeouts: Record<string, number>;
  errors: { total: number; byType: Record<string, number> };
  /** Admitted connections per second over the sliding window. */
  connectionsPerSecond: number;
  requests: {
    total: number;
    failed: number;
    /** Units of work in progress now, streams not included. */
    inFlight: number;
    /** Failed / total over the sliding window. */
    errorRate: number;
    windowTotal: number;
  };
  /** Request latency over the sliding window (ms). */
  latency: { count: number; avgMs: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number };
  /**
   * Long-lived work (gRPC streaming calls), kept apart from `requests` and `latency` and never
   * judged by health: finished streams since start, those that failed, those open now, and
   * their duration since start (ms).
   */
  streams: {
    total: number;
    failed: number;
    inFlight: number;
    duration: { count: number; avgMs: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number };
  };
  bytes: { in: number; out: number };
  windowMs: number;
  /** Overload protection (limit, queue, shed counts, pressure), when the pool's `overload` block turns it on. */
  overload?: OverloadSnapshot;
}
