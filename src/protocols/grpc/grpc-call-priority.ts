import type * as grpc from '@grpc/grpc-js';
import { criticalPathMatcher, type WorkPriority } from '../../overload/work-priority';
import { HEALTH_SERVICE_NAME } from './grpc-health-reporter';

/**
 * What `GrpcServer.priority(call)` sees of a call when it arrives, before its handler runs: the
 * method path and the request metadata (the message has not been read yet; a call shed for
 * overload never reads it).
 */
export interface GrpcCallHead {
  /** Full method path, e.g. `/demo.Echo/Echo`. */
  readonly path: string;
  /** Request metadata (headers: `authorization`, your own `x-priority`...). */
  readonly metadata: grpc.Metadata;
}

/** Method paths of the standard health service start with this. */
const HEALTH_PREFIX = `/${HEALTH_SERVICE_NAME}/`;

/**
 * The default priority of gRPC calls: critical when the method path is in
 * `overload.criticalPaths`, or is a method of `grpc.health.v1.Health` (a load balancer or
 * Kubernetes probe that got RESOURCE_EXHAUSTED would take the replica out of rotation, moving
 * its load onto the others); normal otherwise. The path matcher is rebuilt only when the list
 * changes (a live update), so a call costs a set lookup.
 */
export class GrpcCallPriority {
  private paths: readonly string[] | undefined;
  private matches: (path: string) => boolean = () => false;

  /** The priority of a call of `path` under the current `criticalPaths`. */
  of(path: string, criticalPaths: readonly string[]): WorkPriority {
    if (criticalPaths !== this.paths) {
      this.paths = criticalPaths;
      this.matches = criticalPathMatcher(criticalPaths);
    }
    return path.startsWith(HEALTH_PREFIX) || this.matches(path) ? 'critical' : 'normal';
  }
}
