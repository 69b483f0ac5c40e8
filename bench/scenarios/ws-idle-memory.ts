import { runCli } from '../lib/cli';
import { alternate, row, type Scenario } from '../lib/scenario';
import { WS_CLIENTS, ws10kRun, type Ws10kRun } from './ws-10k';

/**
 * 10,000 idle WebSocket clients with a heartbeat every second: server RSS per connection under
 * unipool minus the same on bare `ws` running the heartbeat recipe of its README.
 */
export const wsIdleMemory: Scenario = {
  name: 'ws-idle-memory',
  title: `WebSocket ${WS_CLIENTS.toLocaleString('en-US')} idle clients, heartbeat on: server memory per connection`,
  run: async (options) => {
    const bare: Ws10kRun[] = [];
    const pooled: Ws10kRun[] = [];
    const diffs: number[] = [];
    await alternate(
      options.pairs,
      async () => {
        const r = await ws10kRun('bare', { memory: true });
        bare.push(r);
        return r.rssPerConnection as number;
      },
      async () => {
        const r = await ws10kRun('unipool', { memory: true });
        pooled.push(r);
        return r.rssPerConnection as number;
      },
      options.log,
    );
    for (let i = 0; i < bare.length; i++) diffs.push((pooled[i].rssPerConnection as number) - (bare[i].rssPerConnection as number));
    const heapDiffs = bare.map((b, i) => (pooled[i].heapPerConnection as number) - (b.heapPerConnection as number));
    return [
      row('ws-idle-memory', 'server RSS per connection, unipool - bare', 'bytes', diffs, { op: '<=', value: 512 }, {
        bareRssPerConnection: bare.map((r) => r.rssPerConnection),
        unipoolRssPerConnection: pooled.map((r) => r.rssPerConnection),
      }),
      row('ws-idle-memory', 'server JS heap per connection, unipool - bare', 'bytes', heapDiffs, undefined, {
        bareHeapPerConnection: bare.map((r) => r.heapPerConnection),
        unipoolHeapPerConnection: pooled.map((r) => r.heapPerConnection),
      }),
    ];
  },
};

if (require.main === module) void runCli([wsIdleMemory]);
