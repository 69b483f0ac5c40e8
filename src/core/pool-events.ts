import { TypedEmitter } from './typed-emitter';
import type { ConnectionInfo, RejectReason, CloseReason, DrainResult, ConfigUpdateResult } from './pool-types';
import type { HealthReport } from './pool-health';

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
}

/** The typed emitter of a pool. */
export class PoolEventEmitter extends TypedEmitter<PoolEventMap> {}
