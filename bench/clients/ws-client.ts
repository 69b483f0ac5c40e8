/**
 * WebSocket clients in their own process (so 10,000 client sockets do not count against the
 * server's open-file limit). Messages:
 * - `open` {group, url, count}: opens `count` clients in batches, replies `opened`;
 * - `echo` {group, seconds}: every client of the group sends a message, and another as soon
 *   as its echo arrives; replies `result` with echoes per second;
 * - `expect` {group}: replies `received` (with the wall-clock time) once every client of the
 *   group has received one more message;
 * - `close` {group}: closes the group's clients.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { onParentMessage, toParent } from '../lib/worker';

const BATCH = 250;
const MESSAGE = Buffer.alloc(64, 0x62);

interface Group {
  sockets: WebSocket[];
  onMessage: ((ws: WebSocket) => void) | undefined;
}

const groups = new Map<string, Group>();

function openOne(url: string, group: Group): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('message', () => group.onMessage?.(ws));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

onParentMessage(async (msg) => {
  const name = msg.group as string;
  if (msg.type === 'open') {
    const group: Group = groups.get(name) ?? { sockets: [], onMessage: undefined };
    groups.set(name, group);
    const count = msg.count as number;
    for (let i = 0; i < count; i += BATCH) {
      group.sockets.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, () => openOne(msg.url as string, group)))));
    }
    await toParent({ type: 'opened', open: group.sockets.filter((s) => s.readyState === WebSocket.OPEN).length });
    return;
  }
  const group = groups.get(name);
  if (!group) throw new Error(`no client group ${name}`);
  if (msg.type === 'echo') {
    let echoes = 0;
    let running = true;
    const t0 = performance.now();
    group.onMessage = (ws) => {
      echoes++;
      if (running) ws.send(MESSAGE);
    };
    for (const ws of group.sockets) ws.send(MESSAGE);
    await new Promise((r) => setTimeout(r, (msg.seconds as number) * 1000));
    running = false;
    const seconds = (performance.now() - t0) / 1000;
    const counted = echoes;
    // Let the last echoes land before the next run reuses the clients.
    await new Promise((r) => setTimeout(r, 100));
    group.onMessage = undefined;
    await toParent({ type: 'result', rps: counted / seconds });
  } else if (msg.type === 'expect') {
    let waiting = group.sockets.length;
    const got = new Set<WebSocket>();
    await new Promise<void>((resolve) => {
      group.onMessage = (ws) => {
        if (got.has(ws)) return;
        got.add(ws);
        if (--waiting === 0) resolve();
      };
      void toParent({ type: 'expecting' });
    });
    group.onMessage = undefined;
    await toParent({ type: 'received', at: performance.timeOrigin + performance.now() });
  } else if (msg.type === 'close') {
    for (const ws of group.sockets) ws.terminate();
    groups.delete(name);
    await toParent({ type: 'closed' });
  }
}, () => {
  for (const g of groups.values()) for (const ws of g.sockets) ws.terminate();
});
void toParent({ type: 'ready' });
