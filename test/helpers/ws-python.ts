import { spawn, type ChildProcess } from 'node:child_process';
import { PYTHON } from './metrics-clients';

/**
 * A Python `websockets` (10.4) client: connects to argv[1] (TLS without verification when argv[2]
 * is `insecure`), then prints one line per step: `status N` if the upgrade was refused, else
 * `echo <reply>` to its "hi", and `close <code>` once the server has closed the connection.
 * It keeps the connection open until then (or until it is killed).
 */
const PY_WS_CLIENT = `
import asyncio, ssl, sys, websockets
async def main(url, insecure):
    ctx = None
    if url.startswith("wss:"):
        ctx = ssl.create_default_context()
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    try:
        ws = await websockets.connect(url, ssl=ctx, ping_interval=None)
    except websockets.exceptions.InvalidStatusCode as e:
        print("status", e.status_code, flush=True)
        return
    await ws.send("hi")
    print("echo", await ws.recv(), flush=True)
    await ws.wait_closed()
    print("close", ws.close_code, flush=True)
asyncio.run(main(sys.argv[1], len(sys.argv) > 2 and sys.argv[2] == "insecure"))
`;

/**
 * A scripted Python `websockets` (10.4) client: connects to argv[1] and prints `status N R`
 * (R: the `Retry-After` header, or `-`) if the upgrade was refused, else `open`; then runs one
 * command per stdin line: `send TEXT` (prints `sent TEXT` once written) or `recv` (prints
 * `recv TEXT`). Once the server has closed the connection, a command prints `close CODE REASON`
 * and the client exits.
 */
const PY_WS_SCRIPTED = `
import asyncio, sys, websockets
async def main(url):
    try:
        ws = await websockets.connect(url, ping_interval=None)
    except websockets.exceptions.InvalidStatusCode as e:
        print("status", e.status_code, e.headers.get("Retry-After", "-"), flush=True)
        return
    print("open", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd, _, arg = line.rstrip("\\n").partition(" ")
        try:
            if cmd == "send":
                await ws.send(arg)
                print("sent", arg, flush=True)
            elif cmd == "recv":
                print("recv", await ws.recv(), flush=True)
        except websockets.ConnectionClosed as e:
            print("close", e.rcvd.code if e.rcvd else "none", e.rcvd.reason if e.rcvd else "", flush=True)
            break
    await ws.close()
asyncio.run(main(sys.argv[1]))
`;

/** Clients not exited yet. */
const running = new Set<ChildProcess>();

/** A running Python WebSocket client and what it printed so far. */
export interface PythonWsClient {
  child: ChildProcess;
  /** Complete lines printed so far. */
  lines(): string[];
  /** Resolves with the first printed line matching `pattern`; rejects if the client exits first or after `timeoutMs`. */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves once the process has exited. */
  exited: Promise<number | null>;
}

/** A scripted client (`PY_WS_SCRIPTED`): `command` writes one line to its stdin. */
export interface ScriptedPythonWsClient extends PythonWsClient {
  command(line: string): void;
}

/** Starts a Python `websockets` client on `url` (see `PY_WS_CLIENT`); kill it with `stopPythonClients`. */
export function pythonWsClient(url: string, insecure = false): PythonWsClient {
  return spawnClient(PY_WS_CLIENT, [url, ...(insecure ? ['insecure'] : [])], false);
}

/** Starts a scripted Python `websockets` client on `url` (see `PY_WS_SCRIPTED`); kill it with `stopPythonClients`. */
export function scriptedPythonWsClient(url: string): ScriptedPythonWsClient {
  const client = spawnClient(PY_WS_SCRIPTED, [url], true);
  return { ...client, command: (line) => void client.child.stdin!.write(`${line}\n`) };
}

function spawnClient(script: string, args: string[], stdin: boolean): PythonWsClient {
  const child = spawn(PYTHON, ['-c', script, ...args], { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  // A client that exited before reading its command must not crash the test process (EPIPE).
  child.stdin?.on('error', () => undefined);
  let out = '';
  let err = '';
  let exitedFlag = false;
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  // 'close' comes after the exit and after stdout and stderr have been read to their end.
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      exitedFlag = true;
      resolve(code);
    }),
  );
  // Complete lines only: a chunk may end in the middle of one.
  const lines = (): string[] => out.split('\n').slice(0, -1);
  running.add(child);
  void exited.then(() => running.delete(child));
  return {
    child,
    lines,
    exited,
    async line(pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines().find((l) => pattern.test(l));
        if (found !== undefined) return found;
        if (exitedFlag) throw new Error(`python client exited without printing ${pattern}: ${out} ${err}`);
        if (Date.now() > deadline) throw new Error(`python client did not print ${pattern} within ${timeoutMs} ms: ${out} ${err}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/** Kills every Python client still running and waits for their exit (call it in `afterEach`). */
export async function stopPythonClients(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const child of running) {
    waits.push(new Promise((r) => child.once('close', r)));
    child.kill('SIGKILL');
  }
  running.clear();
  await Promise.all(waits);
}
