import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsArray, IsBoolean, IsIn, IsInt, IsNumber, IsObject, IsOptional, Matches, Max, Min, ValidateNested } from 'class-validator';
import type { ConfigProblem } from '../errors';

/** Concurrency limiters the `overload.limiter` key names. `none` keeps today's behaviour. */
export const LIMITER_KINDS = ['none', 'static', 'gradient2', 'vegas', 'aimd'] as const;
/** Name of a concurrency limiter. */
export type LimiterKind = (typeof LIMITER_KINDS)[number];
/** Orders in which queued work is let in. */
export const QUEUE_ORDERS = ['fifo', 'lifo'] as const;
/** Order in which queued work is let in. */
export type QueueOrder = (typeof QUEUE_ORDERS)[number];
/** HTTP statuses shed work may be answered with. */
export const SHED_HTTP_STATUSES = [503, 429] as const;
/** gRPC statuses shed calls may be answered with (names of `@grpc/grpc-js`'s `status`). */
export const SHED_GRPC_STATUSES = ['RESOURCE_EXHAUSTED', 'UNAVAILABLE'] as const;
/** gRPC status name for shed calls. */
export type ShedGrpcStatus = (typeof SHED_GRPC_STATUSES)[number];

const oneOf = (values: readonly (string | number)[]) => ({ message: `must be one of ${values.join(', ')}` });

/** Knobs of `gradient2` (Netflix concurrency-limits `Gradient2Limit`, same defaults). */
export class Gradient2Settings {
  /** Share (0..1] of the new estimate taken into the limit at each window; lower reacts slower. */
  @IsNumber() @Min(0.01) @Max(1) smoothing = 0.2;
  /** How much the current RTT may exceed the long-term RTT (1.5 = 50 % more) before the limit falls. */
  @IsNumber() @Min(1) @Max(100) rttTolerance = 1.5;
  /**
   * Samples (windows) the long-term RTT is averaged over (exponential average). 6000 windows of
   * 100 ms: the 10 minutes of Netflix's 600 windows of 1 s. Shorter, the long-term RTT catches up
   * with a sustained overload within a minute and the limit grows back.
   */
  @IsInt() @Min(1) @Max(100_000) longWindow = 6000;
  /**
   * Units of work the limit may grow by per window while latency stays at the baseline; under
   * load the limit settles near `queueSize / (1 - 0.5)`. 2, not Netflix's 4: for a CPU-bound
   * handler a unit is a whole handler time of queueing in every event-loop turn, and 4 settles
   * at 8 units per turn (a 2 ms handler at 4x: p99 42-49 ms, against 34-38 ms with 2, same goodput).
   */
  @IsInt() @Min(0) @Max(10_000) queueSize = 2;
}

/** Knobs of `vegas` (Netflix `VegasLimit`, same defaults). */
export class VegasSettings {
  /** Share (0..1] of the new estimate taken into the limit at each window. */
  @IsNumber() @Min(0.01) @Max(1) smoothing = 1;
  /** A new no-load RTT is probed every `probeMultiplier x limit` samples (with jitter). */
  @IsInt() @Min(1) @Max(100_000) probeMultiplier = 30;
  /** Queue estimate under which the limit grows; default `3 x log10(limit)`. */
  @IsOptional() @IsInt() @Min(1) alpha?: number;
  /** Queue estimate over which the limit falls; default `6 x log10(limit)`. */
  @IsOptional() @IsInt() @Min(1) beta?: number;
}

/** Knobs of `aimd` (Netflix `AIMDLimit`, same defaults). */
export class AimdSettings {
  /** Factor the limit is multiplied by on a drop (a failed unit or one over `timeout`). */
  @IsNumber() @Min(0.5) @Max(1) backoffRatio = 0.9;
  /** A unit of work that took longer than this (ms) counts as a drop. */
  @IsInt() @Min(1) @Max(3_600_000) timeout = 5000;
}

/** `overload.queue`: work over the limit may wait briefly instead of being refused at once. */
export class AdmissionQueueSettings {
  /** Units of work that may wait; 0: none, work over the limit is shed at once. */
  @IsInt() @Min(0) @Max(1_000_000) size = 0;
  /** Longest wait (ms); work still queued then is shed (`queue_timeout`). */
  @IsInt() @Min(0) @Max(600_000) timeout = 100;
  /** `fifo`: oldest first. `lifo`: newest first (fresh work is still worth doing; a full queue sheds its oldest). */
  @IsIn(QUEUE_ORDERS, oneOf(QUEUE_ORDERS)) order: QueueOrder = 'fifo';
}

/** How a pressure signal leaves its raised state, so a value hovering at a threshold does not flap. */
export class HysteresisSettings {
  /** A level is left only once pressure is under `start x exitRatio`... */
  @IsNumber() @Min(0.1) @Max(0.99) exitRatio = 0.8;
  /** ...and has stayed there for this long (ms). */
  @IsInt() @Min(0) @Max(600_000) holdTime = 2000;
}

/** `overload.pressure`: process signals; 0 turns a signal off. Pressure is the highest `value / threshold`. */
export class PressureSettings {
  /** Event-loop delay (ms, p99 over the sample interval, from `perf_hooks.monitorEventLoopDelay`). */
  @IsNumber() @Min(0) @Max(60_000) maxEventLoopDelay = 0;
  /** Event-loop utilisation (0..1 over the sample interval, `performance.eventLoopUtilization`). */
  @IsNumber() @Min(0) @Max(1) maxEventLoopUtilization = 0;
  /** V8 heap used (bytes, `process.memoryUsage().heapUsed`). */
  @IsInt() @Min(0) maxHeapUsedBytes = 0;
  /** Resident set size (bytes, `process.memoryUsage().rss`). */
  @IsInt() @Min(0) maxRssBytes = 0;
  /** How often (ms) the signals are sampled. */
  @IsInt() @Min(10) @Max(60_000) sampleInterval = 500;
  /** How a raised level is left. */
  @IsObject() @ValidateNested() @Type(() => HysteresisSettings) hysteresis: HysteresisSettings = new HysteresisSettings();
}

/** `overload.actions`: the pressure (`value / threshold`, 1 = at the threshold) at which each graded action starts; 0 turns it off. */
export class OverloadActions {
  /** Keep-alive connections are closed after their current response. */
  @IsNumber() @Min(0) @Max(10) closeKeepAlive = 0.9;
  /** New connections are refused. */
  @IsNumber() @Min(0) @Max(10) refuseConnections = 0.95;
  /** New work that is not critical is shed (`pressure`). */
  @IsNumber() @Min(0) @Max(10) shedWork = 1;
}

/** `overload.shed`: how shed work is answered in each protocol. */
export class ShedSettings {
  /** HTTP/HTTPS status of a shed request. */
  @IsIn(SHED_HTTP_STATUSES, oneOf(SHED_HTTP_STATUSES)) httpStatus: 503 | 429 = 503;
  /** `Retry-After` (seconds) sent with it, and a shed gRPC call's `grpc-retry-pushback-ms` (x 1000); 0 sends none. */
  @IsInt() @Min(0) @Max(86_400) retryAfter = 1;
  /** gRPC status of a shed call, sent before its handler runs. */
  @IsIn(SHED_GRPC_STATUSES, oneOf(SHED_GRPC_STATUSES)) grpcStatus: ShedGrpcStatus = 'RESOURCE_EXHAUSTED';
}

/**
 * The per-pool `overload` block: adaptive admission of units of work (HTTP requests, gRPC calls,
 * WebSocket message handlers), process pressure and graded actions. A pool key: every server on
 * the pool shares it, and a reload or `updateConfig` changes it live.
 */
export class OverloadConfig {
  /** Concurrency limiter; `none` admits everything (today's behaviour). */
  @IsIn(LIMITER_KINDS, oneOf(LIMITER_KINDS)) limiter: LimiterKind = 'none';
  /** `static`: units of work admitted at once. */
  @IsInt() @Min(1) @Max(1_000_000) maxConcurrency = 100;
  /** Adaptive limiters: limit before the first sample. */
  @IsInt() @Min(1) @Max(1_000_000) initialLimit = 20;
  /** Adaptive limiters: the limit never falls below this. */
  @IsInt() @Min(1) @Max(1_000_000) minLimit = 1;
  /** Adaptive limiters: the limit never rises above this; critical work is bounded by it alone. */
  @IsInt() @Min(1) @Max(1_000_000) maxLimit = 200;
  /**
   * Adaptive limiters: samples are averaged over a window of this many ms (Netflix
   * `WindowedLimit`), one limit update per window. 100 ms as Envoy's adaptive concurrency
   * (`concurrency_update_interval`), not Netflix's 1 s: with Gradient2's bounded step (at most
   * x0.9 per window at the default smoothing) 1 s windows take ten seconds to halve the limit,
   * while a 4x overload grows the latency within one.
   */
  @IsInt() @Min(10) @Max(600_000) sampleWindow = 100;
  /** Adaptive limiters: a window with fewer samples than this is not passed to the limiter. */
  @IsInt() @Min(1) @Max(1_000_000) minSamples = 10;
  /** Knobs of `gradient2`. */
  @IsObject() @ValidateNested() @Type(() => Gradient2Settings) gradient2: Gradient2Settings = new Gradient2Settings();
  /** Knobs of `vegas`. */
  @IsObject() @ValidateNested() @Type(() => VegasSettings) vegas: VegasSettings = new VegasSettings();
  /** Knobs of `aimd`. */
  @IsObject() @ValidateNested() @Type(() => AimdSettings) aimd: AimdSettings = new AimdSettings();
  /** Waiting room for work over the limit. */
  @IsObject() @ValidateNested() @Type(() => AdmissionQueueSettings) queue: AdmissionQueueSettings = new AdmissionQueueSettings();
  /** Process pressure signals. */
  @IsObject() @ValidateNested() @Type(() => PressureSettings) pressure: PressureSettings = new PressureSettings();
  /** Graded actions as pressure rises. */
  @IsObject() @ValidateNested() @Type(() => OverloadActions) actions: OverloadActions = new OverloadActions();
  /** Request paths (exact, e.g. `/healthz`) whose work is critical: never shed for pressure, never limited below `maxLimit`. */
  @IsArray() @Matches(/^\/\S*$/, { each: true, message: 'must be a list of paths, each starting with /' }) criticalPaths: string[] = [];
  /** How shed work is answered. */
  @IsObject() @ValidateNested() @Type(() => ShedSettings) shed: ShedSettings = new ShedSettings();
  /**
   * WebSocket (`ws.overload.closeOnShed`): a message shed on an open connection closes it with
   * 1013 (Try Again Later); otherwise the message's handler is skipped and counted. Other
   * protocols ignore it.
   */
  @IsBoolean() closeOnShed = false;

  /** Rules across keys; every broken one is listed. Paths are relative to the block. */
  crossCheck(): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const isInt = (v: unknown): v is number => Number.isInteger(v);
    const { minLimit, initialLimit, maxLimit } = this;
    if (isInt(initialLimit) && isInt(minLimit) && initialLimit < minLimit) problems.push(cross('initialLimit', `must not be less than minLimit (${minLimit})`));
    if (isInt(initialLimit) && isInt(maxLimit) && initialLimit > maxLimit) problems.push(cross('initialLimit', `must not be greater than maxLimit (${maxLimit})`));
    if (isInt(minLimit) && isInt(maxLimit) && minLimit > maxLimit) problems.push(cross('minLimit', `must not be greater than maxLimit (${maxLimit})`));
    const queue = this.queue as Partial<AdmissionQueueSettings> | undefined;
    if (queue && isInt(queue.size) && queue.size > 0 && queue.timeout === 0) problems.push(cross('queue.timeout', 'must be at least 1 ms when queue.size is over 0'));
    const actions = this.actions as Partial<OverloadActions> | undefined;
    if (actions) {
      const graded: Array<keyof OverloadActions> = ['closeKeepAlive', 'refuseConnections', 'shedWork'];
      const on = graded.filter((k) => typeof actions[k] === 'number' && actions[k] > 0);
      for (let i = 0; i + 1 < on.length; i++) {
        const [low, high] = [on[i], on[i + 1]];
        if (actions[low]! > actions[high]!) problems.push(cross(`actions.${low}`, `must not be greater than ${high} (${actions[high]})`));
      }
    }
    const aimd = this.aimd as Partial<AimdSettings> | undefined;
    if (aimd && aimd.backoffRatio === 1) problems.push(cross('aimd.backoffRatio', 'must be less than 1'));
    return problems;
  }
}

function cross(path: string, message: string): ConfigProblem {
  return { path, rule: 'crossField', message };
}
