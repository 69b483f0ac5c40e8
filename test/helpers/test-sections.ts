import type { ServerPoolSettings } from '../../src/config/pool-config';
import type { GrpcPoolConfig, HttpPoolConfig, HttpsPoolConfig, WebSocketPoolConfig } from '../../src';

// The sections the tests give `createApp({ sections })`, declared for `@PoolConfig` and
// `@UsePool(Pool, 'section')` the way a user declares theirs (issue 12, types that guide).
declare module '../../src' {
  interface UnipoolSections {
    fake: ServerPoolSettings;
    fake2: ServerPoolSettings;
    internal: HttpPoolConfig;
    api2: HttpPoolConfig;
    api3: HttpPoolConfig;
    extra: HttpPoolConfig;
    partner: HttpsPoolConfig;
    ws2: WebSocketPoolConfig;
    grpc2: GrpcPoolConfig;
  }
}
