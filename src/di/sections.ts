import type { ShutdownConfig } from '../config/pool-config';
import type { AdminConfig } from '../observability/admin-config';
import type { MetricsConfig } from '../observability/otel/otlp-config';
import type { GrpcPoolConfig } from '../protocols/grpc/grpc-config';
import type { HttpPoolConfig } from '../protocols/http/http-config';
import type { HttpsPoolConfig } from '../protocols/https/https-config';
import type { WebSocketPoolConfig } from '../protocols/ws/ws-config';

/**
 * The config sections `@PoolConfig` and `@UsePool(Pool, 'section')` accept, with the type each
 * is validated as. Declare your own sections (those you pass in `createApp({ sections })`) by
 * module augmentation, once in your program:
 *
 * ```ts
 * declare module 'unipool' {
 *   interface UnipoolSections { internal: HttpPoolConfig }
 * }
 * ```
 */
export interface UnipoolSections {
  http: HttpPoolConfig;
  https: HttpsPoolConfig;
  grpc: GrpcPoolConfig;
  ws: WebSocketPoolConfig;
  shutdown: ShutdownConfig;
  admin: AdminConfig;
  metrics: MetricsConfig;
}

/** The name of a known config section (built in, or declared in `UnipoolSections`). */
export type SectionName = keyof UnipoolSections & string;
