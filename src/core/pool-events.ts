import { TypedEmitter } from './typed-emitter';
import type { ConnectionInfo, RejectReason, CloseReason, DrainResult, ConfigUpdateResult } from './pool-types';
import type { HealthReport } from './pool-health';
import type { OverloadState, ShedReason, WorkPriority } from '../overload/overload-state';

/** Names of the events a connection pool emits. */
export enum ConnectionPoolEvent {
  ConnectionAdded = 'connectionAdded',
  ConnectionRemoved = 'connectionRemoved',
  ConnectionTimeout = 'connectionTimeout',
  ConnectionError = 'connectionError',
  ConnectionRejected = 'connectionRejected',
  LimitReached = 'limitReached',
  HealthChanged = 'healthChanged',
  ConfigUpdated = 'configUpdated',
  DrainStarted = 'drainStarted',
  DrainFinished = 'drainFinished',
  /** The concurrency limit of units of work changed (an adaptive limiter moved it, or a reload). */
  LimitChanged = 'limitChanged',
  /** The overload level (graded actions) changed. */
  PressureChanged = 'pressureChanged',
  /** A unit of work was shed (refused or dropped from the queue) in the protocol's terms. */
  WorkShed = 'workShed',
}

/** Payload of each pool event. */
export interface PoolEventMap {
  [ConnectionPoolEvent.ConnectionAdded]: { connection: ConnectionInfo; active: number };
  [ConnectionPoolEvent.ConnectionRemoved]: { connection: ConnectionInfo; reason: CloseReason; active: number };
  [ConnectionPoolEvent.ConnectionTimeout]: { connection: ConnectionInfo; kind: 'connection' | 'idle' | string };
  [ConnectionPoolEvent.ConnectionError]: { connection?: ConnectionInfo; type: string; error?: Error };
  [ConnectionPoolEvent.ConnectionRejected]: { reason: RejectReason; remoteAddress?: string; active: number };
  [ConnectionPoolEvent.LimitReached]: { active: number; maxConnections: number };
  [ConnectionPoolEvent.HealthChanged]: { previous: HealthReport; current: HealthReport };
  [ConnectionPoolEvent.ConfigUpdated]: ConfigUpdateResult;
  [ConnectionPoolEvent.DrainStarted]: { active: number; deadlineMs: number | undefined };
  [ConnectionPoolEvent.DrainFinished]: DrainResult;
  [ConnectionPoolEvent.LimitChanged]: { limit: number; previous: number };
  [ConnectionPoolEvent.PressureChanged]: { state: OverloadState; previous: OverloadState; pressure: number; eventLoopDelayMs: number };
  [ConnectionPoolEvent.WorkShed]: { reason: ShedReason; priority: WorkPriority };
}

/** The typed emitter of a pool. */
export class PoolEventEmitter extends TypedEmitter<PoolEventMap> {}
