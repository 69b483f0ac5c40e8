import { compareThroughput, SIDE_B_IMPL } from '../lib/ab';
import { withChildren, type Child, type Message } from '../lib/child';
import { runCli } from '../lib/cli';
import { row, type Scenario } from '../lib/scenario';

/** Unary calls kept in flight on one channel. */
const INFLIGHT = 50;

/**
 * gRPC unary `demo.Echo/Echo`, 50 calls in flight on one channel: calls/s of the same handler
 * on bare `@grpc/grpc-js` (A) and in a `GrpcServer` (B), from a grpc-js client process.
 */
export const grpcUnary: Scenario = {
  name: 'grpc-unary',
  title: `gRPC unary echo, ${INFLIGHT} in flight`,
  run: (options) =>
    withChildren(async (start) => {
      const load = start('clients/grpc-client', {}, [], 'load');
      const a = start('servers/grpc-target', { impl: 'bare' }, [], 'server');
      const b = start('servers/grpc-target', { impl: SIDE_B_IMPL }, [], 'server');
      await load.next('ready');
      const ports = new Map<Child, number>();
      for (const side of [a, b]) ports.set(side, (await side.next<Message & { port: number }>('ready')).port);
      let failed = 0;
      const result = await compareThroughput(options, { a, b }, async (side, seconds) => {
        const r = await load.request<Message & { rps: number; failed: number }>({ type: 'run', port: ports.get(side), inflight: INFLIGHT, seconds }, 'result', seconds * 1000 + 30_000);
        failed += r.failed;
        return r.rps;
      });
      return [
        row('grpc-unary', 'calls/s ratio unipool/bare', 'x', result.ratios, { op: '>=', value: 0.97 }, { bareCallsPerSecond: result.a, unipoolCallsPerSecond: result.b, failed }),
        row('grpc-unary', 'server CPU per call unipool/bare', 'x', result.cpuRatios, undefined, { bareCpuUsPerCall: result.cpuA, unipoolCpuUsPerCall: result.cpuB }),
      ];
    }),
};

if (require.main === module) void runCli([grpcUnary]);
