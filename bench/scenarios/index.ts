import type { Scenario } from '../lib/scenario';
import { clusterScenario } from './cluster';
import { grpcUnary } from './grpc-unary';
import { httpKeepAlive } from './http-keepalive';
import { httpNewConnection } from './http-new-connection';
import { httpsKeepAlive } from './https-keepalive';
import { http2KeepAlive } from './http2-keepalive';
import { overload } from './overload';
import { poolBookkeeping } from './pool-bookkeeping';
import { sampleProcess } from './sample-process';
import { shutdownIdle } from './shutdown-idle';
import { shutdownInflight } from './shutdown-inflight';
import { wsBroadcast } from './ws-broadcast';
import { wsEcho } from './ws-echo';
import { wsIdleMemory } from './ws-idle-memory';

/** Every scenario, in the order `npm run bench` runs them. */
export const SCENARIOS: readonly Scenario[] = [httpKeepAlive, httpNewConnection, httpsKeepAlive, http2KeepAlive, grpcUnary, wsEcho, wsIdleMemory, wsBroadcast, shutdownIdle, shutdownInflight, poolBookkeeping, clusterScenario, overload, sampleProcess];
