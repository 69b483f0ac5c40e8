/** Every piece of overload protection (issue 14), for tests and tools; the package exports the public part from `src/index.ts`. */
export { OverloadConfig, Gradient2Settings, VegasSettings, AimdSettings, AdmissionQueueSettings, PressureSettings, HysteresisSettings, OverloadActions, ShedSettings, LIMITER_KINDS, QUEUE_ORDERS, SHED_HTTP_STATUSES, SHED_GRPC_STATUSES, type LimiterKind, type QueueOrder, type ShedGrpcStatus } from './overload-config';
export type { Limiter } from './limiter';
export { StaticLimiter } from './static-limiter';
export { AimdLimiter, type AimdLimiterOptions } from './aimd-limiter';
export { VegasLimiter, type VegasLimiterOptions } from './vegas-limiter';
export { Gradient2Limiter, type Gradient2LimiterOptions } from './gradient2-limiter';
export { SampleWindow } from './sample-window';
export { createLimiter } from './create-limiter';
export { SHED_REASONS, type ShedReason } from './shed-reason';
export { AdmissionQueue, type AdmissionQueueOptions, type Waiter } from './admission-queue';
export { HysteresisGate, type HysteresisOptions } from './hysteresis-gate';
export { PressureLevel, PRESSURE_LEVEL_NAMES } from './pressure-level';
export { ProcessPressureSources, EVENT_LOOP_DELAY_RESOLUTION_MS, delayBeyondResolutionMs, type PressureSources } from './pressure-sources';
export { PressureMonitor, pressureConfigured, type PressureMonitorOptions, type PressureSnapshot } from './pressure-monitor';
export { LoopTurn, type TurnScheduler } from './loop-turn';
export { criticalPathMatcher, type WorkPriority } from './work-priority';
export { AdmissionController, type AdmissionStrategy, type AdmissionOutcome, type AdmissionControllerOptions, type ShedCounts } from './admission-controller';
