import type * as grpc from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { PoolHealthStatus, SHEDDING_REASON_PREFIX, type HealthReport } from '../../core/pool-health';

/** Fully qualified name of the standard health service. */
export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

/**
 * Whether `report` is OVERLOADED only because the pool sheds work (overload protection doing its
 * job), with no other finding at that level (error rate, latency, utilisation).
 */
export function overloadedOnlyByShedding(report: Pick<HealthReport, 'status' | 'reason'>): boolean {
  return report.status === PoolHealthStatus.Overloaded && report.reason.split('; ').every((r) => r.startsWith(SHEDDING_REASON_PREFIX));
}

/**
 * Serves `grpc.health.v1.Health` (Check, Watch, List) with `grpc-health-check`. The overall
 * status (`""`) and that of every registered service is SERVING while the application is ready
 * and the pool is neither OVERLOADED nor UNAVAILABLE, NOT_SERVING otherwise; Watch subscribers
 * hear of a change at once. A pool OVERLOADED only because it sheds work (`overload`) stays
 * SERVING, as readiness does: load balancers and probes read NOT_SERVING as "take this replica
 * out", which would move its load onto the others and overload them in turn; the replica is
 * protecting itself and still answers (its health calls are critical, never shed).
 */
export class GrpcHealthReporter {
  private readonly implementation = new HealthImplementation({ '': 'NOT_SERVING' });
  private readonly names = new Set<string>(['']);
  private readonly watches = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  private ready = false;
  private poolStatus: PoolHealthStatus = PoolHealthStatus.Unavailable;
  private current: ServingStatus = 'NOT_SERVING';

  /** The status reported for `""` and every service now. */
  get status(): ServingStatus {
    return this.current;
  }

  /** Watch calls open now. */
  get watchers(): number {
    return this.watches.size;
  }

  /** Registers the health service on `server`, keeping hold of Watch calls so `endWatches` can end them. */
  addToServer(server: grpc.Server): void {
    const watches = this.watches;
    this.implementation.addToServer({
      addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
        const watch = implementation.watch as grpc.handleServerStreamingCall<unknown, unknown>;
        server.addService(service, {
          ...implementation,
          watch(call: grpc.ServerWritableStream<unknown, unknown>) {
            watches.add(call);
            const forget = (): void => void watches.delete(call);
            call.once('cancelled', forget);
            call.once('finish', forget);
            watch(call);
          },
        });
      },
    });
  }

  /** Reports `name` too (a service the application registered). */
  addService(name: string): void {
    if (name === HEALTH_SERVICE_NAME || this.names.has(name)) return;
    this.names.add(name);
    this.implementation.setStatus(name, this.current);
  }

  /** Application readiness changed. */
  setReady(ready: boolean): void {
    this.ready = ready;
    this.update();
  }

  /** Pool health changed. */
  setPoolStatus(status: PoolHealthStatus): void {
    this.poolStatus = status;
    this.update();
  }

  /** Pool health changed: as `setPoolStatus`, but OVERLOADED only by shedding counts as HEALTHY. */
  setPoolHealth(report: Pick<HealthReport, 'status' | 'reason'>): void {
    this.setPoolStatus(overloadedOnlyByShedding(report) ? PoolHealthStatus.Healthy : report.status);
  }

  /**
   * Ends every Watch call (status OK after the messages already queued, NOT_SERVING among
   * them): a subscriber would otherwise hold a draining connection open until the deadline.
   */
  endWatches(): void {
    for (const call of [...this.watches]) call.end();
    this.watches.clear();
  }

  private update(): void {
    const serving = this.ready && this.poolStatus !== PoolHealthStatus.Overloaded && this.poolStatus !== PoolHealthStatus.Unavailable;
    const next: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
    if (next === this.current) return;
    this.current = next;
    for (const name of this.names) this.implementation.setStatus(name, next);
  }
}
