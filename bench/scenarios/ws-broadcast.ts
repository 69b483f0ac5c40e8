import { runCli } from '../lib/cli';
import { alternate, row, type Scenario } from '../lib/scenario';
import { WS_CLIENTS, ws10kRun, type Ws10kRun } from './ws-10k';

/** Broadcasts per run (the run's figure is their median) and their size. */
const BROADCASTS = 15;
const BYTES = 1024;

/**
 * A 1 KiB broadcast to 10,000 clients: time of `WebSocketServer.broadcast` against a bare loop
 * of `ws.send` over `wss.clients`, and the time until the last client has it.
 */
export const wsBroadcast: Scenario = {
  name: 'ws-broadcast',
  title: `WebSocket broadcast 1 KiB to ${WS_CLIENTS.toLocaleString('en-US')} clients`,
  run: async (options) => {
    const bare: Ws10kRun[] = [];
    const pooled: Ws10kRun[] = [];
    const { ratios } = await alternate(
      options.pairs,
      async () => {
        const r = await ws10kRun('bare', { broadcasts: BROADCASTS, bytes: BYTES });
        bare.push(r);
        return r.broadcastMs as number;
      },
      async () => {
        const r = await ws10kRun('unipool', { broadcasts: BROADCASTS, bytes: BYTES });
        pooled.push(r);
        return r.broadcastMs as number;
      },
      options.log,
    );
    const delivered = bare.map((b, i) => (pooled[i].deliveredMs as number) / (b.deliveredMs as number));
    return [
      row('ws-broadcast', 'broadcast call time ratio unipool/bare loop', 'x', ratios, { op: '<=', value: 1.05 }, {
        bareMs: bare.map((r) => r.broadcastMs),
        unipoolMs: pooled.map((r) => r.broadcastMs),
      }),
      row('ws-broadcast', 'time to last client ratio unipool/bare loop', 'x', delivered, undefined, {
        bareMs: bare.map((r) => r.deliveredMs),
        unipoolMs: pooled.map((r) => r.deliveredMs),
      }),
    ];
  },
};

if (require.main === module) void runCli([wsBroadcast]);
