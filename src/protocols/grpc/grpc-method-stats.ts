import { status as GrpcStatus } from '@grpc/grpc-js';
import { LatencyHistogram, LATENCY_BUCKETS_MS } from '../../core/latency-histogram';

/**
 * gRPC status codes that mean the server failed, when the server's own code sent them (a handler
 * that threw gets UNKNOWN). The same codes sent by grpc-js itself (a malformed `grpc-timeout`,
 * a request that does not parse) and every other code (the client's deadline, a cancel, a bad
 * argument, a limit) are the client's doing and do not count against health.
 */
export const SERVER_FAULT_CODES: ReadonlySet<number> = new Set([GrpcStatus.UNKNOWN, GrpcStatus.INTERNAL, GrpcStatus.UNAVAILABLE, GrpcStatus.DATA_LOSS]);

/** Number of gRPC status codes (OK = 0 .. UNAUTHENTICATED = 16). */
const STATUS_CODE_COUNT = 17;

/** Name of every status code, indexed by code (`OK`, `CANCELLED`...). */
export const STATUS_NAMES: readonly string[] = Array.from({ length: STATUS_CODE_COUNT }, (_, code) => GrpcStatus[code] ?? String(code));

/** The four call shapes of gRPC. */
export type GrpcMethodType = 'unary' | 'clientStream' | 'serverStream' | 'bidi';

/** A registered method, as `pool.services()` lists it. */
export interface GrpcMethodInfo {
  /** Method name, e.g. `Echo`. */
  name: string;
  /** Full path, e.g. `/demo.Echo/Echo`. */
  path: string;
  type: GrpcMethodType;
}

/** A registered service and its methods. */
export interface GrpcServiceInfo {
  /** Fully qualified name, e.g. `demo.Echo`. */
  name: string;
  methods: GrpcMethodInfo[];
}

/** A copy of one method's figures. */
export interface GrpcMethodStatsSnapshot {
  path: string;
  service: string;
  method: string;
  type: GrpcMethodType;
  /** Calls finished. */
  calls: number;
  /** Calls open now. */
  inFlight: number;
  /** Finished calls that failed by the server's fault (see `SERVER_FAULT_CODES`). */
  errors: number;
  /** Finished calls by status name (`OK`, `INVALID_ARGUMENT`...); codes never seen are left out. */
  codes: Record<string, number>;
  messagesIn: number;
  messagesOut: number;
  /** Call latency since start (ms). */
  latency: { count: number; avgMs: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number };
}

/** Splits `/pkg.Service/Method` into service and method names. */
export function splitMethodPath(path: string): { service: string; method: string } {
  const slash = path.lastIndexOf('/');
  return { service: path.slice(1, slash), method: path.slice(slash + 1) };
}

/**
 * Counters of one method. Fixed memory: a counter per status code and a bucketed latency
 * histogram, so it does not grow with traffic.
 */
export class GrpcMethodStats {
  readonly service: string;
  readonly method: string;
  calls = 0;
  inFlight = 0;
  errors = 0;
  messagesIn = 0;
  messagesOut = 0;
  readonly codes = new Float64Array(STATUS_CODE_COUNT);
  readonly latency = new LatencyHistogram(LATENCY_BUCKETS_MS);
  /** Whether calls of this method are streams (any streaming shape), measured apart from requests in the pool. */
  readonly streaming: boolean;

  constructor(
    readonly path: string,
    readonly type: GrpcMethodType,
  ) {
    ({ service: this.service, method: this.method } = splitMethodPath(path));
    this.streaming = type !== 'unary';
  }

  /** Records one finished call; `fault`: it failed by the server's fault. */
  finish(code: number, ms: number, fault: boolean): void {
    this.inFlight--;
    this.calls++;
    if (code >= 0 && code < STATUS_CODE_COUNT) this.codes[code]++;
    this.latency.observe(ms);
    if (fault) this.errors++;
  }

  toJSON(): GrpcMethodStatsSnapshot {
    const codes: Record<string, number> = {};
    for (let code = 0; code < STATUS_CODE_COUNT; code++) if (this.codes[code] > 0) codes[STATUS_NAMES[code]] = this.codes[code];
    const h = this.latency;
    return {
      path: this.path,
      service: this.service,
      method: this.method,
      type: this.type,
      calls: this.calls,
      inFlight: this.inFlight,
      errors: this.errors,
      codes,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      latency: { count: h.count, avgMs: h.mean(), p50Ms: h.quantile(0.5), p95Ms: h.quantile(0.95), p99Ms: h.quantile(0.99), maxMs: h.max },
    };
  }
}
